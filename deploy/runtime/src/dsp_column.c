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
            mcu_store_s32(col + p + i, mcu_sxtab16(off2, word));
            mcu_store_s32(col + p + i + 2, mcu_sxtab16_ror8(off2, word));
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
        acc = mcu_smlad(mcu_load_s32(col + i + 2), mcu_sxtb16_ror8(wv), acc);
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
        a0 = mcu_smlad(c13, mcu_sxtb16_ror8(v0), a0);
        a1 = mcu_smlad(c02, mcu_sxtb16(v1), a1);
        a1 = mcu_smlad(c13, mcu_sxtb16_ror8(v1), a1);
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

void mcu_internal_col_pw2_pack(int8_t *buf, const int8_t *pa, const int8_t *pb, int32_t k)
{
    int32_t i = 0, j;
    for (; i + 4 <= k; i += 4) {
        mcu_store_s32(buf + 2 * i, mcu_load_s32(pa + i));
        mcu_store_s32(buf + 2 * i + 4, mcu_load_s32(pb + i));
    }
    if (i < k) {
        for (j = 0; j < 4; ++j) {
            buf[2 * i + j] = i + j < k ? pa[i + j] : 0;
            buf[2 * i + 4 + j] = i + j < k ? pb[i + j] : 0;
        }
    }
}

void mcu_internal_col_pw2_outputs(const int8_t *buf, int32_t k, const int8_t *filter, const int32_t *bias, int32_t n,
                              const mcu_conv_quant_t *q, int8_t *out_a, int8_t *out_b)
{
    /* Parameters in locals: the int8 stores below could alias *q. */
    const int32_t *mult = q->multiplier, *shift = q->shift;
    const int32_t in_off = q->input_offset, out_off = q->output_offset, act_min = q->act_min,
                  act_max = q->act_max;
    const int32_t off2 = mcu_pack2_s16(in_off);
    const int32_t k4 = k & ~3;
    const int8_t *const tail = buf + 2 * k4;
    int32_t j = 0, i;
    for (; j + 2 <= n; j += 2) {
        const int8_t *w0 = filter + (size_t)j * (size_t)k;
        const int8_t *w1 = w0 + k;
        const int8_t *x = buf;
        int32_t a0 = bias != NULL ? bias[j] : 0;
        int32_t a1 = bias != NULL ? bias[j + 1] : 0;
        int32_t b0 = a0, b1 = a1;
        {
            const int8_t *wp = w0;
            int32_t cnt;
            for (cnt = k4 >> 2; cnt > 0; --cnt) {
                const uint32_t xa = mcu_load_u32(x), xb = mcu_load_u32(x + 4);
                const uint32_t v0 = mcu_load_u32(wp), v1 = mcu_load_u32(wp + k);
                const int32_t w002 = mcu_sxtb16(v0), w102 = mcu_sxtb16(v1);
                int32_t x02 = mcu_sxtab16(off2, xa);
                a0 = mcu_smlad(x02, w002, a0);
                a1 = mcu_smlad(x02, w102, a1);
                x02 = mcu_sxtab16(off2, xb);
                b0 = mcu_smlad(x02, w002, b0);
                b1 = mcu_smlad(x02, w102, b1);
                {
                    const int32_t w013 = mcu_sxtb16_ror8(v0), w113 = mcu_sxtb16_ror8(v1);
                    int32_t x13 = mcu_sxtab16_ror8(off2, xa);
                    a0 = mcu_smlad(x13, w013, a0);
                    a1 = mcu_smlad(x13, w113, a1);
                    x13 = mcu_sxtab16_ror8(off2, xb);
                    b0 = mcu_smlad(x13, w013, b0);
                    b1 = mcu_smlad(x13, w113, b1);
                }
                x += 8;
                wp += 4;
            }
            i = k4;
        }
        for (; i < k; ++i) {
            const int32_t xa = tail[i - k4] + in_off, xb = tail[i - k4 + 4] + in_off;
            a0 += xa * w0[i];
            b0 += xb * w0[i];
            a1 += xa * w1[i];
            b1 += xb * w1[i];
        }
        {
            const mcu_rq_t r0 = mcu_rq_make(mult[j], shift[j]), r1 = mcu_rq_make(mult[j + 1], shift[j + 1]);
            if (r0.fast && r1.fast) {
                out_a[j] = (int8_t)mcu_rq_apply(a0, &r0, out_off, act_min, act_max);
                out_a[j + 1] = (int8_t)mcu_rq_apply(a1, &r1, out_off, act_min, act_max);
                if (out_b != NULL) {
                    out_b[j] = (int8_t)mcu_rq_apply(b0, &r0, out_off, act_min, act_max);
                    out_b[j + 1] = (int8_t)mcu_rq_apply(b1, &r1, out_off, act_min, act_max);
                }
            } else {
                out_a[j] = mcu_requantize_s8(a0, mult[j], shift[j], out_off, act_min, act_max);
                out_a[j + 1] = mcu_requantize_s8(a1, mult[j + 1], shift[j + 1], out_off, act_min, act_max);
                if (out_b != NULL) {
                    out_b[j] = mcu_requantize_s8(b0, mult[j], shift[j], out_off, act_min, act_max);
                    out_b[j + 1] = mcu_requantize_s8(b1, mult[j + 1], shift[j + 1], out_off, act_min, act_max);
                }
            }
        }
    }
    if (j < n) {
        const int8_t *w0 = filter + (size_t)j * (size_t)k;
        const int8_t *x = buf;
        int32_t a0 = bias != NULL ? bias[j] : 0;
        int32_t b0 = a0;
        for (i = 0; i < k4; i += 4) {
            const uint32_t xa = mcu_load_u32(x), xb = mcu_load_u32(x + 4);
            const uint32_t v0 = mcu_load_u32(w0 + i);
            const int32_t w02 = mcu_sxtb16(v0), w13 = mcu_sxtb16_ror8(v0);
            a0 = mcu_smlad(mcu_sxtab16(off2, xa), w02, a0);
            a0 = mcu_smlad(mcu_sxtab16_ror8(off2, xa), w13, a0);
            b0 = mcu_smlad(mcu_sxtab16(off2, xb), w02, b0);
            b0 = mcu_smlad(mcu_sxtab16_ror8(off2, xb), w13, b0);
            x += 8;
        }
        for (; i < k; ++i) {
            a0 += (tail[i - k4] + in_off) * w0[i];
            b0 += (tail[i - k4 + 4] + in_off) * w0[i];
        }
        out_a[j] = mcu_requantize_s8(a0, mult[j], shift[j], out_off, act_min, act_max);
        if (out_b != NULL) {
            out_b[j] = mcu_requantize_s8(b0, mult[j], shift[j], out_off, act_min, act_max);
        }
    }
}

#else

/* ISO C forbids an empty translation unit. */
typedef int mcu_rt_dsp_column_unused;

#endif /* MCU_RT_USE_DSP */
