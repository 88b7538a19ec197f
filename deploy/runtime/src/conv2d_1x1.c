/*
 * CONV_2D 1x1 without pads, any stride: the hot path of inverted-residual blocks. Every output
 * pixel is its input pixel times the [out_c][in_c] filter matrix. DSP path: pixels in pairs, both
 * widened once to int16 (input offset added, reordered for __smlad) into the scratch, then two
 * filter rows x two pixels per step (dsp_column.c); an odd count's last pixel alone through the
 * general conv's column rows when the layer takes the fast path. Portable path: each input pixel widened to
 * int16 (input offset added) in the scratch, then four filter rows at a time (portable_column.c).
 * Because a pixel is read whole before its outputs are written, in raster order, the output may
 * overlap the input (see mcu_rt.h: in place).
 */
#include "mcu_rt_internal.h"

size_t mcu_conv2d_1x1_s8_scratch_size(int32_t in_c)
{
    /* Two pixels widened to int16 (the DSP path); the portable path uses the first half. */
    return in_c > 0 ? 4u * mcu_round4((size_t)in_c) : 0;
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
#if defined(MCU_RT_USE_DSP)
    {
        /*
         * Pixels in raster-order pairs: both are widened into the scratch (4 * round4(in_c) bytes,
         * interleaved by mcu_internal_col_pw2_pack) before either's outputs are written, so the in-place
         * uses of mcu_rt.h hold (output pixel p ends before input pixel p + 1 starts). Widening once
         * per pair, not once per filter row, is what keeps the inner loop at 16 instructions per
         * 16 MACs plus the loop test.
         */
        const int32_t pixels = out->h * out->w;
        int16_t *buf = (int16_t *)scratch;
        const int fast = mcu_internal_pw2_fast_ok(ci, bias, co, q);
        int32_t p;
        (void)oy;
        (void)ox;
        for (p = 0; p < pixels; p += 2) {
            const int32_t ya = p / out->w, xa = p - ya * out->w;
            const int32_t pb = p + 1 < pixels ? p + 1 : p;
            const int32_t yb = pb / out->w, xb = pb - yb * out->w;
            const int8_t *src_a = in->data + (ptrdiff_t)(ya * win->stride_h) * in->row_stride +
                                  (ptrdiff_t)(xa * win->stride_w) * in->pix_stride;
            const int8_t *src_b = in->data + (ptrdiff_t)(yb * win->stride_h) * in->row_stride +
                                  (ptrdiff_t)(xb * win->stride_w) * in->pix_stride;
            int8_t *dst_a = out->data + (ptrdiff_t)ya * out->row_stride + (ptrdiff_t)xa * out->pix_stride;
            int8_t *dst_b = out->data + (ptrdiff_t)yb * out->row_stride + (ptrdiff_t)xb * out->pix_stride;
            if (fast && pb == p) {
                /* The last pixel of an odd count alone: one column (dsp_column.c's general-conv rows). */
                mcu_internal_col_pack(buf, src_a, ci, q->input_offset);
                mcu_internal_col_outputs_fast(buf, ci, filter, bias, co, q, dst_a);
                break;
            }
            mcu_internal_col_pw2_pack(buf, src_a, src_b, ci, q->input_offset);
            if (fast) {
                mcu_internal_col_pw2_outputs_fast(buf, ci, filter, bias, co, q, dst_a, pb != p ? dst_b : NULL);
            } else {
                mcu_internal_col_pw2_outputs(buf, ci, filter, bias, co, q, dst_a, pb != p ? dst_b : NULL);
            }
        }
    }
#else
    for (oy = 0; oy < out->h; ++oy) {
        const int8_t *src_row = in->data + (ptrdiff_t)(oy * win->stride_h) * in->row_stride;
        int8_t *dst_row = out->data + (ptrdiff_t)oy * out->row_stride;
        for (ox = 0; ox < out->w; ++ox) {
            const int8_t *px = src_row + (ptrdiff_t)(ox * win->stride_w) * in->pix_stride;
            int8_t *dst = dst_row + (ptrdiff_t)ox * out->pix_stride;
            int16_t *col = (int16_t *)scratch;
            mcu_internal_col_widen(col, px, ci, q->input_offset);
            mcu_internal_col_dot_outputs(col, ci, filter, bias, co, q, dst);
        }
    }
#endif
    return MCU_RT_OK;
}
