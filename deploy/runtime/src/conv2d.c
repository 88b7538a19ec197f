/*
 * CONV_2D, general kernel: any kernel size, stride, dilation and pads (the stem, and any k x k conv
 * of a patch stage). Both paths build one output pixel's im2col column in the scratch (int16, input
 * offset added, zeros for out-of-image taps, which then contribute nothing) and dot it with every
 * filter row (DSP path: __smlad on the reordered column; portable path: portable_column.c).
 */
#include "mcu_rt_internal.h"

size_t mcu_conv2d_s8_scratch_size(const mcu_window_t *win, int32_t in_c)
{
    if (win == NULL || win->kernel_h <= 0 || win->kernel_w <= 0 || in_c <= 0) {
        return 0;
    }
    /* mcu_conv2d_s8 hands a 1x1 kernel without pads (and this scratch) to mcu_conv2d_1x1_s8. */
    if (win->kernel_h == 1 && win->kernel_w == 1 && win->pad_top == 0 && win->pad_bottom == 0 &&
        win->pad_left == 0 && win->pad_right == 0) {
        return mcu_conv2d_1x1_s8_scratch_size(in_c);
    }
    return 2u * mcu_round4((size_t)win->kernel_h * (size_t)win->kernel_w * (size_t)in_c);
}

static mcu_status_t conv_check(const mcu_src_t *in, const int8_t *filter, const mcu_window_t *win,
                               const mcu_conv_quant_t *q, const mcu_dst_t *out)
{
    if (!mcu_src_ok(in) || !mcu_dst_ok(out) || !mcu_window_ok(win) || filter == NULL || q == NULL ||
        q->multiplier == NULL || q->shift == NULL) {
        return MCU_RT_ERR_ARG;
    }
    if (!mcu_window_fits(win, in->h, in->w, out->h, out->w)) {
        return MCU_RT_ERR_SHAPE;
    }
    return MCU_RT_OK;
}

mcu_status_t mcu_conv2d_generic_s8(const mcu_src_t *in, const int8_t *filter, const int32_t *bias,
                                   const mcu_window_t *win, const mcu_conv_quant_t *q, const mcu_dst_t *out,
                                   void *scratch)
{
    int32_t ci, co, kh, kw, taps, oy, ox;
#if defined(MCU_RT_USE_DSP)
    int fast;
#endif
    mcu_status_t st = conv_check(in, filter, win, q, out);
    if (st != MCU_RT_OK) {
        return st;
    }
    ci = in->c;
    co = out->c;
    kh = win->kernel_h;
    kw = win->kernel_w;
    taps = kh * kw * ci;
    if (!mcu_scratch_ok(scratch, mcu_conv2d_s8_scratch_size(win, ci))) {
        return MCU_RT_ERR_ARG;
    }
#if defined(MCU_RT_USE_DSP)
    fast = mcu_internal_rqs_layer_ok(taps, bias, co, q);
#endif
    for (oy = 0; oy < out->h; ++oy) {
        const int32_t y0 = oy * win->stride_h - win->pad_top;
        int32_t ky0, ky1;
        mcu_tap_range(y0, in->h, kh, win->dilation_h, &ky0, &ky1);
        for (ox = 0; ox < out->w; ++ox) {
            const int32_t x0 = ox * win->stride_w - win->pad_left;
            int8_t *dst = out->data + (ptrdiff_t)oy * out->row_stride + (ptrdiff_t)ox * out->pix_stride;
            int32_t kx0, kx1;
            mcu_tap_range(x0, in->w, kw, win->dilation_w, &kx0, &kx1);
#if defined(MCU_RT_USE_DSP)
            {
                int16_t *col = (int16_t *)scratch;
                int32_t ky, kx;
                for (ky = 0; ky < kh; ++ky) {
                    const int32_t row_ok = ky >= ky0 && ky < ky1;
                    const int8_t *row = row_ok ? in->data + (ptrdiff_t)(y0 + ky * win->dilation_h) * in->row_stride
                                               : NULL;
                    for (kx = 0; kx < kw; ++kx) {
                        const int32_t valid = row_ok && kx >= kx0 && kx < kx1;
                        const int8_t *px = valid ? row + (ptrdiff_t)(x0 + kx * win->dilation_w) * in->pix_stride
                                                 : NULL;
                        mcu_internal_col_fill(col, (ky * kw + kx) * ci, taps, px, ci, q->input_offset);
                    }
                }
                if (fast) {
                    mcu_internal_col_outputs_fast(col, taps, filter, bias, co, q, dst);
                } else {
                    mcu_internal_col_outputs(col, taps, filter, bias, co, q, dst);
                }
            }
#else
            {
                /* The natural-order column: in-image taps widened (+ input offset), 0 elsewhere. */
                int16_t *col = (int16_t *)scratch;
                const int32_t dense = win->dilation_w == 1 && in->pix_stride == ci;
                int32_t ky, kx;
                for (ky = 0; ky < kh; ++ky) {
                    int16_t *col_row = col + ky * kw * ci;
                    if (ky < ky0 || ky >= ky1 || kx0 >= kx1) {
                        mcu_internal_col_zero(col_row, kw * ci);
                        continue;
                    }
                    {
                        const int8_t *row = in->data + (ptrdiff_t)(y0 + ky * win->dilation_h) * in->row_stride;
                        mcu_internal_col_zero(col_row, kx0 * ci);
                        if (dense) {
                            mcu_internal_col_widen(col_row + kx0 * ci, row + (ptrdiff_t)(x0 + kx0) * ci,
                                                   (kx1 - kx0) * ci, q->input_offset);
                        } else {
                            for (kx = kx0; kx < kx1; ++kx) {
                                mcu_internal_col_widen(col_row + kx * ci,
                                                       row + (ptrdiff_t)(x0 + kx * win->dilation_w) *
                                                                 in->pix_stride,
                                                       ci, q->input_offset);
                            }
                        }
                        mcu_internal_col_zero(col_row + kx1 * ci, (kw - kx1) * ci);
                    }
                }
                mcu_internal_col_dot_outputs(col, taps, filter, bias, co, q, dst);
            }
#endif
        }
    }
    return MCU_RT_OK;
}

mcu_status_t mcu_conv2d_s8(const mcu_src_t *in, const int8_t *filter, const int32_t *bias,
                           const mcu_window_t *win, const mcu_conv_quant_t *q, const mcu_dst_t *out,
                           void *scratch)
{
    if (win != NULL && win->kernel_h == 1 && win->kernel_w == 1 && win->pad_top == 0 && win->pad_bottom == 0 &&
        win->pad_left == 0 && win->pad_right == 0) {
        return mcu_conv2d_1x1_s8(in, filter, bias, win, q, out, scratch);
    }
    return mcu_conv2d_generic_s8(in, filter, bias, win, q, out, scratch);
}
