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

/* Two weight rows against one column: *acc0 += col . w0, *acc1 += col . w1. Inlined into both
 * output loops (an out-of-line call costs ~120k instructions on vww.tflite). */
static inline __attribute__((always_inline)) void dot2(const int16_t *col, const int8_t *w0, const int8_t *w1,
                                                       int32_t k, int32_t *acc0, int32_t *acc1)
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
        dot2(col, filter + (size_t)j * (size_t)k, filter + (size_t)(j + 1) * (size_t)k, k, &a0, &a1);
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

int mcu_internal_rqs_layer_ok(int32_t k, const int32_t *bias, int32_t n, const mcu_conv_quant_t *q)
{
    const int32_t range = mcu_rqs_acc_range(k, q->input_offset);
    int32_t j;
    if (bias == NULL) {
        return 0;
    }
    for (j = 0; j < n; ++j) {
        mcu_rqs_t r;
        if (!mcu_rqs_make(&r, q->multiplier[j], q->shift[j], bias[j], range, q->output_offset)) {
            return 0;
        }
    }
    return 1;
}

int mcu_internal_pw2_fast_ok(int32_t k, const int32_t *bias, int32_t n, const mcu_conv_quant_t *q)
{
    return k >= 4 && (k & 3) == 0 && mcu_internal_rqs_layer_ok(k, bias, n, q);
}

/* y clamped to [lo, hi]; full: the range is [-128, 127] (one SSAT). */
static inline int32_t pw_clamp(int32_t y, int full, int32_t lo, int32_t hi)
{
    if (full) {
        return mcu_ssat8(y);
    }
    y = y < lo ? lo : y;
    return y > hi ? hi : y;
}

/*
 * mcu_rqs_t's add of a channel that passed mcu_rqs_make: output_offset * 2^R + 2^(R-1) =
 * (2 * output_offset + 1) * 2^(R-1), given oo21 = 2 * output_offset + 1 (no overflow: the checks
 * bound it; shifted unsigned).
 */
static inline int32_t pw_add(int32_t oo21, int32_t right)
{
    return (int32_t)((uint32_t)oo21 << (right - 1));
}

/*
 * Four channels (wp[off..off+3] of rows 0 and 1, bytes 2 * off.. of the packed pair) into a0, a1,
 * b0, b1: the C form of pw2_fast's step (the emulated build; Arm runs the same step in assembly).
 */
#define MCU_PW2_STEP(off)                                                                                       \
    do {                                                                                                        \
        const uint32_t xa_ = mcu_load_u32(__builtin_assume_aligned(x + 2 * (off), 4));                          \
        const uint32_t v0_ = mcu_load_u32(wp + (off)), v1_ = mcu_load_u32(wp + k + (off));                      \
        const int32_t w002_ = mcu_sxtb16(v0_), w102_ = mcu_sxtb16(v1_);                                         \
        const int32_t w013_ = mcu_sxtb16_ror8(v0_), w113_ = mcu_sxtb16_ror8(v1_);                               \
        const int32_t xa02_ = mcu_sxtab16(off2, xa_), xa13_ = mcu_sxtab16_ror8(off2, xa_);                      \
        const uint32_t xb_ = mcu_load_u32(__builtin_assume_aligned(x + 2 * (off) + 4, 4));                      \
        const int32_t xb02_ = mcu_sxtab16(off2, xb_), xb13_ = mcu_sxtab16_ror8(off2, xb_);                      \
        a0 = mcu_smlad(xa02_, w002_, a0);                                                                       \
        a1 = mcu_smlad(xa02_, w102_, a1);                                                                       \
        a0 = mcu_smlad(xa13_, w013_, a0);                                                                       \
        a1 = mcu_smlad(xa13_, w113_, a1);                                                                       \
        b0 = mcu_smlad(xb02_, w002_, b0);                                                                       \
        b1 = mcu_smlad(xb02_, w102_, b1);                                                                       \
        b0 = mcu_smlad(xb13_, w013_, b0);                                                                       \
        b1 = mcu_smlad(xb13_, w113_, b1);                                                                       \
    } while (0)

/*
 * mcu_internal_col_pw2_outputs on a layer that passed mcu_internal_pw2_fast_ok (a bias, k a
 * multiple of 4 and at least 4, every channel's requantization in mcu_rqs_apply's range).
 * Pixel b's values are stored before pixel a's, so that with out_b == out_a (the caller's NULL,
 * the same pixel twice) the result is pixel a's.
 */
static inline __attribute__((always_inline)) void pw2_fast(const int8_t *buf, int32_t k, const int8_t *filter,
                                                           const int32_t *bias, int32_t n, const mcu_conv_quant_t *q,
                                                           int8_t *out_a, int8_t *out_b, int full)
{
    const int32_t *mult = q->multiplier, *shift = q->shift;
    const int32_t act_min = q->act_min, act_max = q->act_max;
    const int32_t oo21 = (int32_t)(2u * (uint32_t)q->output_offset + 1u);
    const int32_t off2 = mcu_pack2_s16(q->input_offset);
    const int8_t *const xend = buf + 2 * k;
#if !defined(MCU_RT_EMULATE_ACLE)
    const int8_t *const xend_m = xend;
#endif
    const int8_t *w0 = filter;
    int32_t j = 0;
    for (; j + 2 <= n; j += 2, w0 += 2 * k) {
        const int8_t *x = buf;
        const int8_t *wp = w0;
        int32_t a0 = bias[j], a1 = bias[j + 1];
        int32_t b0 = a0, b1 = a1;
#if defined(MCU_RT_EMULATE_ACLE)
        do {
            MCU_PW2_STEP(0);
            x += 8;
            wp += 4;
        } while (x < xend);
#else
        {
            /*
             * MCU_PW2_STEP per four channels in assembly (GCC 12 keeps k and xend on the stack and
             * reloads both every step): 23 instructions per 16 MACs. xend is read from memory when
             * the registers run out (all 14 are used: 8 operands, 6 temporaries).
             */
            int32_t t0, t1, t2, t3, t4, t5;
            __asm__("1:\n\t"
                    "ldr %[t0], [%[wp], %[k]]\n\t"
                    "ldr %[t1], [%[wp]], #4\n\t"
                    "ldr %[t2], [%[x]], #8\n\t"
                    "sxtb16 %[t3], %[t1]\n\t"
                    "sxtb16 %[t4], %[t0]\n\t"
                    "sxtab16 %[t5], %[off2], %[t2]\n\t"
                    "smlad %[a0], %[t5], %[t3], %[a0]\n\t"
                    "smlad %[a1], %[t5], %[t4], %[a1]\n\t"
                    "ldr %[t5], [%[x], #-4]\n\t"
                    "sxtab16 %[t2], %[off2], %[t2], ror #8\n\t"
                    "sxtb16 %[t1], %[t1], ror #8\n\t"
                    "sxtb16 %[t0], %[t0], ror #8\n\t"
                    "smlad %[a0], %[t2], %[t1], %[a0]\n\t"
                    "smlad %[a1], %[t2], %[t0], %[a1]\n\t"
                    "sxtab16 %[t2], %[off2], %[t5]\n\t"
                    "smlad %[b0], %[t2], %[t3], %[b0]\n\t"
                    "smlad %[b1], %[t2], %[t4], %[b1]\n\t"
                    "sxtab16 %[t5], %[off2], %[t5], ror #8\n\t"
                    "ldr %[t3], %[xend]\n\t"
                    "smlad %[b0], %[t5], %[t1], %[b0]\n\t"
                    "smlad %[b1], %[t5], %[t0], %[b1]\n\t"
                    "cmp %[x], %[t3]\n\t"
                    "blo 1b"
                    : [a0] "+r"(a0), [a1] "+r"(a1), [b0] "+r"(b0), [b1] "+r"(b1), [x] "+r"(x), [wp] "+r"(wp),
                      [t0] "=&r"(t0), [t1] "=&r"(t1), [t2] "=&r"(t2), [t3] "=&r"(t3), [t4] "=&r"(t4),
                      [t5] "=&r"(t5)
                    : [k] "r"(k), [off2] "r"(off2), [xend] "m"(xend_m)
                    : "cc", "memory");
        }
#endif
        {
            const int32_t m0 = mult[j], r0 = -shift[j], m1 = mult[j + 1], r1 = -shift[j + 1];
            const int32_t c0 = pw_add(oo21, r0), c1 = pw_add(oo21, r1);
            out_b[j] = (int8_t)pw_clamp(mcu_rqs_apply(b0, m0, r0, c0), full, act_min, act_max);
            out_b[j + 1] = (int8_t)pw_clamp(mcu_rqs_apply(b1, m1, r1, c1), full, act_min, act_max);
            out_a[j] = (int8_t)pw_clamp(mcu_rqs_apply(a0, m0, r0, c0), full, act_min, act_max);
            out_a[j + 1] = (int8_t)pw_clamp(mcu_rqs_apply(a1, m1, r1, c1), full, act_min, act_max);
        }
    }
    if (j < n) {
        const int8_t *x = buf;
        const int8_t *wp = w0;
        int32_t a0 = bias[j];
        int32_t b0 = a0;
        do {
            const uint32_t xa = mcu_load_u32(x), xb = mcu_load_u32(x + 4);
            const uint32_t v0 = mcu_load_u32(wp);
            const int32_t w02 = mcu_sxtb16(v0), w13 = mcu_sxtb16_ror8(v0);
            a0 = mcu_smlad(mcu_sxtab16(off2, xa), w02, a0);
            a0 = mcu_smlad(mcu_sxtab16_ror8(off2, xa), w13, a0);
            b0 = mcu_smlad(mcu_sxtab16(off2, xb), w02, b0);
            b0 = mcu_smlad(mcu_sxtab16_ror8(off2, xb), w13, b0);
            x += 8;
            wp += 4;
        } while (x < xend);
        {
            const int32_t m0 = mult[j], r0 = -shift[j], c0 = pw_add(oo21, r0);
            out_b[j] = (int8_t)pw_clamp(mcu_rqs_apply(b0, m0, r0, c0), full, act_min, act_max);
            out_a[j] = (int8_t)pw_clamp(mcu_rqs_apply(a0, m0, r0, c0), full, act_min, act_max);
        }
    }
}

/* mcu_internal_col_outputs on a layer that passed mcu_internal_rqs_layer_ok (full: see pw2_fast). */
static inline __attribute__((always_inline)) void col_outputs_fast(const int16_t *col, int32_t k,
                                                                   const int8_t *filter, const int32_t *bias,
                                                                   int32_t n, const mcu_conv_quant_t *q,
                                                                   int8_t *out, int full)
{
    const int32_t *mult = q->multiplier, *shift = q->shift;
    const int32_t act_min = q->act_min, act_max = q->act_max;
    const int32_t oo21 = (int32_t)(2u * (uint32_t)q->output_offset + 1u);
    const int8_t *w0 = filter;
    int32_t j = 0;
    for (; j + 2 <= n; j += 2, w0 += 2 * k) {
        const int8_t *const w1 = w0 + k;
        int32_t a0 = bias[j], a1 = bias[j + 1];
        dot2(col, w0, w1, k, &a0, &a1);
        {
            const int32_t r0 = -shift[j], r1 = -shift[j + 1];
            out[j] = (int8_t)pw_clamp(mcu_rqs_apply(a0, mult[j], r0, pw_add(oo21, r0)), full, act_min, act_max);
            out[j + 1] = (int8_t)pw_clamp(mcu_rqs_apply(a1, mult[j + 1], r1, pw_add(oo21, r1)), full, act_min,
                                          act_max);
        }
    }
    if (j < n) {
        const int32_t a0 = mcu_internal_dot_s16_s8(col, w0, k, bias[j]);
        const int32_t r0 = -shift[j];
        out[j] = (int8_t)pw_clamp(mcu_rqs_apply(a0, mult[j], r0, pw_add(oo21, r0)), full, act_min, act_max);
    }
}

void mcu_internal_col_outputs_fast(const int16_t *col, int32_t k, const int8_t *filter, const int32_t *bias,
                                   int32_t n, const mcu_conv_quant_t *q, int8_t *out)
{
    if (q->act_min == -128 && q->act_max == 127) {
        col_outputs_fast(col, k, filter, bias, n, q, out, 1);
    } else {
        col_outputs_fast(col, k, filter, bias, n, q, out, 0);
    }
}

void mcu_internal_col_pw2_outputs_fast(const int8_t *buf, int32_t k, const int8_t *filter, const int32_t *bias,
                                       int32_t n, const mcu_conv_quant_t *q, int8_t *out_a, int8_t *out_b)
{
    int8_t *const ob = out_b != NULL ? out_b : out_a;
    if (q->act_min == -128 && q->act_max == 127) {
        pw2_fast(buf, k, filter, bias, n, q, out_a, ob, 1);
    } else {
        pw2_fast(buf, k, filter, bias, n, q, out_a, ob, 0);
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
