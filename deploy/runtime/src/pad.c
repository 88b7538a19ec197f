/* PAD with a constant (the input zero point) around rows, columns and channels. */
#include "mcu_rt_internal.h"

mcu_status_t mcu_pad_s8(const mcu_src_t *in, int32_t pad_top, int32_t pad_left, int32_t pad_front, int8_t value,
                        const mcu_dst_t *out)
{
    int32_t y, x;
    if (!mcu_src_ok(in) || !mcu_dst_ok(out) || pad_top < 0 || pad_left < 0 || pad_front < 0) {
        return MCU_RT_ERR_ARG;
    }
    if (pad_top + in->h > out->h || pad_left + in->w > out->w || pad_front + in->c > out->c) {
        return MCU_RT_ERR_SHAPE;
    }
    for (y = 0; y < out->h; ++y) {
        int8_t *row = out->data + (ptrdiff_t)y * out->row_stride;
        const int32_t iy = y - pad_top;
        for (x = 0; x < out->w; ++x) {
            int8_t *px = row + (ptrdiff_t)x * out->pix_stride;
            const int32_t ix = x - pad_left;
            if (iy < 0 || iy >= in->h || ix < 0 || ix >= in->w) {
                memset(px, value, (size_t)out->c);
                continue;
            }
            memset(px, value, (size_t)pad_front);
            memcpy(px + pad_front, in->data + (ptrdiff_t)iy * in->row_stride + (ptrdiff_t)ix * in->pix_stride,
                   (size_t)in->c);
            memset(px + pad_front + in->c, value, (size_t)(out->c - pad_front - in->c));
        }
    }
    return MCU_RT_OK;
}
