/*
 * MUL (TFLite int8): (a - zp_a) * (b - zp_b) requantized with s_a * s_b / s_out. b broadcasts
 * along every axis where its size is 1 (stride 0), e.g. the squeeze-excite gate over a map.
 */
#include "mcu_rt_internal.h"

mcu_status_t mcu_mul_s8(const mcu_src_t *a, const mcu_src_t *b, const mcu_mul_quant_t *q, const mcu_dst_t *out)
{
    int32_t y, x, c;
    ptrdiff_t brs, bps, bcs;
    if (!mcu_src_ok(a) || !mcu_src_ok(b) || !mcu_dst_ok(out) || q == NULL) {
        return MCU_RT_ERR_ARG;
    }
    if (a->h != out->h || a->w != out->w || a->c != out->c || (b->h != out->h && b->h != 1) ||
        (b->w != out->w && b->w != 1) || (b->c != out->c && b->c != 1)) {
        return MCU_RT_ERR_SHAPE;
    }
    brs = b->h == 1 ? 0 : b->row_stride;
    bps = b->w == 1 ? 0 : b->pix_stride;
    bcs = b->c == 1 ? 0 : 1;
    for (y = 0; y < out->h; ++y) {
        for (x = 0; x < out->w; ++x) {
            const int8_t *pa = a->data + (ptrdiff_t)y * a->row_stride + (ptrdiff_t)x * a->pix_stride;
            const int8_t *pb = b->data + (ptrdiff_t)y * brs + (ptrdiff_t)x * bps;
            int8_t *po = out->data + (ptrdiff_t)y * out->row_stride + (ptrdiff_t)x * out->pix_stride;
            for (c = 0; c < out->c; ++c) {
                const int32_t prod = (pa[c] + q->input1_offset) * (pb[c * bcs] + q->input2_offset);
                po[c] = mcu_requantize_s8(prod, q->multiplier, q->shift, q->output_offset, q->act_min, q->act_max);
            }
        }
    }
    return MCU_RT_OK;
}
