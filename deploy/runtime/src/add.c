/*
 * ADD (TFLite int8): both inputs shifted left by 20 after removing their zero points, each
 * rescaled to the common scale 2 * max(s1, s2), summed, requantized to the output scale.
 */
#include "mcu_rt_internal.h"

mcu_status_t mcu_add_s8(const mcu_src_t *a, const mcu_src_t *b, const mcu_add_quant_t *q, const mcu_dst_t *out)
{
    int32_t y, x, c;
    if (!mcu_src_ok(a) || !mcu_src_ok(b) || !mcu_dst_ok(out) || q == NULL) {
        return MCU_RT_ERR_ARG;
    }
    if (a->h != out->h || a->w != out->w || a->c != out->c || b->h != out->h || b->w != out->w || b->c != out->c ||
        q->left_shift < 0 || q->left_shift > 23) {
        return MCU_RT_ERR_SHAPE;
    }
    for (y = 0; y < out->h; ++y) {
        for (x = 0; x < out->w; ++x) {
            const int8_t *pa = a->data + (ptrdiff_t)y * a->row_stride + (ptrdiff_t)x * a->pix_stride;
            const int8_t *pb = b->data + (ptrdiff_t)y * b->row_stride + (ptrdiff_t)x * b->pix_stride;
            int8_t *po = out->data + (ptrdiff_t)y * out->row_stride + (ptrdiff_t)x * out->pix_stride;
            for (c = 0; c < out->c; ++c) {
                /* |x + offset| <= 255, so the 2^20 shift stays inside int32. */
                const int32_t sa = (pa[c] + q->input1_offset) * (1 << q->left_shift);
                const int32_t sb = (pb[c] + q->input2_offset) * (1 << q->left_shift);
                const int32_t ra = mcu_requantize(sa, q->input1_multiplier, q->input1_shift);
                const int32_t rb = mcu_requantize(sb, q->input2_multiplier, q->input2_shift);
                po[c] = mcu_requantize_s8(ra + rb, q->output_multiplier, q->output_shift, q->output_offset,
                                          q->act_min, q->act_max);
            }
        }
    }
    return MCU_RT_OK;
}
