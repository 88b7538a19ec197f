/*
 * CONV_2D 1x1 without pads, any stride: the hot path of inverted-residual blocks. Every output
 * pixel is its input pixel times the [out_c][in_c] filter matrix. Each input pixel is first
 * widened to int16 (input offset added) in the scratch, then multiplied by every filter row (DSP
 * path: two rows at a time with __smlad; portable path: four rows at a time, portable_column.c).
 * Because a pixel is read whole before its outputs are written, in raster order, the output may
 * overlap the input (see mcu_rt.h: in place).
 */
#include "mcu_rt_internal.h"

size_t mcu_conv2d_1x1_s8_scratch_size(int32_t in_c)
{
    return in_c > 0 ? 2u * mcu_round4((size_t)in_c) : 0;
}

mcu_status_t mcu_conv2d_1x1_s8(const mcu_src_t *in, const int8_t *filter, const int32_t *bias,
                               const mcu_window_t *win, const mcu_conv_quant_t *q, const mcu_dst_t *out,
                               void *scratch)
{
    const int32_t ci = in != NULL ? in->c : 0;
    const int32_t co = out != NULL ? out->c : 0;
    int32_t oy, ox;
    if (!mcu_src_ok(in) || !mcu_dst_ok(out) || !mcu_window_ok(win) || filter == NULL || q == NULL ||
        q->multiplier == NULL || q->shift == NULL) {
        return MCU_RT_ERR_ARG;
    }
    if (win->kernel_h != 1 || win->kernel_w != 1 || win->pad_top != 0 || win->pad_bottom != 0 ||
        win->pad_left != 0 || win->pad_right != 0 || !mcu_window_fits(win, in->h, in->w, out->h, out->w)) {
        return MCU_RT_ERR_SHAPE;
    }
    if (!mcu_scratch_ok(scratch, mcu_conv2d_1x1_s8_scratch_size(ci))) {
        return MCU_RT_ERR_ARG;
    }
    for (oy = 0; oy < out->h; ++oy) {
        const int8_t *src_row = in->data + (ptrdiff_t)(oy * win->stride_h) * in->row_stride;
        int8_t *dst_row = out->data + (ptrdiff_t)oy * out->row_stride;
        for (ox = 0; ox < out->w; ++ox) {
            const int8_t *px = src_row + (ptrdiff_t)(ox * win->stride_w) * in->pix_stride;
            int8_t *dst = dst_row + (ptrdiff_t)ox * out->pix_stride;
#if defined(MCU_RT_USE_DSP)
            int16_t *col = (int16_t *)scratch;
            mcu_internal_col_fill(col, 0, ci, px, ci, q->input_offset);
            mcu_internal_col_outputs(col, ci, filter, bias, co, q, dst);
#else
            int16_t *col = (int16_t *)scratch;
            mcu_internal_col_widen(col, px, ci, q->input_offset);
            mcu_internal_col_dot_outputs(col, ci, filter, bias, co, q, dst);
#endif
        }
    }
    return MCU_RT_OK;
}
