/*
 * AVERAGE_POOL_2D: raw int8 sum over the in-image taps (pads are not counted), rounded division
 * by the tap count as TFLite does it: (acc + n/2) / n for acc > 0, else (acc - n/2) / n, with C's
 * truncating division; then the activation clamp. Same scale and zero point in and out.
 */
#include "mcu_rt_internal.h"

mcu_status_t mcu_avg_pool2d_s8(const mcu_src_t *in, const mcu_window_t *win, int32_t act_min, int32_t act_max,
                               const mcu_dst_t *out)
{
    int32_t oy, ox, c, ky, kx;
    if (!mcu_src_ok(in) || !mcu_dst_ok(out) || !mcu_window_ok(win)) {
        return MCU_RT_ERR_ARG;
    }
    if (out->c != in->c || !mcu_window_fits(win, in->h, in->w, out->h, out->w)) {
        return MCU_RT_ERR_SHAPE;
    }
    for (oy = 0; oy < out->h; ++oy) {
        const int32_t y0 = oy * win->stride_h - win->pad_top;
        int32_t ky0, ky1;
        mcu_tap_range(y0, in->h, win->kernel_h, win->dilation_h, &ky0, &ky1);
        for (ox = 0; ox < out->w; ++ox) {
            const int32_t x0 = ox * win->stride_w - win->pad_left;
            int8_t *dst = out->data + (ptrdiff_t)oy * out->row_stride + (ptrdiff_t)ox * out->pix_stride;
            int32_t kx0, kx1, n;
            mcu_tap_range(x0, in->w, win->kernel_w, win->dilation_w, &kx0, &kx1);
            n = (ky1 - ky0) * (kx1 - kx0);
            for (c = 0; c < in->c; ++c) {
                int32_t acc = 0;
                for (ky = ky0; ky < ky1; ++ky) {
                    const int8_t *row = in->data + (ptrdiff_t)(y0 + ky * win->dilation_h) * in->row_stride + c;
                    for (kx = kx0; kx < kx1; ++kx) {
                        acc += row[(ptrdiff_t)(x0 + kx * win->dilation_w) * in->pix_stride];
                    }
                }
                /* A window entirely in the pads has no taps: the reference yields 0 there. */
                if (n > 0) {
                    acc = acc > 0 ? (acc + n / 2) / n : (acc - n / 2) / n;
                }
                dst[c] = mcu_clamp_s8(acc, act_min, act_max);
            }
        }
    }
    return MCU_RT_OK;
}
