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
    {
        /* Each output sums ny x nx x nc values from its first one (the loop bounds hoisted). */
        const int32_t ny = rh ? in->h : 1, nx = rw ? in->w : 1, nc = rc ? in->c : 1;
        const ptrdiff_t rs = in->row_stride, ps = in->pix_stride;
        const int32_t zp_sum = q->input_zero_point * q->count, mult = q->multiplier, shift = q->shift;
        const int32_t out_zp = q->output_zero_point;
        for (i = 0; i < oh; ++i) {
            for (j = 0; j < ow; ++j) {
                const int8_t *first = in->data + (ptrdiff_t)i * rs + (ptrdiff_t)j * ps;
                for (k = 0; k < oc; ++k, ++first) {
                    int32_t sum = 0;
                    for (y = 0; y < ny; ++y) {
                        for (x = 0; x < nx; ++x) {
                            const int8_t *px = first + (ptrdiff_t)y * rs + (ptrdiff_t)x * ps;
                            for (c = 0; c < nc; ++c) {
                                sum += px[c];
                            }
                        }
                    }
                    out[n++] = mcu_requantize_s8(sum - zp_sum, mult, shift, out_zp, -128, 127);
                }
            }
        }
    }
    return MCU_RT_OK;
}
