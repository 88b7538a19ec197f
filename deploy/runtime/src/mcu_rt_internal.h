/*
 * Internal helpers of mcu_rt: argument checks, window tap ranges, and the DSP shim.
 *
 * DSP shim: the DSP inner loops call mcu_sxtb16, mcu_sxtab16, mcu_sadd16, mcu_smlad, mcu_smlabb,
 * mcu_smlatt.
 * On Arm (MCU_RT_USE_DSP) they are the arm_acle.h intrinsics; on a host (MCU_RT_USE_DSP and
 * MCU_RT_EMULATE_ACLE) they are bit-exact C definitions of the same instructions (results wrap
 * modulo 2^32 like the hardware; the Q and GE flags are not modelled, nothing here reads them).
 */
#ifndef MCU_RT_INTERNAL_H
#define MCU_RT_INTERNAL_H

#include <string.h>

#include "mcu_rt.h"

#if defined(MCU_RT_USE_DSP)
#if defined(MCU_RT_EMULATE_ACLE)

static inline int32_t mcu_sxtb16(uint32_t x)
{
    /* Sign-extend bytes 0 and 2 into the low and high halfwords. */
    const uint32_t lo = (uint32_t)(int32_t)(int8_t)(x & 0xFFu) & 0xFFFFu;
    const uint32_t hi = (uint32_t)(int32_t)(int8_t)((x >> 16) & 0xFFu) & 0xFFFFu;
    return (int32_t)(lo | (hi << 16));
}

static inline int32_t mcu_sadd16(int32_t a, int32_t b);

static inline int32_t mcu_sxtab16(int32_t a, uint32_t x)
{
    /* a + sxtb16(x), per halfword, wrapping modulo 2^16. */
    return mcu_sadd16(a, mcu_sxtb16(x));
}

static inline int32_t mcu_sadd16(int32_t a, int32_t b)
{
    /* Two independent 16-bit additions, each wrapping modulo 2^16. */
    const uint32_t ua = (uint32_t)a, ub = (uint32_t)b;
    const uint32_t lo = (ua + ub) & 0xFFFFu;
    const uint32_t hi = ((ua >> 16) + (ub >> 16)) & 0xFFFFu;
    return (int32_t)(lo | (hi << 16));
}

static inline int32_t mcu_lo16(int32_t a)
{
    return (int32_t)(int16_t)((uint32_t)a & 0xFFFFu);
}

static inline int32_t mcu_hi16(int32_t a)
{
    return (int32_t)(int16_t)((uint32_t)a >> 16);
}

static inline int32_t mcu_smlad(int32_t a, int32_t b, int32_t acc)
{
    /* acc + lo(a) * lo(b) + hi(a) * hi(b), wrapping modulo 2^32. Each product fits int32. */
    const int32_t p0 = mcu_lo16(a) * mcu_lo16(b);
    const int32_t p1 = mcu_hi16(a) * mcu_hi16(b);
    return (int32_t)((uint32_t)acc + (uint32_t)p0 + (uint32_t)p1);
}

static inline int32_t mcu_smlabb(int32_t a, int32_t b, int32_t acc)
{
    return (int32_t)((uint32_t)acc + (uint32_t)(mcu_lo16(a) * mcu_lo16(b)));
}

static inline int32_t mcu_smlatt(int32_t a, int32_t b, int32_t acc)
{
    return (int32_t)((uint32_t)acc + (uint32_t)(mcu_hi16(a) * mcu_hi16(b)));
}

#else /* the real instructions */

#if !defined(__ARM_FEATURE_DSP) || !defined(__ARM_FEATURE_SIMD32)
#error "MCU_RT_USE_DSP needs a core with the DSP extension (Cortex-M4/M7/M33...), or MCU_RT_EMULATE_ACLE on a host"
#endif
#include <arm_acle.h>

#define mcu_sxtb16(x) __sxtb16((int32_t)(x))
#define mcu_sxtab16(a, x) __sxtab16((a), (int32_t)(x))
#define mcu_sadd16(a, b) __sadd16((a), (b))
#define mcu_smlad(a, b, acc) __smlad((a), (b), (acc))
#define mcu_smlabb(a, b, acc) __smlabb((a), (b), (acc))
#define mcu_smlatt(a, b, acc) __smlatt((a), (b), (acc))

#endif /* MCU_RT_EMULATE_ACLE */

/*
 * mcu_smmulr(a, b) = (a * b + 2^31) >> 32 (int64 product, arithmetic shift): SMMULR.
 * mcu_smmlar(a, b, acc) = acc + mcu_smmulr(a, b) (wrapping; the callers' operands never wrap): SMMLAR.
 * mcu_ssat8(y) = y clamped to [-128, 127]: SSAT #8.
 */
#if defined(MCU_RT_EMULATE_ACLE)
static inline int32_t mcu_smmulr(int32_t a, int32_t b)
{
    return (int32_t)(((int64_t)a * (int64_t)b + ((int64_t)1 << 31)) >> 32);
}

static inline int32_t mcu_smmlar(int32_t a, int32_t b, int32_t acc)
{
    return (int32_t)((uint32_t)acc + (uint32_t)mcu_smmulr(a, b));
}

static inline int32_t mcu_ssat8(int32_t y)
{
    return y < -128 ? -128 : y > 127 ? 127 : y;
}
#else
static inline int32_t mcu_smmulr(int32_t a, int32_t b)
{
    int32_t r;
    __asm__("smmulr %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
    return r;
}

/* No ACLE intrinsic for SMMLAR either. */
static inline int32_t mcu_smmlar(int32_t a, int32_t b, int32_t acc)
{
    int32_t r;
    __asm__("smmlar %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
    return r;
}

#define mcu_ssat8(y) __ssat((y), 8)
#endif

/* Rotate right by 8: with mcu_sxtb16 gives bytes 1 and 3. */
static inline uint32_t mcu_ror8(uint32_t x)
{
    return (x >> 8) | (x << 24);
}

/*
 * mcu_sxtb16(mcu_ror8(x)) and mcu_sxtab16(a, mcu_ror8(x)) in one instruction (GCC 12 does not fuse
 * the rotate into the intrinsics, so on Arm they are inline assembly; not volatile, so scheduled
 * and combined like any expression).
 */
#if defined(MCU_RT_EMULATE_ACLE)
static inline int32_t mcu_sxtb16_ror8(uint32_t x)
{
    return mcu_sxtb16(mcu_ror8(x));
}

static inline int32_t mcu_sxtab16_ror8(int32_t a, uint32_t x)
{
    return mcu_sxtab16(a, mcu_ror8(x));
}
#else
static inline int32_t mcu_sxtb16_ror8(uint32_t x)
{
    int32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return r;
}

static inline int32_t mcu_sxtab16_ror8(int32_t a, uint32_t x)
{
    int32_t r;
    __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(a), "r"(x));
    return r;
}
#endif

static inline uint32_t mcu_load_u32(const void *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v); /* one (unaligned-capable) LDR on Cortex-M4/M7 */
    return v;
}

static inline int32_t mcu_load_s32(const void *p)
{
    int32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void mcu_store_s32(void *p, int32_t v)
{
    memcpy(p, &v, sizeof v);
}

/* Both halfwords set to the int16 value v (an input offset for __sadd16). */
static inline int32_t mcu_pack2_s16(int32_t v)
{
    const uint32_t h = (uint32_t)v & 0xFFFFu;
    return (int32_t)(h | (h << 16));
}

#endif /* MCU_RT_USE_DSP */

/* ------------------------------------------------------------------------------ checks */

/*
 * Views may be empty (h or w 0): a patch tile can need no input pixels of a layer when all its
 * taps fall into the image border (its output is then bias / pad values only), and the layer
 * before then produces an empty window. An empty view's data pointer is never dereferenced.
 */
static inline int mcu_src_ok(const mcu_src_t *v)
{
    return v != NULL && v->data != NULL && v->h >= 0 && v->w >= 0 && v->c > 0 && v->pix_stride >= v->c &&
           v->row_stride >= 0;
}

static inline int mcu_dst_ok(const mcu_dst_t *v)
{
    return v != NULL && v->data != NULL && v->h >= 0 && v->w >= 0 && v->c > 0 && v->pix_stride >= v->c &&
           v->row_stride >= 0;
}

static inline int mcu_window_ok(const mcu_window_t *win)
{
    return win != NULL && win->kernel_h > 0 && win->kernel_w > 0 && win->stride_h > 0 && win->stride_w > 0 &&
           win->dilation_h > 0 && win->dilation_w > 0 && win->pad_top >= 0 && win->pad_bottom >= 0 &&
           win->pad_left >= 0 && win->pad_right >= 0;
}

/* The output size of `win` on an in_h x in_w input equals out_h x out_w. */
static inline int mcu_window_fits(const mcu_window_t *win, int32_t in_h, int32_t in_w, int32_t out_h,
                                  int32_t out_w)
{
    return mcu_window_out_size(in_h, win->kernel_h, win->stride_h, win->dilation_h, win->pad_top,
                               win->pad_bottom) == out_h &&
           mcu_window_out_size(in_w, win->kernel_w, win->stride_w, win->dilation_w, win->pad_left,
                               win->pad_right) == out_w;
}

/* A scratch of `size` bytes is present and 4-byte aligned (checked on every path alike). */
static inline int mcu_scratch_ok(const void *scratch, size_t size)
{
    return size == 0 || (scratch != NULL && ((uintptr_t)scratch & 3u) == 0);
}

static inline size_t mcu_round4(size_t n)
{
    return (n + 3u) & ~(size_t)3u;
}

/*
 * Taps [*lo, *hi) of a window along one axis that fall inside [0, n): tap k reads input
 * index start + k * d. Out-of-image taps are skipped (int8.md).
 */
static inline void mcu_tap_range(int32_t start, int32_t n, int32_t kernel, int32_t dilation, int32_t *lo,
                                 int32_t *hi)
{
    const int32_t a = start < 0 ? (-start + dilation - 1) / dilation : 0;
    int32_t b = n - start <= 0 ? 0 : (n - start + dilation - 1) / dilation;
    b = b > kernel ? kernel : b;
    *lo = a;
    *hi = b < a ? a : b;
}

static inline int8_t mcu_clamp_s8(int32_t y, int32_t lo, int32_t hi)
{
    y = y < lo ? lo : y;
    y = y > hi ? hi : y;
    return (int8_t)y;
}

/* ------------------------------------------------------------ hoisted requantization */

/*
 * mcu_requantize_s8 split into a per-channel part (mcu_rq_make, computed once per channel and
 * reused for every pixel) and a per-value part (mcu_rq_apply), bit-exact with it on the channels
 * where mcu_rq_t.fast holds (multiplier != INT32_MIN, shift <= 0; callers take
 * mcu_requantize_s8 on the others): no left shift, and the doubling high multiply cannot
 * saturate (that needs x = multiplier = INT32_MIN). The rounding divide's mask and threshold
 * are precomputed, and remainder > threshold is the sign of threshold - remainder (both lie in
 * [0, 2^31)).
 */
typedef struct {
    int32_t multiplier, right, mask, half, fast;
} mcu_rq_t;

static inline mcu_rq_t mcu_rq_make(int32_t multiplier, int32_t shift)
{
    mcu_rq_t r;
    r.multiplier = multiplier;
    r.fast = multiplier != INT32_MIN && shift <= 0 && shift >= -31;
    r.right = r.fast ? -shift : 0;
    r.mask = (int32_t)(((uint32_t)1 << r.right) - 1u);
    r.half = r.mask >> 1;
    return r;
}

/* mcu_requantize_s8(acc, multiplier, shift, ...) of a channel with r->fast. */
static inline int32_t mcu_rq_apply(int32_t acc, const mcu_rq_t *r, int32_t output_offset, int32_t act_min,
                                   int32_t act_max)
{
    const int32_t high = (int32_t)(((int64_t)acc * (int64_t)r->multiplier + ((int64_t)1 << 30)) >> 31);
    const int32_t threshold = r->half - (high >> 31); /* + 1 when high < 0 */
    const int32_t above = (int32_t)((uint32_t)(threshold - (high & r->mask)) >> 31);
    int32_t y = (high >> r->right) + above + output_offset;
    y = y < act_min ? act_min : y;
    y = y > act_max ? act_max : y;
    return y;
}

#if defined(MCU_RT_USE_DSP)
/*
 * A shorter exact form of mcu_requantize_s8 (before the clamp) for the DSP kernels, valid for a
 * channel when mcu_rqs_make returns 1, i.e. when (checked with int64 arithmetic), with A a bound
 * on |acc| (|bias| + acc_range, where the caller passes a bound acc_range on |acc - bias|, e.g.
 * taps * 128 * 256 for int8 inputs and weights with |input_offset| <= 128):
 *   - A < 2^30 (so 2 * acc fits int32);
 *   - shift in [-30, -1] (R = -shift >= 1: a right shift, no left shift);
 *   - with add = output_offset * 2^R + 2^(R-1) and H = A + 1: |add| + H + 1 <= 2^31 - 1.
 * Then:
 *   1. high = (acc * mult + 2^30) >> 31 (int8.md step 2, floor; the gemmlowp nudge-and-truncate
 *      form equals this floor, and cannot saturate as |acc| < 2^31 / 2) equals
 *      SMMULR(2 * acc, mult) = (2 * acc * mult + 2^31) >> 32, 2 * acc fitting int32;
 *      |high| <= |acc| * |mult| / 2^31 + 1 <= A + 1 = H as |mult| <= 2^31.
 *   2. With high = q * 2^R + rem (0 <= rem < 2^R), step 3 is q + (rem >= 2^(R-1) + (high < 0)),
 *      which is (high + 2^(R-1) - (high < 0)) >> R; the output offset times 2^R is added inside
 *      the shift (exact: it is a multiple of 2^R). So
 *      y = (high + add + (high >> 31)) >> R,
 *      without int32 overflow by the last condition.
 * The clamp to [act_min, act_max] follows (mcu_ssat8 when that range is [-128, 127]).
 */
typedef struct {
    int32_t mult, right, add;
} mcu_rqs_t;

static inline int mcu_rqs_make(mcu_rqs_t *r, int32_t multiplier, int32_t shift, int32_t bias, int32_t acc_range,
                               int32_t output_offset)
{
    const int64_t a = (bias < 0 ? -(int64_t)bias : (int64_t)bias) + (int64_t)acc_range;
    int64_t add;
    if (shift > -1 || shift < -30 || acc_range < 0 || a >= ((int64_t)1 << 30)) {
        return 0;
    }
    add = (int64_t)output_offset * ((int64_t)1 << -shift) + ((int64_t)1 << (-shift - 1));
    if ((add < 0 ? -add : add) + (a + 1) + 1 > (int64_t)INT32_MAX) {
        return 0;
    }
    r->mult = multiplier;
    r->right = -shift;
    r->add = (int32_t)add;
    return 1;
}

static inline int32_t mcu_rqs_apply(int32_t acc, int32_t mult, int32_t right, int32_t add)
{
    const int32_t high = mcu_smmulr(acc * 2, mult);
    return (high + add + (high >> 31)) >> right;
}

/* A bound on |acc - bias| of a sum of `taps` products (x + input_offset) * w, or -1 when none fits. */
static inline int32_t mcu_rqs_acc_range(int32_t taps, int32_t input_offset)
{
    if (input_offset < -128 || input_offset > 128 || taps < 0 || taps > 16383) {
        return -1;
    }
    return taps * (128 * 256);
}
#endif

/* ----------------------------------------------------------- shared inner loops (internal) */

/*
 * One output row of a depthwise convolution over in_c channels. rows[ky] points at pixel (row,
 * col 0) of the input row read by kernel row ky (only ky in [ky0, ky1) are read) and row_pix[ky]
 * is that row's pixel stride, so rows may come from the map or from a saved copy (the in-place
 * kernel). Tap t of output channel j weighs filter[t * filter_stride + j] (filter_stride: the
 * filter's channel count; larger than in_c * depth_multiplier when the call covers a channel
 * slice, filter, bias and q's arrays then starting at the slice's first channel).
 */
void mcu_internal_dw_row_s8(const int8_t *const *rows, const int32_t *row_pix, int32_t ky0, int32_t ky1,
                            int32_t in_w, int32_t in_c, const int8_t *filter, int32_t filter_stride,
                            const int32_t *bias,
                            const mcu_window_t *win, int32_t depth_multiplier, const mcu_conv_quant_t *q,
                            int8_t *out_row, int32_t out_w, int32_t out_pix_stride);

#if defined(MCU_RT_USE_DSP)
/*
 * DSP path of the depthwise kernels (depth multiplier 1, kernels of up to MCU_DW_DSP_TAPS taps): the
 * per-channel work of up to MCU_DW_PREP_GROUPS groups of four channels (weights unpacked by
 * __sxtb16, bias, requantization constants) done once by mcu_internal_dw_prep, then used for every
 * output row by mcu_internal_dw_row_prep, so that it is not redone per row (the non-in-place kernel
 * goes block of 16 channels by block, the in-place kernel slice by slice).
 */
#define MCU_DW_DSP_TAPS 49
#define MCU_DW_PREP_GROUPS 4

typedef struct {
    int32_t bias[4];   /* doubled in mode 2 */
    int32_t rqs[4][2]; /* mode 2: per channel mcu_rqs_t's mult, add */
    int32_t right[4];  /* mode 2: per channel mcu_rqs_t's right (apart: the assembly loads them in pairs) */
    int32_t mode;      /* 2: mcu_rqs_t short form on 2 * acc (weights doubled); 1: all channels mcu_rq_t.fast; 0: neither */
} mcu_dw_group_t;

/*
 * Unpacked weights: tap t of a group at w[2 t] (channels 0, 2) and w[2 t + 1] (channels 1, 3), int16
 * pairs, doubled in mode 2. When all groups fit in w (wprep: groups * taps <= MCU_DW_DSP_TAPS, e.g.
 * 3 x 3 kernels) group g starts at w + 2 * taps * g, unpacked once; else the row kernel unpacks one
 * group at a time into w (the stack the firmware reserves does not hold 16 channels of 7 x 7).
 */
typedef struct {
    mcu_dw_group_t g[MCU_DW_PREP_GROUPS];
    int32_t w[2 * MCU_DW_DSP_TAPS];
    const int8_t *filter;
    const int32_t *bias;
    int32_t fstride, c0, nch, groups, taps, wprep;
} mcu_dw_prep_t;

/*
 * Prepares channels [c0, c0 + nch) (nch <= 4 * MCU_DW_PREP_GROUPS) of a depthwise layer with depth
 * multiplier 1 (filter, bias, q's arrays indexed by channel, fstride: the filter's channel count).
 * Returns 0 when the DSP row kernel does not apply (fewer than 4 channels, more than
 * MCU_DW_DSP_TAPS taps): the caller then takes mcu_internal_dw_row_s8.
 */
int mcu_internal_dw_prep(mcu_dw_prep_t *p, const int8_t *filter, int32_t fstride, const int32_t *bias,
                         const mcu_window_t *win, const mcu_conv_quant_t *q, int32_t c0, int32_t nch);

/*
 * mcu_internal_dw_row_s8 (depth multiplier 1) for the prepared channels [c0, c0 + nch) of one
 * output row: rows, row_pix, out_row as there (channel 0 of the layer's numbering at rows[ky]
 * and out_row).
 */
void mcu_internal_dw_row_prep(mcu_dw_prep_t *p, const int8_t *const *rows, const int32_t *row_pix,
                              int32_t ky0, int32_t ky1, int32_t in_w, const mcu_window_t *win,
                              const mcu_conv_quant_t *q, int8_t *out_row, int32_t out_w, int32_t out_pix_stride);
#endif

#if defined(MCU_RT_USE_DSP)
/*
 * The DSP dot product reads its int16 column of k taps in round4(k) entries, groups of four stored
 * as (x0, x2, x1, x3), the order in which __sxtb16 / __sxtb16(ror 8) unpack four int8 weights; the
 * last group holds the last 1 to 4 taps right-aligned, zeros before them (dsp_column.c).
 * mcu_internal_col_index maps tap p to its storage index.
 */
static inline int32_t mcu_internal_col_index(int32_t p, int32_t k)
{
    static const int8_t order[4] = {0, 2, 1, 3};
    const int32_t k4 = (k + 3) & ~3;
    const int32_t q = p < k4 - 4 ? p : p + k4 - k; /* the slot in natural order */
    return (q & ~3) + order[q & 3];
}

/*
 * The column of the k int8 values at px (+ offset). Reads px[0 .. k) only. px may also be the
 * column's own upper half, (const int8_t *)col + round4(k) (a general conv stages a pixel's taps
 * there): each group is read before the bytes it overwrites.
 */
void mcu_internal_col_pack(int16_t *col, const int8_t *px, int32_t k, int32_t offset);

/*
 * mcu_internal_col_pack of rows * run values that lie in `rows` runs of `run` bytes, src + r * step
 * (a general conv's pixel whose taps are all in the image): staged in the column's upper half.
 */
void mcu_internal_col_pack_rows(int16_t *col, const int8_t *src, ptrdiff_t step, int32_t rows, int32_t run,
                                int32_t offset);

/* acc + sum_i col[i] * w[i] over a k-tap column (reordered layout) and k int8 weights (reads w[0 .. k) only). */
int32_t mcu_internal_dot_s16_s8(const int16_t *col, const int8_t *w, int32_t k, int32_t acc);

/*
 * Four pixels of a 1x1 conv (px[0 .. 3]: a, b, c, d; they may repeat), packed by
 * mcu_internal_col_pw4_pack: widened to int16 with the input offset added, and for each group of
 * four channels the pixels' (x0, x2), (x1, x3) (the reordered column layout) in turn: eight words,
 * pixels a and b in the first four, c and d in the last (one LDM of four registers each); a group
 * of k % 4 channels last, in order and zero-padded to four per pixel. 8 * round4(k) bytes. dbl:
 * every value doubled (for mcu_internal_col_pw4_outputs_fast, which sums 2 * acc; k % 4 == 0).
 */
void mcu_internal_col_pw4_pack(int16_t *buf, const int8_t *const px[4], int32_t k, int32_t offset, int dbl);

/*
 * All n output channels of the four pixels of a packed block: out[s][j] = requant(bias[j] + pixel
 * s . w[j]); out[1 .. 3] NULL: that pixel is not stored. One channel x four pixels per step.
 */
void mcu_internal_col_pw4_outputs(const int16_t *buf, int32_t k, const int8_t *filter, const int32_t *bias,
                                  int32_t n, const mcu_conv_quant_t *q, int8_t *const out[4]);

/*
 * Whether a layer has a bias and every one of its n channels passes mcu_rqs_make for sums of k
 * products (checked once per call of the layer).
 */
int mcu_internal_rqs_layer_ok(int32_t k, const int32_t *bias, int32_t n, const mcu_conv_quant_t *q);

/*
 * mcu_internal_rqs_layer_ok for a 1x1 layer (k input channels, n output channels), k also a
 * multiple of 4 and every multiplier >= 0: mcu_internal_col_pw4_outputs_fast may replace
 * mcu_internal_col_pw4_outputs (and, for a single pixel, mcu_internal_col1_outputs_fast applies).
 */
int mcu_internal_pw4_fast_ok(int32_t k, const int32_t *bias, int32_t n, const mcu_conv_quant_t *q);

/* mcu_internal_col_outputs, bit-exact, on a layer where mcu_internal_rqs_layer_ok(k, ...) holds. */
void mcu_internal_col_outputs_fast(const int16_t *col, int32_t k, const int8_t *filter, const int32_t *bias,
                                   int32_t n, const mcu_conv_quant_t *q, int8_t *out);

/*
 * mcu_internal_col_outputs_fast on a layer where mcu_internal_pw4_fast_ok holds (k a multiple of
 * 4), the column from mcu_internal_col_pack: four filter rows at a time (the 1x1's single pixels).
 */
void mcu_internal_col1_outputs_fast(const int16_t *col, int32_t k, const int8_t *filter, const int32_t *bias,
                                    int32_t n, const mcu_conv_quant_t *q, int8_t *out);

/*
 * mcu_internal_col_pw4_outputs, bit-exact, on a layer where mcu_internal_pw4_fast_ok holds, from
 * the pixels packed doubled; all four out[s] given (a repeated pixel may repeat its output: the
 * same values are stored twice).
 */
void mcu_internal_col_pw4_outputs_fast(const int16_t *buf, int32_t k, const int8_t *filter, const int32_t *bias,
                                       int32_t n, const mcu_conv_quant_t *q, int8_t *const out[4]);

/*
 * mcu_internal_col_pw4_outputs_fast for four columns of a general conv with k taps, any k >= 4
 * (rows of k weights), on a layer where mcu_internal_pw4_fast_ok(round4(k), ...) holds: packed
 * doubled by mcu_internal_col_pw4_pack from round4(k) bytes per pixel, taps 0 .. r - 1 of the first
 * group (r = 4 - (round4(k) - k)) in its first r bytes and values that widen to 0 after them, then
 * the taps r .. k - 1. The first group's weights are w[0 .. 4) (those past r meet the zeros), the
 * others w[r + 4i .. r + 4i + 4): no read outside a row.
 */
void mcu_internal_col_pw4_gap_outputs_fast(const int16_t *buf, int32_t k, const int8_t *filter,
                                           const int32_t *bias, int32_t n, const mcu_conv_quant_t *q,
                                           int8_t *const out[4]);

/* All n output channels of one column: out[j] = requant(bias[j] + col . w[j]) (filter rows of length k). */
void mcu_internal_col_outputs(const int16_t *col, int32_t k, const int8_t *filter, const int32_t *bias, int32_t n,
                              const mcu_conv_quant_t *q, int8_t *out);
#else
/*
 * Portable path: the column in natural order. col[i] = (int16_t)(px[i] + offset) for i < n (the
 * column is scratch, never the input). Main loops of a multiple of 16 iterations: GCC -O2
 * vectorizes them without run-time checks.
 */
static inline void mcu_internal_col_widen(int16_t *restrict col, const int8_t *restrict px, int32_t n,
                                          int32_t offset)
{
    int32_t i = 0, j;
    for (; i + 16 <= n; i += 16) {
        for (j = 0; j < 16; ++j) {
            col[i + j] = (int16_t)(px[i + j] + offset);
        }
    }
    for (; i < n; ++i) {
        col[i] = (int16_t)(px[i] + offset);
    }
}

/* col[i] = 0 for i < n (taps outside the map). */
static inline void mcu_internal_col_zero(int16_t *col, int32_t n)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        col[i] = 0;
    }
}

/* All n output channels of a natural-order column: out[j] = requant(bias[j] + col . w[j]), rows of length k. */
void mcu_internal_col_dot_outputs(const int16_t *col, int32_t k, const int8_t *filter, const int32_t *bias,
                                  int32_t n, const mcu_conv_quant_t *q, int8_t *out);
#endif

#endif /* MCU_RT_INTERNAL_H */
