/*
 * CONV_2D 1x1 without pads, any stride: the hot path of inverted-residual blocks. Every output
 * pixel is its input pixel times the [out_c][in_c] filter matrix. DSP path: pixels in fours, all
 * widened once to int16 (input offset added, reordered for __smlad) into the scratch, then one
 * filter row x four pixels per step (dsp_column.c); on the fast path a last block of one or two
 * pixels goes pixel by pixel, four filter rows x one column at a time, one of three repeats its
 * last pixel. Portable path: each input pixel widened to int16 (input offset added) in the
 * scratch, then four filter rows at a time (portable_column.c).
 * Because a pixel is read whole before its outputs are written, in raster order, the output may
 * overlap the input (see mcu_rt.h: in place).
 */
#include "mcu_rt_internal.h"

size_t mcu_conv2d_1x1_s8_scratch_size(int32_t in_c)
{
    /* Four pixels widened to int16 (the DSP path); the portable path uses the first quarter. */
    return in_c > 0 ? 8u * mcu_round4((size_t)in_c) : 0;
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
         * Pixels in raster-order blocks of four: all are widened into the scratch (8 * round4(in_c)
         * bytes, interleaved by mcu_internal_col_pw4_pack) before any of their outputs is written,
         * so the in-place uses of mcu_rt.h hold (output pixel p ends before input pixel p + 1
         * starts). Widening once per block, not once per filter row, and one filter row for four
         * pixels are what keep the inner loop at 13 instructions per 16 MACs plus the loop test.
         */
        const int32_t pixels = out->h * out->w, out_w = out->w, out_h = out->h, in_off = q->input_offset;
        const ptrdiff_t s_row = (ptrdiff_t)win->stride_h * in->row_stride;
        const ptrdiff_t s_pix = (ptrdiff_t)win->stride_w * in->pix_stride;
        const ptrdiff_t d_row = out->row_stride, d_pix = out->pix_stride;
        const int8_t *const in_data = in->data;
        int8_t *const out_data = out->data;
        const int8_t *s_at = in_data; /* input and output of pixel (oy, ox), the next one to read */
        int8_t *d_at = out_data;
        int16_t *buf = (int16_t *)scratch;
        const int fast = mcu_internal_pw4_fast_ok(ci, bias, co, q);
        int32_t p, i;
        oy = 0;
        ox = 0;
        for (p = 0; p < pixels; p += 4) {
            const int32_t left = pixels - p < 4 ? pixels - p : 4;
            const int8_t *src[4];
            int8_t *dst[4];
            i = 0;
            if (left == 4 && ox + 4 <= out_w) {
                /* Four pixels in one row (unrolled): the row change, if any, tested once after them. */
                src[0] = s_at;
                src[1] = s_at + s_pix;
                src[2] = src[1] + s_pix;
                src[3] = src[2] + s_pix;
                dst[0] = d_at;
                dst[1] = d_at + d_pix;
                dst[2] = dst[1] + d_pix;
                dst[3] = dst[2] + d_pix;
                i = 4;
                if ((ox += 4) < out_w) {
                    s_at = src[3] + s_pix;
                    d_at = dst[3] + d_pix;
                } else if (++oy < out_h) {
                    ox = 0;
                    s_at = in_data + (ptrdiff_t)oy * s_row;
                    d_at = out_data + (ptrdiff_t)oy * d_row;
                }
            }
            for (; i < left; ++i) {
                src[i] = s_at;
                dst[i] = d_at;
                if (++ox < out_w) {
                    s_at += s_pix;
                    d_at += d_pix;
                } else if (++oy < out_h) {
                    ox = 0;
                    s_at = in_data + (ptrdiff_t)oy * s_row;
                    d_at = out_data + (ptrdiff_t)oy * d_row;
                }
            }
            if (fast && left < 3) {
                /* One or two pixels: one column each (four filter rows at a time), in order. */
                for (i = 0; i < left; ++i) {
                    mcu_internal_col_pack(buf, src[i], ci, in_off);
                    mcu_internal_col1_outputs_fast(buf, ci, filter, bias, co, q, dst[i]);
                }
                break;
            }
            /* A short block repeats its last pixel: not stored, or (fast) stored twice, same values. */
            for (i = left; i < 4; ++i) {
                src[i] = src[left - 1];
                dst[i] = fast ? dst[left - 1] : NULL;
            }
            mcu_internal_col_pw4_pack(buf, src, ci, in_off, fast);
            if (fast) {
                mcu_internal_col_pw4_outputs_fast(buf, ci, filter, bias, co, q, dst);
            } else {
                mcu_internal_col_pw4_outputs(buf, ci, filter, bias, co, q, dst);
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
