/*
 * RESIZE_NEAREST_NEIGHBOR. The kernel only copies through index tables; the tables follow
 * TFLite's GetNearestNeighbor, which computes in float32: mcu_resize_nearest_index is meant for
 * set-up (or the tables come from the exporter), never for the per-inference path.
 */
#include <math.h>

#include "mcu_rt_internal.h"

mcu_status_t mcu_resize_nearest_s8(const mcu_src_t *in, const int16_t *row_index, const int16_t *col_index,
                                   const mcu_dst_t *out)
{
    int32_t y, x;
    if (!mcu_src_ok(in) || !mcu_dst_ok(out) || row_index == NULL || col_index == NULL) {
        return MCU_RT_ERR_ARG;
    }
    if (in->c != out->c) {
        return MCU_RT_ERR_SHAPE;
    }
    for (y = 0; y < out->h; ++y) {
        if (row_index[y] < 0 || row_index[y] >= in->h) {
            return MCU_RT_ERR_SHAPE;
        }
    }
    for (x = 0; x < out->w; ++x) {
        if (col_index[x] < 0 || col_index[x] >= in->w) {
            return MCU_RT_ERR_SHAPE;
        }
    }
    for (y = 0; y < out->h; ++y) {
        const int8_t *src = in->data + (ptrdiff_t)row_index[y] * in->row_stride;
        int8_t *dst = out->data + (ptrdiff_t)y * out->row_stride;
        for (x = 0; x < out->w; ++x) {
            memcpy(dst + (ptrdiff_t)x * out->pix_stride, src + (ptrdiff_t)col_index[x] * in->pix_stride,
                   (size_t)in->c);
        }
    }
    return MCU_RT_OK;
}

mcu_status_t mcu_resize_nearest_index(int32_t out_size, int32_t in_size, int32_t align_corners,
                                      int32_t half_pixel_centers, int16_t *index)
{
    float scale, offset;
    int32_t i;
    if (index == NULL || out_size <= 0 || in_size <= 0 || in_size > INT16_MAX) {
        return MCU_RT_ERR_ARG;
    }
    if (align_corners && out_size > 1) {
        scale = (float)(in_size - 1) / (float)(out_size - 1);
    } else {
        scale = (float)in_size / (float)out_size;
    }
    offset = half_pixel_centers ? 0.5f : 0.0f;
    for (i = 0; i < out_size; ++i) {
        const float v = ((float)i + offset) * scale;
        int32_t idx = (int32_t)(align_corners ? roundf(v) : floorf(v));
        idx = idx < in_size - 1 ? idx : in_size - 1;
        if (half_pixel_centers) {
            idx = idx > 0 ? idx : 0;
        }
        index[i] = (int16_t)idx;
    }
    return MCU_RT_OK;
}
