/* CONCATENATION along rows, columns or channels, and the strided copy it is made of. */
#include "mcu_rt_internal.h"

mcu_status_t mcu_copy_s8(const mcu_src_t *in, const mcu_dst_t *out)
{
    int32_t y, x;
    if (!mcu_src_ok(in) || !mcu_dst_ok(out)) {
        return MCU_RT_ERR_ARG;
    }
    if (in->h != out->h || in->w != out->w || in->c != out->c) {
        return MCU_RT_ERR_SHAPE;
    }
    for (y = 0; y < in->h; ++y) {
        const int8_t *src = in->data + (ptrdiff_t)y * in->row_stride;
        int8_t *dst = out->data + (ptrdiff_t)y * out->row_stride;
        if (in->pix_stride == in->c && out->pix_stride == out->c) {
            memcpy(dst, src, (size_t)in->w * (size_t)in->c);
            continue;
        }
        for (x = 0; x < in->w; ++x) {
            memcpy(dst + (ptrdiff_t)x * out->pix_stride, src + (ptrdiff_t)x * in->pix_stride, (size_t)in->c);
        }
    }
    return MCU_RT_OK;
}

mcu_status_t mcu_concat_s8(const mcu_src_t *inputs, int32_t n, int32_t axis, const mcu_dst_t *out)
{
    int32_t i, at = 0;
    if (inputs == NULL || n <= 0 || !mcu_dst_ok(out)) {
        return MCU_RT_ERR_ARG;
    }
    if (axis < 1 || axis > 3) {
        return MCU_RT_ERR_ARG;
    }
    for (i = 0; i < n; ++i) {
        const mcu_src_t *in = &inputs[i];
        mcu_dst_t part = *out;
        mcu_status_t st;
        if (!mcu_src_ok(in)) {
            return MCU_RT_ERR_ARG;
        }
        if (axis == 1) {
            if (at + in->h > out->h) {
                return MCU_RT_ERR_SHAPE;
            }
            part.data += (ptrdiff_t)at * out->row_stride;
            part.h = in->h;
            at += in->h;
        } else if (axis == 2) {
            if (at + in->w > out->w) {
                return MCU_RT_ERR_SHAPE;
            }
            part.data += (ptrdiff_t)at * out->pix_stride;
            part.w = in->w;
            at += in->w;
        } else {
            if (at + in->c > out->c) {
                return MCU_RT_ERR_SHAPE;
            }
            part.data += at;
            part.c = in->c;
            at += in->c;
        }
        st = mcu_copy_s8(in, &part);
        if (st != MCU_RT_OK) {
            return st;
        }
    }
    if (at != (axis == 1 ? out->h : axis == 2 ? out->w : out->c)) {
        return MCU_RT_ERR_SHAPE;
    }
    return MCU_RT_OK;
}
