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

void mcu_internal_col_pw2_pack(int16_t *buf, const int8_t *pa, const int8_t *pb, int32_t k, int32_t offset)
{
    const int32_t off2 = mcu_pack2_s16(offset);
    int32_t i = 0, j;
    for (; i + 4 <= k; i += 4, buf += 8) {
        const uint32_t va = mcu_load_u32(pa + i), vb = mcu_load_u32(pb + i);
        mcu_store_s32(buf, mcu_sxtab16(off2, va));
        mcu_store_s32(buf + 2, mcu_sxtab16_ror8(off2, va));
        mcu_store_s32(buf + 4, mcu_sxtab16(off2, vb));
        mcu_store_s32(buf + 6, mcu_sxtab16_ror8(off2, vb));
    }
    if (i < k) {
        /* The last k % 4 channels in order, zeros after them (only the portable-order tail loops read them). */
        for (j = 0; j < 4; ++j) {
            buf[j] = (int16_t)(i + j < k ? pa[i + j] + offset : 0);
            buf[4 + j] = (int16_t)(i + j < k ? pb[i + j] + offset : 0);
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
 * (R - 1) once a < 2^30), k a multiple of 4 and at least 4, and every multiplier >= 0 (pw2_rq takes
 * the rounding's sign from the sum).
 */
int mcu_internal_pw2_fast_ok(int32_t k, const int32_t *bias, int32_t n, const mcu_conv_quant_t *q)
{
    const int32_t range = mcu_rqs_acc_range(k, q->input_offset);
    const int64_t oo21 = 2 * (int64_t)q->output_offset + 1;
    const int32_t *mult = q->multiplier, *shift = q->shift;
    uint32_t u, sign = 0;
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
        const uint32_t t = (uint32_t)~shift[j]; /* R - 1 */
        const int32_t b = bias[j];
        const uint32_t a = (b < 0 ? 0u - (uint32_t)b : (uint32_t)b) + (uint32_t)range;
        if (t > 29u || a >= (1u << 30) || u > ((uint32_t)INT32_MAX - 2u - a) >> t) {
            return 0;
        }
        sign |= (uint32_t)mult[j];
    }
    return (sign >> 31) == 0;
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
 * mcu_rqs_apply(y, m, t + 1, pw_add(oo21, t + 1)) clamped, in pw2_fast's form: t = ~shift = R - 1,
 * add = oo21 << t (= pw_add's), high + add in one SMMLAR, the rounding's sign taken from y rather
 * than from high (equal when mult >= 0, checked by mcu_internal_pw2_fast_ok: high has y's sign or
 * is 0, and with high == 0 both give output_offset as R >= 1), and the shift by R split as t,
 * then 1 inside the SSAT.
 */
static inline int32_t pw2_rq(int32_t y, int32_t m, int32_t t, int32_t add, int full, int32_t lo, int32_t hi)
{
    const int32_t z = add + mcu_smmulr(y * 2, m) + (y >> 31);
    return pw_clamp((z >> t) >> 1, full, lo, hi);
}

/*
 * Four channels (wp[0..3] of rows j and j + 1, the next 16 bytes of the packed pair at x) into a0,
 * a1, b0, b1: the C form of pw2_fast's step (the emulated build; Arm runs the same step in assembly).
 */
#define MCU_PW2_STEP()                                                                                          \
    do {                                                                                                        \
        const uint32_t v0_ = mcu_load_u32(wp), v1_ = mcu_load_u32(wp + k);                                      \
        const int32_t w002_ = mcu_sxtb16(v0_), w013_ = mcu_sxtb16_ror8(v0_);                                    \
        const int32_t w102_ = mcu_sxtb16(v1_), w113_ = mcu_sxtb16_ror8(v1_);                                    \
        const int32_t xa02_ = mcu_load_s32(x), xa13_ = mcu_load_s32(x + 2);                                     \
        const int32_t xb02_ = mcu_load_s32(x + 4), xb13_ = mcu_load_s32(x + 6);                                 \
        a0 = mcu_smlad(xa02_, w002_, a0);                                                                       \
        a0 = mcu_smlad(xa13_, w013_, a0);                                                                       \
        a1 = mcu_smlad(xa02_, w102_, a1);                                                                       \
        a1 = mcu_smlad(xa13_, w113_, a1);                                                                       \
        b0 = mcu_smlad(xb02_, w002_, b0);                                                                       \
        b0 = mcu_smlad(xb13_, w013_, b0);                                                                       \
        b1 = mcu_smlad(xb02_, w102_, b1);                                                                       \
        b1 = mcu_smlad(xb13_, w113_, b1);                                                                       \
        x += 8;                                                                                                 \
        wp += 4;                                                                                                \
    } while (0)

#if !defined(MCU_RT_EMULATE_ACLE)
/*
 * pw2_fast's loop over row pairs in assembly. GCC 12 keeps k and the loop end on the stack around
 * a C or asm inner loop that needs 14 registers, and spends ~78 instructions per row pair on
 * spills and reloads besides the steps; this loop spends 47 (full range, k % 8 == 0; 48 when
 * k % 8 == 4; 10 more clamped). Operands: %[a0] .. %[x] are 11 scratch registers, %[kk] = k,
 * %[xe] the pair's end (buf + 4 * k bytes: x ends there after every row pair, so x = xe - 4 * k), %[wp] the
 * filter row pointer (row j + 1 is at [wp, k]); everything else is in memory: the bias, mult and
 * out_a cursors advanced in place, shift and out_b at fixed offsets from them (fewer than 30 asm
 * operands). Per row pair:
 *   PRO   the bias of both rows (both pixels), x = buf; k % 8 == 4 (PW2_ODD) enters the loop at
 *         its second step;
 *   STEP  MCU_PW2_STEP: 2 LDR + 4 SXTB16 (weights unpacked in place, ror-8 half first) + 2 LDRD
 *         + 8 SMLAD = 16 instructions per 16 MACs; unrolled twice (34 per 32 MACs with the loop
 *         test);
 *   RQ    pw2_rq on a0, a1, b0, b1 (t = ~shift = R - 1, add = oo21 << t: pw_add), SSAT 8; the
 *         test for the last row pair (shift + j against slast; no instruction up to the BNE sets
 *         the flags);
 *   then the stores (pixel b first: see pw2_fast).
 */
#define PW2_PRO                                                                                                 \
    "3:\n\t"                                                                                                    \
    "ldr %[x], %[bp]\n\t"                                                                                       \
    "ldrd %[b0], %[b1], [%[x]]\n\t"                                                                             \
    "ldrd %[a0], %[a1], [%[x]], #8\n\t"                                                                         \
    "str %[x], %[bp]\n\t"                                                                                       \
    "sub %[x], %[xe], %[kk], lsl #2\n\t" /* buf: 4 * k bytes before the end */
#define PW2_ODD "b 2f\n\t"
#define PW2_STEP                                                                                                \
    "ldr %[w1a], [%[wp], %[kk]]\n\t"                                                                            \
    "ldr %[w0a], [%[wp]], #4\n\t"                                                                               \
    "ldrd %[p0], %[p1], [%[x]], #8\n\t"                                                                         \
    "sxtb16 %[w0b], %[w0a], ror #8\n\t"                                                                         \
    "sxtb16 %[w0a], %[w0a]\n\t"                                                                                 \
    "sxtb16 %[w1b], %[w1a], ror #8\n\t"                                                                         \
    "sxtb16 %[w1a], %[w1a]\n\t"                                                                                 \
    "smlad %[a0], %[p0], %[w0a], %[a0]\n\t"                                                                     \
    "smlad %[a0], %[p1], %[w0b], %[a0]\n\t"                                                                     \
    "smlad %[a1], %[p0], %[w1a], %[a1]\n\t"                                                                     \
    "smlad %[a1], %[p1], %[w1b], %[a1]\n\t"                                                                     \
    "ldrd %[p0], %[p1], [%[x]], #8\n\t"                                                                         \
    "smlad %[b0], %[p0], %[w0a], %[b0]\n\t"                                                                     \
    "smlad %[b0], %[p1], %[w0b], %[b0]\n\t"                                                                     \
    "smlad %[b1], %[p0], %[w1a], %[b1]\n\t"                                                                     \
    "smlad %[b1], %[p1], %[w1b], %[b1]\n"
#define PW2_LOOP                                                                                                \
    "1:\n\t" PW2_STEP "2:\n\t" PW2_STEP "\t"                                                                    \
    "cmp %[x], %[xe]\n\t"                                                                                       \
    "blo 1b\n\t"                                                                                                \
    "add %[wp], %[wp], %[kk]\n\t" /* wp was row j + 1's start */
/* y = pw2_rq(y, m, t, add), SSAT 8 (x scratch): SMMLAR adds add to SMMULR's product exactly. */
#define PW2_RQS(y, m, t, add)                                                                                   \
    "lsl %[x], " y ", #1\n\t"                                                                                   \
    "smmlar %[x], %[x], " m ", " add "\n\t"                                                                     \
    "add " y ", %[x], " y ", asr #31\n\t"                                                                       \
    "asr " y ", " y ", " t "\n\t"                                                                               \
    "ssat " y ", #8, " y ", asr #1\n\t"
#define PW2_RQ                                                                                                  \
    "ldr %[x], %[mp]\n\t"                                                                                       \
    "ldrd %[p0], %[p1], [%[x]], #8\n\t"                                                                         \
    "str %[x], %[mp]\n\t"                                                                                       \
    "ldr %[w0b], %[dsh]\n\t" /* shift + j = mult + j + 8 + dsh */                                              \
    "add %[x], %[x], %[w0b]\n\t"                                                                                \
    "ldrd %[w0a], %[w1a], [%[x]]\n\t"                                                                           \
    "ldr %[w0b], %[slast]\n\t"                                                                                  \
    "cmp %[x], %[w0b]\n\t" /* flags for the BNE at the end */                                                 \
    "ldr %[x], %[oo21]\n\t"                                                                                     \
    "mvn %[w0a], %[w0a]\n\t"                                                                                    \
    "lsl %[w0b], %[x], %[w0a]\n\t"                                                                              \
    "mvn %[w1a], %[w1a]\n\t"                                                                                    \
    "lsl %[w1b], %[x], %[w1a]\n\t"                                                                              \
    PW2_RQS("%[b0]", "%[p0]", "%[w0a]", "%[w0b]")                                                               \
    PW2_RQS("%[b1]", "%[p1]", "%[w1a]", "%[w1b]")                                                               \
    PW2_RQS("%[a0]", "%[p0]", "%[w0a]", "%[w0b]")                                                               \
    PW2_RQS("%[a1]", "%[p1]", "%[w1a]", "%[w1b]")
#define PW2_NEXT "bne 3b"
/* Full range: one SSAT is the clamp; byte stores (out_b = out_a + dob), b before a per channel. */
#define PW2_STORE_FULL                                                                                          \
    "ldr %[x], %[oa]\n\t"                                                                                       \
    "ldr %[p0], %[dob]\n\t"                                                                                     \
    "strb %[b0], [%[x], %[p0]]\n\t"                                                                             \
    "strb %[a0], [%[x]], #1\n\t"                                                                                \
    "strb %[b1], [%[x], %[p0]]\n\t"                                                                             \
    "strb %[a1], [%[x]], #1\n\t"                                                                                \
    "str %[x], %[oa]\n\t"
/*
 * [act_min, act_max] inside [-128, 127]: the four bytes packed as (a0, a1, b0, b1), clamped all at
 * once (SSUB8 sets GE per byte, SEL picks: max with act_min, then min with act_max, each byte of
 * lo4 / hi4), two halfword stores (unaligned STRH is allowed on Cortex-M4/M7).
 */
#define PW2_STORE_CLAMP                                                                                         \
    "pkhbt %[p0], %[a0], %[b0], lsl #16\n\t"                                                                    \
    "pkhbt %[p1], %[a1], %[b1], lsl #16\n\t"                                                                    \
    "uxtb16 %[p0], %[p0]\n\t"                                                                                   \
    "uxtb16 %[p1], %[p1]\n\t"                                                                                   \
    "orr %[p0], %[p0], %[p1], lsl #8\n\t"                                                                       \
    "ldr %[w0a], %[lo4]\n\t"                                                                                    \
    "ssub8 %[p1], %[p0], %[w0a]\n\t"                                                                            \
    "sel %[p0], %[p0], %[w0a]\n\t"                                                                              \
    "ldr %[w0a], %[hi4]\n\t"                                                                                    \
    "ssub8 %[p1], %[w0a], %[p0]\n\t"                                                                            \
    "sel %[p0], %[p0], %[w0a]\n\t"                                                                              \
    "ldr %[x], %[oa]\n\t"                                                                                       \
    "ldr %[w0a], %[dob]\n\t"                                                                                    \
    "lsr %[p1], %[p0], #16\n\t"                                                                                 \
    "strh %[p1], [%[x], %[w0a]]\n\t"                                                                            \
    "strh %[p0], [%[x]], #2\n\t"                                                                                \
    "str %[x], %[oa]\n\t"
#define PW2_OUTS                                                                                                \
    [a0] "=&r"(a0), [a1] "=&r"(a1), [b0] "=&r"(b0), [b1] "=&r"(b1), [p0] "=&r"(p0), [p1] "=&r"(p1),             \
        [w0a] "=&r"(w0a), [w0b] "=&r"(w0b), [w1a] "=&r"(w1a), [w1b] "=&r"(w1b), [x] "=&r"(x), [kk] "+r"(kk),   \
        [xe] "+r"(xe), [wp] "+r"(wp), [bp] "+m"(bp), [mp] "+m"(mp), [oa] "+m"(oa)
#define PW2_INS [oo21] "m"(oo21), [slast] "m"(slast), [dsh] "m"(dsh), [dob] "m"(dob)
#define PW2_ASM_FULL(odd) __asm__(PW2_PRO odd PW2_LOOP PW2_RQ PW2_STORE_FULL PW2_NEXT : PW2_OUTS : PW2_INS : "cc", "memory")
#define PW2_ASM_CLAMP(odd)                                                                                      \
    __asm__(PW2_PRO odd PW2_LOOP PW2_RQ PW2_STORE_CLAMP PW2_NEXT                                                \
            : PW2_OUTS                                                                                          \
            : PW2_INS, [lo4] "m"(lo4), [hi4] "m"(hi4)                                                           \
            : "cc", "memory")
#endif

/*
 * mcu_internal_col_pw2_outputs on a layer that passed mcu_internal_pw2_fast_ok (a bias, k a
 * multiple of 4 and at least 4, every channel's requantization in mcu_rqs_apply's range).
 * Pixel b's values are stored before pixel a's, so that with out_b == out_a (the caller's NULL,
 * the same pixel twice) the result is pixel a's.
 */
static inline __attribute__((always_inline)) void pw2_fast(const int16_t *buf, int32_t k, const int8_t *filter,
                                                           const int32_t *bias, int32_t n, const mcu_conv_quant_t *q,
                                                           int8_t *out_a, int8_t *out_b, int full)
{
    const int32_t *mult = q->multiplier, *shift = q->shift;
    const int32_t act_min = q->act_min, act_max = q->act_max;
    const int32_t oo21 = (int32_t)(2u * (uint32_t)q->output_offset + 1u);
    const int16_t *const xend = buf + 2 * k;
    const int8_t *w0 = filter;
    int32_t j = 0;
#if defined(MCU_RT_EMULATE_ACLE)
    for (; j + 2 <= n; j += 2, w0 += 2 * k) {
        const int16_t *x = buf;
        const int8_t *wp = w0;
        int32_t a0 = bias[j], a1 = bias[j + 1];
        int32_t b0 = a0, b1 = a1;
        if (k & 4) {
            MCU_PW2_STEP();
        }
        while (x < xend) {
            MCU_PW2_STEP();
            MCU_PW2_STEP();
        }
        {
            const int32_t m0 = mult[j], t0 = ~shift[j], m1 = mult[j + 1], t1 = ~shift[j + 1];
            const int32_t c0 = (int32_t)((uint32_t)oo21 << t0), c1 = (int32_t)((uint32_t)oo21 << t1);
            out_b[j] = (int8_t)pw2_rq(b0, m0, t0, c0, full, act_min, act_max);
            out_a[j] = (int8_t)pw2_rq(a0, m0, t0, c0, full, act_min, act_max);
            out_b[j + 1] = (int8_t)pw2_rq(b1, m1, t1, c1, full, act_min, act_max);
            out_a[j + 1] = (int8_t)pw2_rq(a1, m1, t1, c1, full, act_min, act_max);
        }
    }
#else
    if (n >= 2) {
        /* The asm's memory operands: cursors into bias[], mult[] and out_a[], the rest by offset. */
        const int32_t *bp = bias, *mp = mult;
        const int32_t *const slast = shift + (n & ~1) - 2;
        const int32_t dsh = (int32_t)((uintptr_t)shift - (uintptr_t)mult) - 8;
        const int32_t dob = (int32_t)((uintptr_t)out_b - (uintptr_t)out_a);
        int8_t *oa = out_a;
        const int8_t *wp = filter;
        const int16_t *xe = xend;
        int32_t a0, a1, b0, b1, p0, p1, w0a, w0b, w1a, w1b, kk = k;
        const int16_t *x;
        if (full) {
            if (k & 4) {
                PW2_ASM_FULL(PW2_ODD);
            } else {
                PW2_ASM_FULL();
            }
        } else {
            /* act_min / act_max in each byte (SSUB8 / SEL). */
            const uint32_t lo4 = ((uint32_t)act_min & 0xFFu) * 0x01010101u;
            const uint32_t hi4 = ((uint32_t)act_max & 0xFFu) * 0x01010101u;
            if (k & 4) {
                PW2_ASM_CLAMP(PW2_ODD);
            } else {
                PW2_ASM_CLAMP();
            }
        }
        j = n & ~1;
        w0 = wp;
    }
#endif
    if (j < n) {
        const int16_t *x = buf;
        const int8_t *wp = w0;
        int32_t a0 = bias[j];
        int32_t b0 = a0;
        do {
            const uint32_t v0 = mcu_load_u32(wp);
            const int32_t w02 = mcu_sxtb16(v0), w13 = mcu_sxtb16_ror8(v0);
            a0 = mcu_smlad(mcu_load_s32(x), w02, a0);
            a0 = mcu_smlad(mcu_load_s32(x + 2), w13, a0);
            b0 = mcu_smlad(mcu_load_s32(x + 4), w02, b0);
            b0 = mcu_smlad(mcu_load_s32(x + 6), w13, b0);
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
 *         PW2_STORE_CLAMP; a no-op on the range [-128, 127]), one halfword store;
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

/* mcu_internal_col_outputs_fast from row j on (full: see pw2_fast). */
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

void mcu_internal_col_pw2_outputs_fast(const int16_t *buf, int32_t k, const int8_t *filter, const int32_t *bias,
                                       int32_t n, const mcu_conv_quant_t *q, int8_t *out_a, int8_t *out_b)
{
    int8_t *const ob = out_b != NULL ? out_b : out_a;
    if (q->act_min == -128 && q->act_max == 127) {
        pw2_fast(buf, k, filter, bias, n, q, out_a, ob, 1);
    } else {
        pw2_fast(buf, k, filter, bias, n, q, out_a, ob, 0);
    }
}

void mcu_internal_col_pw2_outputs(const int16_t *buf, int32_t k, const int8_t *filter, const int32_t *bias,
                                  int32_t n, const mcu_conv_quant_t *q, int8_t *out_a, int8_t *out_b)
{
    /* Parameters in locals: the int8 stores below could alias *q. */
    const int32_t *mult = q->multiplier, *shift = q->shift;
    const int32_t out_off = q->output_offset, act_min = q->act_min, act_max = q->act_max;
    const int32_t k4 = k & ~3;
    const int16_t *const tail = buf + 2 * k4;
    int32_t j = 0, i;
    for (; j + 2 <= n; j += 2) {
        const int8_t *w0 = filter + (size_t)j * (size_t)k;
        const int8_t *w1 = w0 + k;
        const int16_t *x = buf;
        int32_t a0 = bias != NULL ? bias[j] : 0;
        int32_t a1 = bias != NULL ? bias[j + 1] : 0;
        int32_t b0 = a0, b1 = a1;
        for (i = 0; i < k4; i += 4, x += 8) {
            const uint32_t v0 = mcu_load_u32(w0 + i), v1 = mcu_load_u32(w1 + i);
            const int32_t w002 = mcu_sxtb16(v0), w013 = mcu_sxtb16_ror8(v0);
            const int32_t w102 = mcu_sxtb16(v1), w113 = mcu_sxtb16_ror8(v1);
            const int32_t xa02 = mcu_load_s32(x), xa13 = mcu_load_s32(x + 2);
            const int32_t xb02 = mcu_load_s32(x + 4), xb13 = mcu_load_s32(x + 6);
            a0 = mcu_smlad(xa02, w002, a0);
            a0 = mcu_smlad(xa13, w013, a0);
            a1 = mcu_smlad(xa02, w102, a1);
            a1 = mcu_smlad(xa13, w113, a1);
            b0 = mcu_smlad(xb02, w002, b0);
            b0 = mcu_smlad(xb13, w013, b0);
            b1 = mcu_smlad(xb02, w102, b1);
            b1 = mcu_smlad(xb13, w113, b1);
        }
        for (; i < k; ++i) {
            const int32_t xa = tail[i - k4], xb = tail[i - k4 + 4];
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
        const int16_t *x = buf;
        int32_t a0 = bias != NULL ? bias[j] : 0;
        int32_t b0 = a0;
        for (i = 0; i < k4; i += 4, x += 8) {
            const uint32_t v0 = mcu_load_u32(w0 + i);
            const int32_t w02 = mcu_sxtb16(v0), w13 = mcu_sxtb16_ror8(v0);
            a0 = mcu_smlad(mcu_load_s32(x), w02, a0);
            a0 = mcu_smlad(mcu_load_s32(x + 2), w13, a0);
            b0 = mcu_smlad(mcu_load_s32(x + 4), w02, b0);
            b0 = mcu_smlad(mcu_load_s32(x + 6), w13, b0);
        }
        for (; i < k; ++i) {
            a0 += tail[i - k4] * w0[i];
            b0 += tail[i - k4 + 4] * w0[i];
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
