/*
 * The DSP path's im2col column and int16 x int8 dot products (__sxtb16 + __smlad), shared by the
 * general conv, the 1x1 conv and fully connected. Compiled only with MCU_RT_USE_DSP.
 *
 * A column holds one output pixel's taps widened to int16 with the input offset added (0 for taps
 * outside the map, which then contribute nothing: int8.md's skipped taps) in round4(k) entries,
 * groups of four stored as (x0, x2, x1, x3): one 32-bit load gives the pair (x0, x2) that __smlad
 * multiplies with __sxtb16(w) = (w0, w2), the next the pair (x1, x3) for __sxtb16(ror8(w)) =
 * (w1, w3). The last group holds the last 1 to 4 taps right-aligned, zeros before them: its weights
 * are then the word that ends with a row, w[k - 4 .. k), whose first bytes (the group before's,
 * when k % 4 != 0) meet the zeros. So a dot product is whole groups only and never reads past a
 * row (nor before it, for k >= 4).
 */
#include "mcu_rt_internal.h"

#if defined(MCU_RT_USE_DSP)

/*
 * The weights of a k-row's last group: w[k - 4 .. k) for k >= 4; for k < 4, w[0 .. k) in the top k
 * bytes, zeros below (no read before the row: row 0 starts the filter).
 */
static inline uint32_t tail_word(const int8_t *w, int32_t k)
{
    uint32_t v = 0;
    int32_t i;
    if (k >= 4) {
        return mcu_load_u32(w + k - 4);
    }
    for (i = 0; i < k; ++i) {
        v |= (uint32_t)(uint8_t)w[i] << (8 * (4 - k + i));
    }
    return v;
}

/* mcu_internal_col_pack, inlined into it and into mcu_internal_col_pack_rows. */
static inline __attribute__((always_inline)) void col_pack(int16_t *col, const int8_t *px, int32_t k,
                                                          int32_t offset)
{
    const int32_t off2 = mcu_pack2_s16(offset);
    const int32_t last = ((k + 3) & ~3) - 4; /* the last group's first entry */
    const int32_t r = k - last;              /* its taps, 1 to 4, in its top r slots */
    const uint32_t lo = (uint32_t)offset & 0xFFFFu;
    uint32_t word;
    int32_t i;
    /* Group i reads px[i .. i + 4) before it writes col[i .. i + 4) (bytes 2i .. 2i + 8): with px at
     * byte round4(k) of the column, the bytes it overwrites were read by this or an earlier group
     * (the last group reads px[k - 4 .. k), past the bytes group last - 4 writes). */
    for (i = 0; i < last; i += 4) {
        word = mcu_load_u32(px + i);
        mcu_store_s32(col + i, mcu_sxtab16(off2, word));
        mcu_store_s32(col + i + 2, mcu_sxtab16_ror8(off2, word));
    }
    /* Slots below 4 - r cleared (the group before's bytes when k >= 4), the offset added to the
     * others only: (s0, s2) and (s1, s3), s3 always a tap. */
    word = tail_word(px, k) & (0xFFFFFFFFu << (8 * (4 - r)));
    mcu_store_s32(col + last, mcu_sxtab16((int32_t)((r == 4 ? lo : 0u) | (r >= 2 ? lo << 16 : 0u)), word));
    mcu_store_s32(col + last + 2, mcu_sxtab16_ror8((int32_t)((r >= 3 ? lo : 0u) | (lo << 16)), word));
}

void mcu_internal_col_pack(int16_t *col, const int8_t *px, int32_t k, int32_t offset)
{
    col_pack(col, px, k, offset);
}

void mcu_internal_col_pack_rows(int16_t *col, const int8_t *src, ptrdiff_t step, int32_t rows, int32_t run,
                                int32_t offset)
{
    const int32_t k = rows * run;
    int8_t *const stage = (int8_t *)col + ((k + 3) & ~3);
    const int32_t run4 = run & ~3;
    int8_t *d = stage;
    int32_t r, i;
    for (r = 0; r < rows; ++r, src += step, d += run) {
        /* Words (unaligned LDR / STR), then a halfword and a byte. */
        for (i = 0; i < run4; i += 4) {
            mcu_store_s32(d + i, mcu_load_s32(src + i));
        }
        if (run & 2) {
            memcpy(d + run4, src + run4, 2);
        }
        if (run & 1) {
            d[run - 1] = src[run - 1];
        }
    }
    col_pack(col, stage, k, offset);
}

/* One group of four taps (column words c02, c13) times the weight word v, added to a. */
static inline int32_t group1(int32_t c02, int32_t c13, uint32_t v, int32_t a)
{
    a = mcu_smlad(c02, mcu_sxtb16(v), a);
    return mcu_smlad(c13, mcu_sxtb16_ror8(v), a);
}

int32_t mcu_internal_dot_s16_s8(const int16_t *col, const int8_t *w, int32_t k, int32_t acc)
{
    const int32_t last = ((k + 3) & ~3) - 4;
    int32_t i;
    for (i = 0; i < last; i += 4) {
        acc = group1(mcu_load_s32(col + i), mcu_load_s32(col + i + 2), mcu_load_u32(w + i), acc);
    }
    return group1(mcu_load_s32(col + last), mcu_load_s32(col + last + 2), tail_word(w, k), acc);
}

/* Two weight rows against one column: *acc0 += col . w0, *acc1 += col . w1. */
static inline __attribute__((always_inline)) void dot2(const int16_t *col, const int8_t *w0, const int8_t *w1,
                                                       int32_t k, int32_t *acc0, int32_t *acc1)
{
    const int32_t last = ((k + 3) & ~3) - 4;
    int32_t a0 = *acc0, a1 = *acc1;
    int32_t c02, c13;
    int32_t i;
    for (i = 0; i < last; i += 4) {
        c02 = mcu_load_s32(col + i);
        c13 = mcu_load_s32(col + i + 2);
        a0 = group1(c02, c13, mcu_load_u32(w0 + i), a0);
        a1 = group1(c02, c13, mcu_load_u32(w1 + i), a1);
    }
    c02 = mcu_load_s32(col + last);
    c13 = mcu_load_s32(col + last + 2);
    *acc0 = group1(c02, c13, tail_word(w0, k), a0);
    *acc1 = group1(c02, c13, tail_word(w1, k), a1);
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

#if !defined(MCU_RT_EMULATE_ACLE)
/*
 * mcu_internal_col_pw4_pack's groups in assembly (GCC stores the eight words one by one): per
 * group of four channels, per pair of pixels, LDR + 2 SXTAB16 each (+ 2 SADD16 each doubled) and
 * one STM of the four words (p0 .. p3 bound to r0 .. r3, STM needs ascending registers).
 */
#define PW4_PACK_PIXEL(px, lo, hi)                                                                              \
    "ldr " hi ", [" px "], #4\n\t"                                                                              \
    "sxtab16 " lo ", %[off], " hi "\n\t"                                                                        \
    "sxtab16 " hi ", %[off], " hi ", ror #8\n\t"
#define PW4_PACK_DOUBLE                                                                                         \
    "sadd16 %[p0], %[p0], %[p0]\n\t"                                                                            \
    "sadd16 %[p1], %[p1], %[p1]\n\t"                                                                            \
    "sadd16 %[p2], %[p2], %[p2]\n\t"                                                                            \
    "sadd16 %[p3], %[p3], %[p3]\n\t"
#define PW4_PACK_PAIR(pa, pb, dbl)                                                                              \
    PW4_PACK_PIXEL(pa, "%[p0]", "%[p1]")                                                                        \
    PW4_PACK_PIXEL(pb, "%[p2]", "%[p3]") dbl "stmia %[buf]!, {%[p0], %[p1], %[p2], %[p3]}\n\t"
#define PW4_PACK_ASM(dbl)                                                                                       \
    __asm__ __volatile__("1:\n\t" PW4_PACK_PAIR("%[pa]", "%[pb]", dbl) PW4_PACK_PAIR("%[pc]", "%[pd]", dbl)     \
                         "cmp %[pa], %[pe]\n\t"                                                                 \
                         "bne 1b"                                                                               \
                         : [p0] "=&r"(p0), [p1] "=&r"(p1), [p2] "=&r"(p2), [p3] "=&r"(p3), [pa] "+r"(pa),      \
                           [pb] "+r"(pb), [pc] "+r"(pc), [pd] "+r"(pd), [buf] "+r"(buf)                         \
                         : [off] "r"(off2), [pe] "r"(pe)                                                        \
                         : "cc", "memory")
#endif

void mcu_internal_col_pw4_pack(int16_t *buf, const int8_t *const px[4], int32_t k, int32_t offset, int dbl)
{
    const int32_t off2 = mcu_pack2_s16(offset);
    const int32_t k4 = k & ~3;
    int32_t i, s;
#if defined(MCU_RT_EMULATE_ACLE)
    for (i = 0; i < k4; i += 4) {
        for (s = 0; s < 4; ++s, buf += 4) {
            const uint32_t v = mcu_load_u32(px[s] + i);
            const int32_t lo = mcu_sxtab16(off2, v), hi = mcu_sxtab16_ror8(off2, v);
            mcu_store_s32(buf, dbl ? mcu_sadd16(lo, lo) : lo);
            mcu_store_s32(buf + 2, dbl ? mcu_sadd16(hi, hi) : hi);
        }
    }
#else
    if (k4 > 0) {
        const int8_t *pa = px[0], *pb = px[1], *pc = px[2], *pd = px[3];
        const int8_t *const pe = pa + k4;
        register int32_t p0 __asm__("r0");
        register int32_t p1 __asm__("r1");
        register int32_t p2 __asm__("r2");
        register int32_t p3 __asm__("r3");
        if (dbl) {
            PW4_PACK_ASM(PW4_PACK_DOUBLE);
        } else {
            PW4_PACK_ASM("");
        }
    }
#endif
    if (k4 < k) {
        /* The last k % 4 channels in order, zeros after them (read by mcu_internal_col_pw4_outputs only). */
        for (s = 0; s < 4; ++s) {
            for (i = 0; i < 4; ++i) {
                buf[4 * s + i] = (int16_t)(k4 + i < k ? px[s][k4 + i] + offset : 0);
            }
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

/*
 * mcu_internal_rqs_layer_ok (mcu_rqs_make on every channel, in 32-bit steps: |add| = u * 2^(R-1)
 * with u = |2 * output_offset + 1|, so |add| + a <= INT32_MAX - 2 iff u <= (INT32_MAX - 2 - a) >>
 * (R - 1) once a < 2^30), k a multiple of 4 and at least 4, and every multiplier >= 0 (pw_rq
 * takes the rounding's sign from the sum). The test only gets harder as t = R - 1 or a grows, so
 * it runs first on bounds of both over all channels: the largest t (unsigned) and an OR of
 * b ^ (b >> 31) = |b| - (b < 0), a few instructions per channel (an OR of the t's instead would
 * often reach 31 from one outlier channel); only when the bounds fail are the channels tested one
 * by one.
 */
static int pw4_channels_ok(uint32_t t, uint32_t a, uint32_t u)
{
    return t <= 29u && a < (1u << 30) && u <= ((uint32_t)INT32_MAX - 2u - a) >> t;
}

int mcu_internal_pw4_fast_ok(int32_t k, const int32_t *bias, int32_t n, const mcu_conv_quant_t *q)
{
    const int32_t range = mcu_rqs_acc_range(k, q->input_offset);
    const int64_t oo21 = 2 * (int64_t)q->output_offset + 1;
    const int32_t *mult = q->multiplier, *shift = q->shift;
    uint32_t u, sign = 0, tmax = 0, bor = 0;
    int32_t j;
    if (k < 4 || (k & 3) != 0 || bias == NULL) {
        return 0;
    }
    if (n <= 0) {
        return 1;
    }
    if (range < 0 || (oo21 < 0 ? -oo21 : oo21) > (int64_t)INT32_MAX) {
        return 0;
    }
    u = (uint32_t)(oo21 < 0 ? -oo21 : oo21);
    for (j = 0; j < n; ++j) {
        const uint32_t t = (uint32_t)~shift[j];
        tmax = t > tmax ? t : tmax;
        bor |= (uint32_t)(bias[j] ^ (bias[j] >> 31));
        sign |= (uint32_t)mult[j];
    }
    if ((sign >> 31) != 0) {
        return 0;
    }
    /* bor + 1 >= |b| on every channel (at most 2^31: no wrap with range < 2^29). */
    if (pw4_channels_ok(tmax, bor + 1u + (uint32_t)range, u)) {
        return 1;
    }
    for (j = 0; j < n; ++j) {
        const int32_t b = bias[j];
        const uint32_t a = (b < 0 ? 0u - (uint32_t)b : (uint32_t)b) + (uint32_t)range;
        if (!pw4_channels_ok((uint32_t)~shift[j], a, u)) {
            return 0;
        }
    }
    return 1;
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
 * mcu_rqs_apply(y, m, t + 1, pw_add(oo21, t + 1)) clamped, in pw4_fast's form, from y2 = 2 * y
 * (pw4_fast sums doubled inputs from a doubled bias; 2 * y fits int32 by mcu_rqs_make's bound):
 * t = ~shift = R - 1, add = oo21 << t (= pw_add's), high + add in one SMMLAR, the rounding's sign
 * taken from y rather than from high (equal when mult >= 0, checked by mcu_internal_pw4_fast_ok:
 * high has y's sign or is 0, and with high == 0 both give output_offset as R >= 1), and the shift
 * by R split as t, then 1 inside the SSAT.
 * relu (the layer's act_min >= output_offset: relu, relu6): without the sign term. It only counts
 * when y < 0, where high = SMMULR(y2, m) <= 0 (m >= 0), and then both z >> (t + 1), with or without
 * it, are at most output_offset (add = output_offset * 2^R + 2^(R-1) and 2^(R-1) + high + [0 or -1]
 * < 2^R): both clamp to act_min (dw_run's argument).
 */
static inline int32_t pw_rq(int32_t y2, int32_t m, int32_t t, int32_t add, int full, int32_t lo, int32_t hi,
                            int relu)
{
    const int32_t z = add + mcu_smmulr(y2, m) + (relu ? 0 : y2 >> 31);
    return pw_clamp((z >> t) >> 1, full, lo, hi);
}

/*
 * Pixels (a, b) of the packed group at x, (x0, x2), (x1, x3) of each (the four words one LDM
 * loads), times the weights (w02, w13), from the sums a_in, b_in into a, b (b first, so that
 * b_in may be a: pw4_fast's first step starts all four sums from a2); x advanced.
 */
#define MCU_PW4_HALF(a, a_in, b, b_in)                                                                          \
    do {                                                                                                        \
        const int32_t p0_ = mcu_load_s32(x), p1_ = mcu_load_s32(x + 2);                                         \
        const int32_t p2_ = mcu_load_s32(x + 4), p3_ = mcu_load_s32(x + 6);                                     \
        b = mcu_smlad(p3_, w13, mcu_smlad(p2_, w02, b_in));                                                     \
        a = mcu_smlad(p1_, w13, mcu_smlad(p0_, w02, a_in));                                                     \
        x += 8;                                                                                                 \
    } while (0)

/*
 * Four channels (wp[0..3], the next 32 bytes of the packed pixels at x) into a0 .. a3; first: all
 * four start from a2, the doubled bias. The C form of pw4_fast's PW4_STEP and PW4_FIRST (the
 * emulated build; Arm runs the same steps in assembly).
 */
#define MCU_PW4_STEP(first)                                                                                     \
    do {                                                                                                        \
        const uint32_t v_ = mcu_load_u32(wp);                                                                   \
        const int32_t w02 = mcu_sxtb16(v_), w13 = mcu_sxtb16_ror8(v_);                                          \
        MCU_PW4_HALF(a0, (first) ? a2 : a0, a1, (first) ? a2 : a1);                                             \
        MCU_PW4_HALF(a2, a2, a3, (first) ? a2 : a3);                                                            \
        wp += 4;                                                                                                \
    } while (0)

#if !defined(MCU_RT_EMULATE_ACLE)
/*
 * pw4_fast's loop over the filter rows in assembly: one row (output channel j) x the four packed
 * pixels per iteration. Operands: %[a0] .. %[a3] the four sums, %[w0], %[w1] the row's four
 * weights unpacked by SXTB16 (w1 the ror-8 half), %[p0] .. %[p3] bound to r0 .. r3 (LDM needs
 * ascending registers), %[x] the packed pixels' cursor and %[xe] their end, %[wp] the filter row
 * (rows are consecutive: the row loop leaves it at row j + 1), %[c] the cursor into bias[];
 * everything else is in memory (14 registers are all there are): the pixels' start and, through
 * stp, the state pw4_fast lays out for the LDMs (mult and shift by offset from c, oo21, the end of
 * bias[], pixel a's output cursor and pixels b, c, d's offsets from it, then the pixels' start or
 * the clamp bytes). x enters at the pixels' start and is put back there by the stores. Per row:
 *   PRO   the doubled bias into a2 (the four sums start from it in FIRST);
 *   FIRST the first four channels, LDR + 2 SXTB16 + 2 LDM (pixels a, b, then c, d: 4 words each)
 *         + 8 SMLAD = 13 instructions per 16 MACs; STEP the same for the next four channels;
 *         FIRST, then (k / 4 - 1) % 4 STEPs, then fours of STEPs (LOOP) up to k;
 *   RQ    the channel's parameters, pw_rq on a0 .. a3 (each 2 * acc: the pixels are packed
 *         doubled; t = ~shift = R - 1, add = oo21 << t: pw_add), SSAT 8;
 *   then the stores (pixels b, c, d, then a, its cursor advanced) and the branch back.
 * 32 instructions per row besides FIRST, the STEPs and the loop tests (full range; 14 more clamped).
 */
#define PW4_PRO                                                                                                 \
    "3:\n\t"                                                                                                    \
    "ldr %[a2], [%[c]], #4\n\t"                                                                                 \
    "lsl %[a2], %[a2], #1\n\t"
#define PW4_LOAD                                                                                                \
    "ldr %[w0], [%[wp]], #4\n\t"                                                                                \
    "ldmia %[x]!, {%[p0], %[p1], %[p2], %[p3]}\n\t"                                                             \
    "sxtb16 %[w1], %[w0], ror #8\n\t"                                                                           \
    "sxtb16 %[w0], %[w0]\n\t"
#define PW4_FIRST                                                                                               \
    PW4_LOAD                                                                                                    \
    "smlad %[a1], %[p2], %[w0], %[a2]\n\t"                                                                      \
    "smlad %[a1], %[p3], %[w1], %[a1]\n\t"                                                                      \
    "smlad %[a0], %[p0], %[w0], %[a2]\n\t"                                                                      \
    "smlad %[a0], %[p1], %[w1], %[a0]\n\t"                                                                      \
    "ldmia %[x]!, {%[p0], %[p1], %[p2], %[p3]}\n\t"                                                             \
    "smlad %[a3], %[p2], %[w0], %[a2]\n\t"                                                                      \
    "smlad %[a3], %[p3], %[w1], %[a3]\n\t"                                                                      \
    "smlad %[a2], %[p0], %[w0], %[a2]\n\t"                                                                      \
    "smlad %[a2], %[p1], %[w1], %[a2]\n\t"
#define PW4_STEP                                                                                                \
    PW4_LOAD                                                                                                    \
    "smlad %[a1], %[p2], %[w0], %[a1]\n\t"                                                                      \
    "smlad %[a1], %[p3], %[w1], %[a1]\n\t"                                                                      \
    "smlad %[a0], %[p0], %[w0], %[a0]\n\t"                                                                      \
    "smlad %[a0], %[p1], %[w1], %[a0]\n\t"                                                                      \
    "ldmia %[x]!, {%[p0], %[p1], %[p2], %[p3]}\n\t"                                                             \
    "smlad %[a3], %[p2], %[w0], %[a3]\n\t"                                                                      \
    "smlad %[a3], %[p3], %[w1], %[a3]\n\t"                                                                      \
    "smlad %[a2], %[p0], %[w0], %[a2]\n\t"                                                                      \
    "smlad %[a2], %[p1], %[w1], %[a2]\n\t"
#define PW4_LOOP                                                                                                \
    "1:\n\t" PW4_STEP PW4_STEP PW4_STEP PW4_STEP                                                                \
    "cmp %[x], %[xe]\n\t"                                                                                       \
    "blo 1b\n\t"
/* y = pw_rq(y, m, t, add), SSAT 8 (p3 scratch): SMMLAR adds add to SMMULR's product exactly. */
#define PW4_RQS(y)                                                                                              \
    "smmlar %[p3], " y ", %[p0], %[p2]\n\t"                                                                     \
    "add " y ", %[p3], " y ", asr #31\n\t"                                                                      \
    "asr " y ", " y ", %[p1]\n\t"                                                                               \
    "ssat " y ", #8, " y ", asr #1\n\t"
/* PW4_RQS without the rounding's sign term (pw_rq's relu form: act_min >= output_offset). */
#define PW4_RQS_RELU(y)                                                                                         \
    "smmlar %[p3], " y ", %[p0], %[p2]\n\t"                                                                     \
    "asr " y ", %[p3], %[p1]\n\t"                                                                               \
    "ssat " y ", #8, " y ", asr #1\n\t"
/*
 * c is at bias + j + 1 here: mult + j = c + dm, shift + j = c + ds. The first four words of the
 * state (dm, ds, oo21, the end of bias[]) in one LDM, sp (w0 full range, x clamped: the registers
 * the stores leave free) left at the next four; the compare with the end sets the flags for the
 * BNE at the end (no instruction up to it sets them).
 */
#define PW4_RQ(sp, RQS)                                                                                            \
    "ldr " sp ", %[stp]\n\t"                                                                                    \
    "ldmia " sp "!, {%[p0], %[p1], %[p2], %[p3]}\n\t"                                                           \
    "cmp %[c], %[p3]\n\t"                                                                                       \
    "ldr %[p0], [%[c], %[p0]]\n\t"                                                                              \
    "ldr %[p1], [%[c], %[p1]]\n\t"                                                                              \
    "mvn %[p1], %[p1]\n\t"                                                                                      \
    "lsl %[p2], %[p2], %[p1]\n\t"                                                                               \
    RQS("%[a0]") RQS("%[a1]") RQS("%[a2]") RQS("%[a3]")
/*
 * Full range: one SSAT is the clamp. The state's next five words (pixel a's output cursor, pixels
 * b, c, d's offsets from it, the pixels' start into x: x is above p3, LDM fills registers in
 * ascending order) in one LDM; byte stores, pixel a's last, its cursor advanced.
 */
#define PW4_STORE_FULL_WITH(RQS)                                                                                \
    PW4_RQ("%[w0]", RQS)                                                                                             \
    "ldmia %[w0], {%[p0], %[p1], %[p2], %[p3], %[x]}\n\t"                                                       \
    "strb %[a1], [%[p0], %[p1]]\n\t"                                                                            \
    "strb %[a2], [%[p0], %[p2]]\n\t"                                                                            \
    "strb %[a3], [%[p0], %[p3]]\n\t"                                                                            \
    "strb %[a0], [%[p0]], #1\n\t"                                                                               \
    "str %[p0], [%[w0]]\n\t"
/*
 * [act_min, act_max] inside [-128, 127]: the four bytes packed as (a0, a2, a1, a3), clamped all at
 * once (SSUB8 sets GE per byte, SEL picks: max with act_min, then min with act_max, each byte of
 * the state's lo4 / hi4, after the output words), then stored one by one as PW4_STORE_FULL; x
 * back to the pixels' start.
 */
#define PW4_STORE_CLAMP_WITH(RQS)                                                                               \
    PW4_RQ("%[x]", RQS)                                                                                              \
    "pkhbt %[w0], %[a0], %[a1], lsl #16\n\t"                                                                    \
    "pkhbt %[w1], %[a2], %[a3], lsl #16\n\t"                                                                    \
    "uxtb16 %[w0], %[w0]\n\t"                                                                                   \
    "uxtb16 %[w1], %[w1]\n\t"                                                                                   \
    "orr %[w0], %[w0], %[w1], lsl #8\n\t"                                                                       \
    "ldrd %[a0], %[a1], [%[x], #16]\n\t"                                                                        \
    "ssub8 %[w1], %[w0], %[a0]\n\t"                                                                             \
    "sel %[w0], %[w0], %[a0]\n\t"                                                                               \
    "ssub8 %[w1], %[a1], %[w0]\n\t"                                                                             \
    "sel %[w0], %[w0], %[a1]\n\t"                                                                               \
    "ldmia %[x], {%[p0], %[p1], %[p2], %[p3]}\n\t"                                                              \
    "lsr %[w1], %[w0], #16\n\t"                                                                                 \
    "strb %[w1], [%[p0], %[p1]]\n\t"                                                                            \
    "lsr %[w1], %[w0], #8\n\t"                                                                                  \
    "strb %[w1], [%[p0], %[p2]]\n\t"                                                                            \
    "lsr %[w1], %[w0], #24\n\t"                                                                                 \
    "strb %[w1], [%[p0], %[p3]]\n\t"                                                                            \
    "strb %[w0], [%[p0]], #1\n\t"                                                                               \
    "str %[p0], [%[x]]\n\t"                                                                                     \
    "ldr %[x], %[xb]\n\t"
#define PW4_STORE_FULL PW4_STORE_FULL_WITH(PW4_RQS)
#define PW4_STORE_CLAMP PW4_STORE_CLAMP_WITH(PW4_RQS)
#define PW4_STORE_FULL_RELU PW4_STORE_FULL_WITH(PW4_RQS_RELU)
#define PW4_STORE_CLAMP_RELU PW4_STORE_CLAMP_WITH(PW4_RQS_RELU)
#define PW4_NEXT "bne 3b"
/*
 * The general conv's columns (mcu_internal_col_pw4_gap_outputs_fast): after the first group, the
 * row cursor back by the gap, round4(k) - k (p0 is free between the LDMs).
 */
#define PW4_GAP                                                                                                 \
    "ldr %[p0], %[gap]\n\t"                                                                                     \
    "sub %[wp], %[wp], %[p0]\n\t"
#define PW4_OUTS                                                                                                \
    [a0] "=&r"(a0), [a1] "=&r"(a1), [a2] "=&r"(a2), [a3] "=&r"(a3), [w0] "=&r"(w0), [w1] "=&r"(w1),             \
        [p0] "=&r"(p0), [p1] "=&r"(p1), [p2] "=&r"(p2), [p3] "=&r"(p3), [x] "+&r"(x), [wp] "+r"(wp),            \
        [c] "+r"(c), [st] "+m"(st)
#define PW4_INS [xe] "r"(xe), [xb] "m"(buf), [stp] "m"(stp)
#define PW4_ASM(body, store)                                                                                    \
    __asm__ __volatile__(PW4_PRO body store PW4_NEXT : PW4_OUTS : PW4_INS : "cc", "memory")
#define PW4_ASM_FULL(body) PW4_ASM(body, PW4_STORE_FULL)
#define PW4_ASM_CLAMP(body) PW4_ASM(body, PW4_STORE_CLAMP)
#define PW4_ASM_FULL_RELU(body) PW4_ASM(body, PW4_STORE_FULL_RELU)
#define PW4_ASM_CLAMP_RELU(body) PW4_ASM(body, PW4_STORE_CLAMP_RELU)
#define PW4_ASM_GAP(body, store)                                                                                \
    __asm__ __volatile__(PW4_PRO body store PW4_NEXT                                                            \
                         : PW4_OUTS                                                                             \
                         : PW4_INS, [gap] "m"(gap)                                                              \
                         : "cc", "memory")
#define PW4_ASM_GAP_FULL(body) PW4_ASM_GAP(body, PW4_STORE_FULL)
#define PW4_ASM_GAP_CLAMP(body) PW4_ASM_GAP(body, PW4_STORE_CLAMP)
#define PW4_ASM_GAP_FULL_RELU(body) PW4_ASM_GAP(body, PW4_STORE_FULL_RELU)
#define PW4_ASM_GAP_CLAMP_RELU(body) PW4_ASM_GAP(body, PW4_STORE_CLAMP_RELU)
/*
 * The row's steps by k: first (PW4_FIRST, + PW4_GAP for the general conv), (k / 4 - 1) % 4 STEPs,
 * then LOOP (four STEPs per test) while channels are left (k >= 20); each count its own asm, so
 * that no branch picks the entry.
 */
#define PW4_PREFIXED(ASM, first, loop)                                                                          \
    do {                                                                                                        \
        if (pre == 0) {                                                                                         \
            ASM(first loop);                                                                                    \
        } else if (pre == 1) {                                                                                  \
            ASM(first PW4_STEP loop);                                                                           \
        } else if (pre == 2) {                                                                                  \
            ASM(first PW4_STEP PW4_STEP loop);                                                                  \
        } else {                                                                                                \
            ASM(first PW4_STEP PW4_STEP PW4_STEP loop);                                                         \
        }                                                                                                       \
    } while (0)
#define PW4_SHAPES(ASM, first)                                                                                  \
    do {                                                                                                        \
        const int32_t pre = ((k >> 2) - 1) & 3;                                                                 \
        if (k < 20) {                                                                                           \
            PW4_PREFIXED(ASM, first, );                                                                         \
        } else {                                                                                                \
            PW4_PREFIXED(ASM, first, PW4_LOOP);                                                                 \
        }                                                                                                       \
    } while (0)
#endif

/*
 * mcu_internal_col_pw4_outputs on a layer that passed mcu_internal_pw4_fast_ok (a bias, k a
 * multiple of 4 and at least 4, every channel's requantization in mcu_rqs_apply's range), the
 * pixels packed doubled (every sum is 2 * acc, from the doubled bias), all four outputs given (a
 * repeated pixel repeats its output pointer: the same values are stored twice). Per channel,
 * pixels b, c, d are stored before pixel a. gapped (the general conv's columns): filter rows of
 * k - gap weights, the row cursor back by gap after the first group (PW4_GAP); else gap is 0.
 */
static inline __attribute__((always_inline)) void pw4_fast(const int16_t *buf, int32_t k, const int8_t *filter,
                                                           const int32_t *bias, int32_t n, const mcu_conv_quant_t *q,
                                                           int8_t *const out[4], int full, int gapped,
                                                           int32_t gap, int relu)
{
    const int32_t oo21 = (int32_t)(2u * (uint32_t)q->output_offset + 1u);
    const int16_t *const xe = buf + 4 * k;
    const int8_t *wp = filter;
#if defined(MCU_RT_EMULATE_ACLE)
    const int32_t *mult = q->multiplier, *shift = q->shift;
    const int32_t act_min = q->act_min, act_max = q->act_max;
    int32_t j;
    for (j = 0; j < n; ++j) {
        const int16_t *x = buf;
        const int32_t m = mult[j], t = ~shift[j], add = (int32_t)((uint32_t)oo21 << t);
        int32_t a0, a1, a2 = (int32_t)((uint32_t)bias[j] << 1), a3;
        int32_t i;
        MCU_PW4_STEP(1);
        if (gapped) {
            wp -= gap; /* PW4_GAP */
        }
        for (i = ((k >> 2) - 1) & 3; i > 0; --i) {
            MCU_PW4_STEP(0);
        }
        while (x < xe) {
            MCU_PW4_STEP(0);
            MCU_PW4_STEP(0);
            MCU_PW4_STEP(0);
            MCU_PW4_STEP(0);
        }
        out[1][j] = (int8_t)pw_rq(a1, m, t, add, full, act_min, act_max, relu);
        out[2][j] = (int8_t)pw_rq(a2, m, t, add, full, act_min, act_max, relu);
        out[3][j] = (int8_t)pw_rq(a3, m, t, add, full, act_min, act_max, relu);
        out[0][j] = (int8_t)pw_rq(a0, m, t, add, full, act_min, act_max, relu);
    }
#else
    if (n > 0) {
        /*
         * The asm's state, loaded by LDM: dm, ds (mult and shift by byte offset from the bias
         * cursor, see PW4_RQ), oo21, the end of bias[]; pixel a's output cursor and pixels b, c,
         * d's byte offsets from it; full range, the pixels' start (PW4_STORE_FULL), else the clamp
         * bytes (act_min, act_max in each byte: SSUB8 / SEL). Offsets are byte differences,
         * wrapping like the address adds.
         */
        int32_t st[10];
        int32_t *const stp = st;
        const int32_t *c = bias;
        register int32_t p0 __asm__("r0");
        register int32_t p1 __asm__("r1");
        register int32_t p2 __asm__("r2");
        register int32_t p3 __asm__("r3");
        int32_t a0, a1, a2, a3, w0, w1;
        const int16_t *x = buf;
        st[0] = (int32_t)((uintptr_t)q->multiplier - (uintptr_t)bias) - 4;
        st[1] = (int32_t)((uintptr_t)q->shift - (uintptr_t)bias) - 4;
        st[2] = oo21;
        st[3] = (int32_t)(uintptr_t)(bias + n);
        st[4] = (int32_t)(uintptr_t)out[0];
        st[5] = (int32_t)((uintptr_t)out[1] - (uintptr_t)out[0]);
        st[6] = (int32_t)((uintptr_t)out[2] - (uintptr_t)out[0]);
        st[7] = (int32_t)((uintptr_t)out[3] - (uintptr_t)out[0]);
        if (full) {
            st[8] = (int32_t)(uintptr_t)buf;
            if (gapped && relu) {
                PW4_SHAPES(PW4_ASM_GAP_FULL_RELU, PW4_FIRST PW4_GAP);
            } else if (gapped) {
                PW4_SHAPES(PW4_ASM_GAP_FULL, PW4_FIRST PW4_GAP);
            } else if (relu) {
                PW4_SHAPES(PW4_ASM_FULL_RELU, PW4_FIRST);
            } else {
                PW4_SHAPES(PW4_ASM_FULL, PW4_FIRST);
            }
        } else {
            st[8] = (int32_t)(((uint32_t)q->act_min & 0xFFu) * 0x01010101u);
            st[9] = (int32_t)(((uint32_t)q->act_max & 0xFFu) * 0x01010101u);
            if (gapped && relu) {
                PW4_SHAPES(PW4_ASM_GAP_CLAMP_RELU, PW4_FIRST PW4_GAP);
            } else if (gapped) {
                PW4_SHAPES(PW4_ASM_GAP_CLAMP, PW4_FIRST PW4_GAP);
            } else if (relu) {
                PW4_SHAPES(PW4_ASM_CLAMP_RELU, PW4_FIRST);
            } else {
                PW4_SHAPES(PW4_ASM_CLAMP, PW4_FIRST);
            }
        }
    }
#endif
}

/* requant(a) of channel (m, s) for the col_outputs_fast rows (mcu_rqs_apply, the add from oo21: pw_add). */
static inline int8_t col_rq(int32_t a, int32_t m, int32_t s, int32_t oo21, int full, int32_t lo, int32_t hi)
{
    const int32_t r = -s;
    return (int8_t)pw_clamp(mcu_rqs_apply(a, m, r, pw_add(oo21, r)), full, lo, hi);
}

#if defined(MCU_RT_EMULATE_ACLE)
/* One group of rows j and j + 1 (column x, weights wa and wa + k), x and wa advanced: the C form of
 * COL2_GROUP. */
#define MCU_COL2_GROUP()                                                                                        \
    do {                                                                                                        \
        const int32_t c02_ = mcu_load_s32(x), c13_ = mcu_load_s32(x + 2);                                       \
        a0 = group1(c02_, c13_, mcu_load_u32(wa), a0);                                                          \
        a1 = group1(c02_, c13_, mcu_load_u32(wa + k), a1);                                                      \
        x += 4;                                                                                                 \
        wa += 4;                                                                                                \
    } while (0)
#else
/*
 * col_pairs_fast's loop over row pairs in assembly (GCC 12 spills five registers around its C inner
 * loop and does not pair the column loads: ~160 instructions per row pair of the vww stem, k = 27,
 * against 122 here). Operands: %[a0] .. %[x] are 8 scratch registers, %[xe] the last group's column
 * entry, %[kk] = k (row j + 1 at [wa, kk]), %[wa], %[bp], %[mp] and %[op] the cursors into the
 * filter, bias[], mult[] and out[] advanced in place; the column's start, shift (by offset from
 * mult), oo21, tail offset and clamp bytes in memory. Per row pair:
 *   PRO   both biases, x = the column;
 *   GROUP LDRD (the column's two words) + 2 LDR + 4 SXTB16 + 4 SMLAD = 11 instructions per 8 MACs;
 *         unrolled twice over all groups but the last, an odd number entering at the second
 *         (COL2_ODD);
 *   TAIL  wa back by round4(k) - k to the rows' last words, the last group, wa on to row j + 2;
 *   RQ    mcu_rqs_apply on a0, a1 (R = -shift, add = oo21 << (R - 1): pw_add), SSAT 8;
 *   ST    a0, a1 as two bytes of one word clamped to [act_min, act_max] at once (SSUB8 / SEL as
 *         PW4_STORE_CLAMP; a no-op on the range [-128, 127]), one halfword store;
 *   then the test against the end of mult[].
 */
#define COL2_PRO                                                                                                \
    "3:\n\t"                                                                                                    \
    "ldrd %[a0], %[a1], [%[bp]], #8\n\t"                                                                        \
    "ldr %[x], %[col]\n\t"
#define COL2_ODD "b 2f\n"
#define COL2_GROUP                                                                                              \
    "ldrd %[c0], %[c1], [%[x]], #8\n\t"                                                                         \
    "ldr %[v1], [%[wa], %[kk]]\n\t"                                                                             \
    "ldr %[v0], [%[wa]], #4\n\t"                                                                                \
    "sxtb16 %[t], %[v0]\n\t"                                                                                    \
    "smlad %[a0], %[c0], %[t], %[a0]\n\t"                                                                       \
    "sxtb16 %[v0], %[v0], ror #8\n\t"                                                                           \
    "smlad %[a0], %[c1], %[v0], %[a0]\n\t"                                                                      \
    "sxtb16 %[t], %[v1]\n\t"                                                                                    \
    "smlad %[a1], %[c0], %[t], %[a1]\n\t"                                                                       \
    "sxtb16 %[v1], %[v1], ror #8\n\t"                                                                           \
    "smlad %[a1], %[c1], %[v1], %[a1]\n"
#define COL2_LOOP                                                                                               \
    "1:\n\t" COL2_GROUP "2:\n\t" COL2_GROUP "\t"                                                                \
    "cmp %[x], %[xe]\n\t"                                                                                       \
    "blo 1b\n\t"                                                                                                \
    "ldr %[t], %[toff]\n\t"                                                                                     \
    "add %[wa], %[wa], %[t]\n\t" COL2_GROUP "\t"                                                                \
    "add %[wa], %[wa], %[kk]\n\t"
/* y = mcu_rqs_apply(y, m, R, add), SSAT 8 (add is scratch after). */
#define COL2_RQS(y, m, r, add)                                                                                  \
    "lsl " y ", " y ", #1\n\t"                                                                                  \
    "smmulr " y ", " y ", " m "\n\t"                                                                            \
    "add " add ", " add ", " y "\n\t"                                                                           \
    "add " y ", " add ", " y ", asr #31\n\t"                                                                    \
    "asr " y ", " y ", " r "\n\t"                                                                               \
    "ssat " y ", #8, " y "\n\t"
#define COL2_RQ                                                                                                 \
    "ldrd %[c0], %[c1], [%[mp]], #8\n\t"                                                                        \
    "ldr %[x], %[dsh]\n\t" /* shift + j = mult + j + 8 + dsh */                                                 \
    "add %[x], %[x], %[mp]\n\t"                                                                                 \
    "ldrd %[v0], %[v1], [%[x]]\n\t"                                                                             \
    "ldr %[t], %[oo21]\n\t"                                                                                     \
    "mvn %[x], %[v0]\n\t"                                                                                       \
    "lsl %[x], %[t], %[x]\n\t"                                                                                  \
    "rsb %[v0], %[v0], #0\n\t"                                                                                  \
    COL2_RQS("%[a0]", "%[c0]", "%[v0]", "%[x]")                                                                 \
    "mvn %[x], %[v1]\n\t"                                                                                       \
    "lsl %[x], %[t], %[x]\n\t"                                                                                  \
    "rsb %[v1], %[v1], #0\n\t"                                                                                  \
    COL2_RQS("%[a1]", "%[c1]", "%[v1]", "%[x]")
#define COL2_ST                                                                                                 \
    "bfi %[a0], %[a1], #8, #8\n\t"                                                                              \
    "ldr %[t], %[lo4]\n\t"                                                                                      \
    "ssub8 %[x], %[a0], %[t]\n\t"                                                                               \
    "sel %[a0], %[a0], %[t]\n\t"                                                                                \
    "ldr %[t], %[hi4]\n\t"                                                                                      \
    "ssub8 %[x], %[t], %[a0]\n\t"                                                                               \
    "sel %[a0], %[a0], %[t]\n\t"                                                                                \
    "strh %[a0], [%[op]], #2\n\t"                                                                               \
    "ldr %[t], %[mend]\n\t"                                                                                     \
    "cmp %[mp], %[t]\n\t"                                                                                       \
    "bne 3b"
#define COL2_OUTS                                                                                               \
    [a0] "=&r"(a0), [a1] "=&r"(a1), [c0] "=&r"(c0), [c1] "=&r"(c1), [v0] "=&r"(v0), [v1] "=&r"(v1),             \
        [t] "=&r"(t), [x] "=&r"(x), [wa] "+r"(wa), [bp] "+r"(bp), [mp] "+r"(mp), [op] "+r"(op)
#define COL2_INS                                                                                                \
    [xe] "r"(xe), [kk] "r"(k), [col] "m"(col), [dsh] "m"(dsh), [oo21] "m"(oo21), [toff] "m"(toff),             \
        [mend] "m"(mend), [lo4] "m"(lo4), [hi4] "m"(hi4)
#endif

/*
 * The row pairs (j, j + 1) of mcu_internal_col_outputs_fast for k > 4 (one group before the last
 * at least); returns the first row left (the last one when n is odd, all when k <= 4).
 */
static int32_t col_pairs_fast(const int16_t *col, int32_t k, const int8_t *filter, const int32_t *bias, int32_t n,
                              const mcu_conv_quant_t *q, int8_t *out)
{
    const int32_t *mult = q->multiplier, *shift = q->shift;
    const int32_t oo21 = (int32_t)(2u * (uint32_t)q->output_offset + 1u);
    const int32_t last = ((k + 3) & ~3) - 4;
    const int16_t *const xe = col + last;
    const int32_t npair = k > 4 ? n & ~1 : 0;
    /* From the last group's column entry in the rows to their last words, w[k - 4 .. k). */
    const int32_t toff = k - 4 - last;
#if defined(MCU_RT_EMULATE_ACLE)
    const int8_t *wa = filter;
    int32_t j;
    for (j = 0; j < npair; j += 2) {
        const int16_t *x = col;
        int32_t a0 = bias[j], a1 = bias[j + 1];
        if (last & 4) {
            MCU_COL2_GROUP();
        }
        while (x < xe) {
            MCU_COL2_GROUP();
            MCU_COL2_GROUP();
        }
        wa += toff;
        MCU_COL2_GROUP();
        wa += k;
        out[j] = col_rq(a0, mult[j], shift[j], oo21, 0, q->act_min, q->act_max);
        out[j + 1] = col_rq(a1, mult[j + 1], shift[j + 1], oo21, 0, q->act_min, q->act_max);
    }
#else
    if (npair > 0) {
        const int8_t *wa = filter;
        const int32_t *bp = bias, *mp = mult;
        const int32_t *const mend = mult + npair;
        const int32_t dsh = (int32_t)((uintptr_t)shift - (uintptr_t)mult) - 8;
        /* act_min / act_max in each byte (SSUB8 / SEL). */
        const uint32_t lo4 = ((uint32_t)q->act_min & 0xFFu) * 0x01010101u;
        const uint32_t hi4 = ((uint32_t)q->act_max & 0xFFu) * 0x01010101u;
        int8_t *op = out;
        int32_t a0, a1, c0, c1, v0, v1, t;
        const int16_t *x;
        if (last & 4) {
            __asm__ __volatile__(COL2_PRO COL2_ODD COL2_LOOP COL2_RQ COL2_ST : COL2_OUTS : COL2_INS : "cc", "memory");
        } else {
            __asm__ __volatile__(COL2_PRO COL2_LOOP COL2_RQ COL2_ST : COL2_OUTS : COL2_INS : "cc", "memory");
        }
    }
#endif
    return npair;
}

/* mcu_internal_col_outputs_fast from row j on (full: the range is [-128, 127], see pw_clamp). */
static inline __attribute__((always_inline)) void col_rows(const int16_t *col, int32_t k, const int8_t *filter,
                                                           const int32_t *bias, int32_t j, int32_t n,
                                                           const mcu_conv_quant_t *q, int8_t *out, int full)
{
    const int32_t *mult = q->multiplier, *shift = q->shift;
    const int32_t act_min = q->act_min, act_max = q->act_max;
    const int32_t oo21 = (int32_t)(2u * (uint32_t)q->output_offset + 1u);
    const int8_t *w0 = filter + (size_t)j * (size_t)k;
    for (; j + 2 <= n; j += 2, w0 += 2 * k) {
        int32_t a0 = bias[j], a1 = bias[j + 1];
        dot2(col, w0, w0 + k, k, &a0, &a1);
        out[j] = col_rq(a0, mult[j], shift[j], oo21, full, act_min, act_max);
        out[j + 1] = col_rq(a1, mult[j + 1], shift[j + 1], oo21, full, act_min, act_max);
    }
    if (j < n) {
        out[j] = col_rq(mcu_internal_dot_s16_s8(col, w0, k, bias[j]), mult[j], shift[j], oo21, full, act_min,
                        act_max);
    }
}

void mcu_internal_col_outputs_fast(const int16_t *col, int32_t k, const int8_t *filter, const int32_t *bias,
                                   int32_t n, const mcu_conv_quant_t *q, int8_t *out)
{
    const int32_t j = col_pairs_fast(col, k, filter, bias, n, q, out);
    if (j < n) {
        if (q->act_min == -128 && q->act_max == 127) {
            col_rows(col, k, filter, bias, j, n, q, out, 1);
        } else {
            col_rows(col, k, filter, bias, j, n, q, out, 0);
        }
    }
}

#if !defined(MCU_RT_EMULATE_ACLE)
/*
 * mcu_internal_col1_outputs_fast's loop over filter rows in fours in assembly: rows j .. j + 3 x
 * the one column. Operands: %[a0] .. %[a3] the four sums bound to r0 .. r3 (the biases come in one
 * LDM), %[c0], %[c1], %[v], %[t], %[x] scratch, %[wa] at row j and %[wb] at row j + 2 (rows j + 1,
 * j + 3 at [wa, kk], [wb, kk]), %[kk] = k, %[xe] the column's end, %[mp] the cursor into mult[];
 * bias[] and shift[] by offset from it, oo21, the end of mult[], the output cursor and the clamp
 * bytes in memory. Per four rows:
 *   PRO   the biases, x = the column;
 *   GROUP LDRD (the column's two words) + 4 LDR + 8 SXTB16 + 8 SMLAD = 21 instructions per 16
 *         MACs (1.31 / MAC, against col_pairs_fast's 1.375), unrolled twice, an odd number of
 *         groups entering at the second (COL1_ODD); then wa, wb on to rows j + 4, j + 6;
 *   RQ    pw_rq on 2 * a0 .. 2 * a3 (the column is not doubled), each its own channel;
 *   ST    the four bytes in one word clamped at once (as PW4_STORE_CLAMP: a no-op on the range
 *         [-128, 127]), one STR (unaligned: the output pixel starts anywhere).
 */
#define COL1_PRO                                                                                                \
    "3:\n\t"                                                                                                    \
    "ldr %[a0], %[db]\n\t"                                                                                      \
    "add %[a0], %[a0], %[mp]\n\t"                                                                               \
    "ldmia %[a0], {%[a0], %[a1], %[a2], %[a3]}\n\t"                                                             \
    "ldr %[x], %[col]\n\t"
#define COL1_ODD "b 2f\n"
/* Row r's next four weights (the word at w) into sum a. */
#define COL1_ROW(a, w)                                                                                          \
    "ldr %[v], " w "\n\t"                                                                                       \
    "sxtb16 %[t], %[v]\n\t"                                                                                     \
    "smlad " a ", %[c0], %[t], " a "\n\t"                                                                       \
    "sxtb16 %[v], %[v], ror #8\n\t"                                                                             \
    "smlad " a ", %[c1], %[v], " a "\n\t"
#define COL1_GROUP                                                                                              \
    "ldrd %[c0], %[c1], [%[x]], #8\n\t" COL1_ROW("%[a1]", "[%[wa], %[kk]]") COL1_ROW("%[a0]", "[%[wa]], #4")    \
        COL1_ROW("%[a3]", "[%[wb], %[kk]]") COL1_ROW("%[a2]", "[%[wb]], #4")
#define COL1_LOOP                                                                                               \
    "1:\n\t" COL1_GROUP "2:\n\t" COL1_GROUP                                                                     \
    "cmp %[x], %[xe]\n\t"                                                                                       \
    "blo 1b\n\t"                                                                                                \
    "add %[wa], %[wb], %[kk]\n\t"                                                                               \
    "add %[wb], %[wa], %[kk], lsl #1\n\t"
/*
 * y = pw_rq(2 * y, m, t, add), SSAT 8, for row j + i: m from [mp] (advanced by 16 on the first
 * row, so the others are behind it), the shift from c0 = shift + j, oo21 in c1.
 */
#define COL1_RQS(y, mload, soff)                                                                                \
    "ldr %[v], " mload "\n\t"                                                                                   \
    "ldr %[t], [%[c0], #" soff "]\n\t"                                                                          \
    "mvn %[t], %[t]\n\t"                                                                                        \
    "lsl %[x], %[c1], %[t]\n\t"                                                                                 \
    "lsl " y ", " y ", #1\n\t"                                                                                  \
    "smmlar %[v], " y ", %[v], %[x]\n\t"                                                                        \
    "add " y ", %[v], " y ", asr #31\n\t"                                                                       \
    "asr " y ", " y ", %[t]\n\t"                                                                                \
    "ssat " y ", #8, " y ", asr #1\n\t"
/* COL1_RQS without the sign term (pw_rq's relu form). */
#define COL1_RQS_RELU(y, mload, soff)                                                                           \
    "ldr %[v], " mload "\n\t"                                                                                   \
    "ldr %[t], [%[c0], #" soff "]\n\t"                                                                          \
    "mvn %[t], %[t]\n\t"                                                                                        \
    "lsl %[x], %[c1], %[t]\n\t"                                                                                 \
    "lsl " y ", " y ", #1\n\t"                                                                                  \
    "smmlar %[v], " y ", %[v], %[x]\n\t"                                                                        \
    "asr " y ", %[v], %[t]\n\t"                                                                                 \
    "ssat " y ", #8, " y ", asr #1\n\t"
/* The state: shift - mult (bytes), oo21, the end of mult[], the output cursor, lo4, hi4. */
#define COL1_RQ(RQS)                                                                                            \
    "ldr %[x], %[stp]\n\t"                                                                                      \
    "ldrd %[c0], %[c1], [%[x]]\n\t"                                                                             \
    "add %[c0], %[c0], %[mp]\n\t"                                                                               \
    RQS("%[a0]", "[%[mp]], #16", "0") RQS("%[a1]", "[%[mp], #-12]", "4")                                        \
    RQS("%[a2]", "[%[mp], #-8]", "8") RQS("%[a3]", "[%[mp], #-4]", "12")
#define COL1_ST                                                                                                 \
    "ldr %[x], %[stp]\n\t"                                                                                      \
    "ldrd %[c0], %[c1], [%[x], #8]\n\t"                                                                         \
    "cmp %[mp], %[c0]\n\t"                                                                                      \
    "bfi %[a0], %[a1], #8, #8\n\t"                                                                              \
    "bfi %[a0], %[a2], #16, #8\n\t"                                                                             \
    "bfi %[a0], %[a3], #24, #8\n\t"                                                                             \
    "ldrd %[v], %[t], [%[x], #16]\n\t"                                                                          \
    "ssub8 %[c0], %[a0], %[v]\n\t"                                                                              \
    "sel %[a0], %[a0], %[v]\n\t"                                                                                \
    "ssub8 %[c0], %[t], %[a0]\n\t"                                                                              \
    "sel %[a0], %[a0], %[t]\n\t"                                                                                \
    "str %[a0], [%[c1]], #4\n\t"                                                                                \
    "str %[c1], [%[x], #12]\n\t"                                                                                \
    "bne 3b"
#define COL1_ASM(entry, RQS)                                                                                    \
    __asm__ __volatile__(COL1_PRO entry COL1_LOOP COL1_RQ(RQS) COL1_ST                                          \
                         : [a0] "=&r"(a0), [a1] "=&r"(a1), [a2] "=&r"(a2), [a3] "=&r"(a3), [c0] "=&r"(c0),      \
                           [c1] "=&r"(c1), [v] "=&r"(v), [t] "=&r"(t), [x] "=&r"(x), [wa] "+r"(wa),             \
                           [wb] "+r"(wb), [mp] "+r"(mp), [st] "+m"(st)                                          \
                         : [xe] "r"(xe), [kk] "r"(k), [col] "m"(col), [db] "m"(db), [stp] "m"(stp)              \
                         : "cc", "memory")
#endif

void mcu_internal_col1_outputs_fast(const int16_t *col, int32_t k, const int8_t *filter, const int32_t *bias,
                                    int32_t n, const mcu_conv_quant_t *q, int8_t *out)
{
    const int32_t n4 = n & ~3;
    const int32_t oo21 = (int32_t)(2u * (uint32_t)q->output_offset + 1u);
    const int16_t *const xe = col + k;
#if defined(MCU_RT_EMULATE_ACLE)
    const int32_t *mult = q->multiplier, *shift = q->shift;
    int32_t j, i;
    for (j = 0; j < n4; j += 4) {
        const int8_t *const w = filter + (size_t)j * (size_t)k;
        int32_t a[4];
        for (i = 0; i < 4; ++i) {
            const int16_t *x = col;
            const int8_t *wa = w + (size_t)i * (size_t)k;
            const int32_t t = ~shift[j + i];
            a[i] = bias[j + i];
            for (; x < xe; x += 4, wa += 4) {
                a[i] = group1(mcu_load_s32(x), mcu_load_s32(x + 2), mcu_load_u32(wa), a[i]);
            }
            out[j + i] = (int8_t)pw_rq((int32_t)((uint32_t)a[i] << 1), mult[j + i], t,
                                       (int32_t)((uint32_t)oo21 << t), 0, q->act_min, q->act_max,
                                       q->act_min >= q->output_offset);
        }
    }
#else
    if (n4 > 0) {
        /* COL1_RQ's and COL1_ST's state, and bias[] by offset from the mult[] cursor (COL1_PRO). */
        int32_t st[6];
        int32_t *const stp = st;
        const int32_t db = (int32_t)((uintptr_t)bias - (uintptr_t)q->multiplier);
        const int8_t *wa = filter, *wb = filter + 2 * (size_t)k;
        const int32_t *mp = q->multiplier;
        register int32_t a0 __asm__("r0");
        register int32_t a1 __asm__("r1");
        register int32_t a2 __asm__("r2");
        register int32_t a3 __asm__("r3");
        int32_t c0, c1, v, t;
        const int16_t *x;
        st[0] = (int32_t)((uintptr_t)q->shift - (uintptr_t)q->multiplier);
        st[1] = oo21;
        st[2] = (int32_t)(uintptr_t)(q->multiplier + n4);
        st[3] = (int32_t)(uintptr_t)out;
        st[4] = (int32_t)(((uint32_t)q->act_min & 0xFFu) * 0x01010101u);
        st[5] = (int32_t)(((uint32_t)q->act_max & 0xFFu) * 0x01010101u);
        if (q->act_min >= q->output_offset) {
            if ((k & 4) != 0) {
                COL1_ASM(COL1_ODD, COL1_RQS_RELU);
            } else {
                COL1_ASM("", COL1_RQS_RELU);
            }
        } else if ((k & 4) != 0) {
            COL1_ASM(COL1_ODD, COL1_RQS);
        } else {
            COL1_ASM("", COL1_RQS);
        }
    }
#endif
    if (n4 < n) {
        /* The last n % 4 rows: mcu_internal_col_outputs_fast on them (parameters from row n4 on). */
        mcu_conv_quant_t rest = *q;
        rest.multiplier += n4;
        rest.shift += n4;
        mcu_internal_col_outputs_fast(col, k, filter + (size_t)n4 * (size_t)k, bias + n4, n - n4, &rest,
                                      out + n4);
    }
}

void mcu_internal_col_pw4_outputs_fast(const int16_t *buf, int32_t k, const int8_t *filter, const int32_t *bias,
                                       int32_t n, const mcu_conv_quant_t *q, int8_t *const out[4])
{
    const int full = q->act_min == -128 && q->act_max == 127, relu = q->act_min >= q->output_offset;
    if (full) {
        if (relu) {
            pw4_fast(buf, k, filter, bias, n, q, out, 1, 0, 0, 1);
        } else {
            pw4_fast(buf, k, filter, bias, n, q, out, 1, 0, 0, 0);
        }
    } else if (relu) {
        pw4_fast(buf, k, filter, bias, n, q, out, 0, 0, 0, 1);
    } else {
        pw4_fast(buf, k, filter, bias, n, q, out, 0, 0, 0, 0);
    }
}

void mcu_internal_col_pw4_gap_outputs_fast(const int16_t *buf, int32_t k, const int8_t *filter,
                                           const int32_t *bias, int32_t n, const mcu_conv_quant_t *q,
                                           int8_t *const out[4])
{
    const int32_t k4 = (k + 3) & ~3;
    const int full = q->act_min == -128 && q->act_max == 127, relu = q->act_min >= q->output_offset;
    if (full) {
        if (relu) {
            pw4_fast(buf, k4, filter, bias, n, q, out, 1, 1, k4 - k, 1);
        } else {
            pw4_fast(buf, k4, filter, bias, n, q, out, 1, 1, k4 - k, 0);
        }
    } else if (relu) {
        pw4_fast(buf, k4, filter, bias, n, q, out, 0, 1, k4 - k, 1);
    } else {
        pw4_fast(buf, k4, filter, bias, n, q, out, 0, 1, k4 - k, 0);
    }
}

void mcu_internal_col_pw4_outputs(const int16_t *buf, int32_t k, const int8_t *filter, const int32_t *bias,
                                  int32_t n, const mcu_conv_quant_t *q, int8_t *const out[4])
{
    /* Parameters in locals: the int8 stores below could alias *q. */
    const int32_t *mult = q->multiplier, *shift = q->shift;
    const int32_t out_off = q->output_offset, act_min = q->act_min, act_max = q->act_max;
    const int32_t k4 = k & ~3;
    const int16_t *const tail = buf + 4 * k4;
    int32_t j, i, s;
    for (j = 0; j < n; ++j) {
        const int8_t *w = filter + (size_t)j * (size_t)k;
        const int16_t *x = buf;
        const mcu_rq_t r = mcu_rq_make(mult[j], shift[j]);
        int32_t acc[4];
        for (s = 0; s < 4; ++s) {
            acc[s] = bias != NULL ? bias[j] : 0;
        }
        for (i = 0; i < k4; i += 4, x += 16) {
            const uint32_t v = mcu_load_u32(w + i);
            const int32_t w02 = mcu_sxtb16(v), w13 = mcu_sxtb16_ror8(v);
            for (s = 0; s < 4; ++s) {
                acc[s] = mcu_smlad(mcu_load_s32(x + 4 * s), w02, acc[s]);
                acc[s] = mcu_smlad(mcu_load_s32(x + 4 * s + 2), w13, acc[s]);
            }
        }
        for (; i < k; ++i) {
            for (s = 0; s < 4; ++s) {
                acc[s] += tail[4 * s + i - k4] * w[i];
            }
        }
        for (s = 0; s < 4; ++s) {
            if (out[s] != NULL) {
                out[s][j] = r.fast ? (int8_t)mcu_rq_apply(acc[s], &r, out_off, act_min, act_max)
                                   : mcu_requantize_s8(acc[s], mult[j], shift[j], out_off, act_min, act_max);
            }
        }
    }
}

#else

/* ISO C forbids an empty translation unit. */
typedef int mcu_rt_dsp_column_unused;

#endif /* MCU_RT_USE_DSP */
