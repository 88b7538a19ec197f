/*
 * MEAN (TFLite's integer rule, int8.md): sum the raw int8 values into int32, subtract
 * input_zero_point * count, MultiplyByQuantizedMultiplier with 1/count folded into the multiplier,
 * add the output zero point, clamp to int8. Not the average-pool rounding.
 */
#include "mcu_rt_internal.h"

mcu_status_t mcu_mean_s8(const mcu_src_t *in, int32_t axes, const mcu_mean_quant_t *q, int8_t *out)
{
    const int32_t rh = (axes & MCU_RT_AXIS_H) != 0, rw = (axes & MCU_RT_AXIS_W) != 0;
    const int32_t rc = (axes & MCU_RT_AXIS_C) != 0;
    int32_t oh, ow, oc, y, x, c, i, j, k;
    size_t n = 0;
    if (!mcu_src_ok(in) || q == NULL || out == NULL ||
        (axes & ~(MCU_RT_AXIS_H | MCU_RT_AXIS_W | MCU_RT_AXIS_C)) != 0) {
        return MCU_RT_ERR_ARG;
    }
    if ((rh ? in->h : 1) * (rw ? in->w : 1) * (rc ? in->c : 1) != q->count) {
        return MCU_RT_ERR_SHAPE;
    }
    oh = rh ? 1 : in->h;
    ow = rw ? 1 : in->w;
    oc = rc ? 1 : in->c;
    for (i = 0; i < oh; ++i) {
        for (j = 0; j < ow; ++j) {
            for (k = 0; k < oc; ++k) {
                int32_t sum = 0;
                for (y = rh ? 0 : i; y < (rh ? in->h : i + 1); ++y) {
                    for (x = rw ? 0 : j; x < (rw ? in->w : j + 1); ++x) {
                        const int8_t *px = in->data + (ptrdiff_t)y * in->row_stride + (ptrdiff_t)x * in->pix_stride;
                        for (c = rc ? 0 : k; c < (rc ? in->c : k + 1); ++c) {
                            sum += px[c];
                        }
                    }
                }
                sum -= q->input_zero_point * q->count;
                out[n++] = mcu_requantize_s8(sum, q->multiplier, q->shift, q->output_zero_point, -128, 127);
            }
        }
    }
    return MCU_RT_OK;
}
