/*
 * QUANTIZE / DEQUANTIZE. int8 -> int8 requantization is integer only; the float32 conversions
 * exist only at the graph boundary (the camera frame in, float results out) and follow TFLite's
 * AffineQuantize and Dequantize to the bit.
 */
#include <math.h>

#include "mcu_rt_internal.h"

mcu_status_t mcu_requantize_map_s8(const mcu_src_t *in, int32_t input_zero_point, int32_t multiplier,
                                   int32_t shift, int32_t output_zero_point, const mcu_dst_t *out)
{
    int32_t y, x, c;
    if (!mcu_src_ok(in) || !mcu_dst_ok(out)) {
        return MCU_RT_ERR_ARG;
    }
    if (in->h != out->h || in->w != out->w || in->c != out->c) {
        return MCU_RT_ERR_SHAPE;
    }
    for (y = 0; y < in->h; ++y) {
        for (x = 0; x < in->w; ++x) {
            const int8_t *src = in->data + (ptrdiff_t)y * in->row_stride + (ptrdiff_t)x * in->pix_stride;
            int8_t *dst = out->data + (ptrdiff_t)y * out->row_stride + (ptrdiff_t)x * out->pix_stride;
            for (c = 0; c < in->c; ++c) {
                dst[c] = mcu_requantize_s8(src[c] - input_zero_point, multiplier, shift, output_zero_point, -128, 127);
            }
        }
    }
    return MCU_RT_OK;
}

mcu_status_t mcu_quantize_f32_s8(const float *in, int32_t n, float scale, int32_t zero_point, int8_t *out)
{
    int32_t i;
    if (in == NULL || out == NULL || n < 0 || !(scale > 0.0f)) {
        return MCU_RT_ERR_ARG;
    }
    for (i = 0; i < n; ++i) {
        float v = in[i] / scale; /* float32 division, as TFLite */
        /* Saturate before converting: int8 needs only |v| < 512, and NaN goes to the minimum. */
        v = v >= -512.0f ? v : -512.0f;
        v = v <= 512.0f ? v : 512.0f;
        out[i] = mcu_clamp_s8((int32_t)roundf(v) + zero_point, -128, 127);
    }
    return MCU_RT_OK;
}

mcu_status_t mcu_dequantize_s8_f32(const int8_t *in, int32_t n, float scale, int32_t zero_point, float *out)
{
    int32_t i;
    if (in == NULL || out == NULL || n < 0) {
        return MCU_RT_ERR_ARG;
    }
    for (i = 0; i < n; ++i) {
        out[i] = (float)((double)scale * (double)(in[i] - zero_point));
    }
    return MCU_RT_OK;
}
