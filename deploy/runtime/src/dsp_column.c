/*
 * The DSP path's im2col column and int16 x int8 dot products (__sxtb16 + __smlad), shared by the
 * general conv, the 1x1 conv and fully connected. Compiled only with MCU_RT_USE_DSP.
 *
 * A column holds one output pixel's taps widened to int16 with the input offset added (0 for taps
 * outside the map, which then contribute nothing: int8.md's skipped taps). Groups of four are
 * stored as (x0, x2, x1, x3): one 32-bit load gives the pair (x0, x2) that __smlad multiplies with
 * __sxtb16(w) = (w0, w2), the next the pair (x1, x3) for __sxtb16(ror8(w)) = (w1, w3).
 */
#include "mcu_rt_internal.h"

#if defined(MCU_RT_USE_DSP)

void mcu_internal_col_fill(int16_t *col, int32_t p, int32_t k, const int8_t *px, int32_t n, int32_t offset)
{
    const int32_t k4 = k & ~3;
    int32_t i = 0;
    if (px != NULL && (p & 3) == 0) {
        /* Aligned groups of four: unpack a word straight into the reordered layout. */
        const int32_t off2 = mcu_pack2_s16(offset);
        for (; i + 4 <= n && p + i + 4 <= k4; i += 4) {
            const uint32_t word = mcu_load_u32(px + i);
            mcu_store_s32(col + p + i, mcu_sadd16(mcu_sxtb16(word), off2));
            mcu_store_s32(col + p + i + 2, mcu_sadd16(mcu_sxtb16(mcu_ror8(word)), off2));
        }
    }
    for (; i < n; ++i) {
        col[mcu_internal_col_index(p + i, k4)] = (int16_t)(px != NULL ? px[i] + offset : 0);
    }
}

int32_t mcu_internal_dot_s16_s8(const int16_t *col, const int8_t *w, int32_t k, int32_t acc)
{
    const int32_t k4 = k & ~3;
    int32_t i;
    for (i = 0; i < k4; i += 4) {
        const uint32_t wv = mcu_load_u32(w + i);
        acc = mcu_smlad(mcu_load_s32(col + i), mcu_sxtb16(wv), acc);
        acc = mcu_smlad(mcu_load_s32(col + i + 2), mcu_sxtb16(mcu_ror8(wv)), acc);
    }
    for (; i < k; ++i) {
        acc += col[i] * w[i];
    }
    return acc;
}

void mcu_internal_dot2_s16_s8(const int16_t *col, const int8_t *w0, const int8_t *w1, int32_t k, int32_t *acc0,
                              int32_t *acc1)
{
    const int32_t k4 = k & ~3;
    int32_t a0 = *acc0, a1 = *acc1;
    int32_t i;
    for (i = 0; i < k4; i += 4) {
        const int32_t c02 = mcu_load_s32(col + i);
        const int32_t c13 = mcu_load_s32(col + i + 2);
        const uint32_t v0 = mcu_load_u32(w0 + i);
        const uint32_t v1 = mcu_load_u32(w1 + i);
        a0 = mcu_smlad(c02, mcu_sxtb16(v0), a0);
        a0 = mcu_smlad(c13, mcu_sxtb16(mcu_ror8(v0)), a0);
        a1 = mcu_smlad(c02, mcu_sxtb16(v1), a1);
        a1 = mcu_smlad(c13, mcu_sxtb16(mcu_ror8(v1)), a1);
    }
    for (; i < k; ++i) {
        a0 += col[i] * w0[i];
        a1 += col[i] * w1[i];
    }
    *acc0 = a0;
    *acc1 = a1;
}

void mcu_internal_col_outputs(const int16_t *col, int32_t k, const int8_t *filter, const int32_t *bias, int32_t n,
                              const mcu_conv_quant_t *q, int8_t *out)
{
    int32_t j = 0;
    for (; j + 2 <= n; j += 2) {
        int32_t a0 = bias != NULL ? bias[j] : 0;
        int32_t a1 = bias != NULL ? bias[j + 1] : 0;
        mcu_internal_dot2_s16_s8(col, filter + (size_t)j * (size_t)k, filter + (size_t)(j + 1) * (size_t)k, k,
                                 &a0, &a1);
        out[j] = mcu_requantize_s8(a0, q->multiplier[j], q->shift[j], q->output_offset, q->act_min, q->act_max);
        out[j + 1] = mcu_requantize_s8(a1, q->multiplier[j + 1], q->shift[j + 1], q->output_offset, q->act_min,
                                       q->act_max);
    }
    for (; j < n; ++j) {
        const int32_t a = mcu_internal_dot_s16_s8(col, filter + (size_t)j * (size_t)k, k,
                                                  bias != NULL ? bias[j] : 0);
        out[j] = mcu_requantize_s8(a, q->multiplier[j], q->shift[j], q->output_offset, q->act_min, q->act_max);
    }
}

#else

/* ISO C forbids an empty translation unit. */
typedef int mcu_rt_dsp_column_unused;

#endif /* MCU_RT_USE_DSP */
