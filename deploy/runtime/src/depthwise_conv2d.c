/*
 * DEPTHWISE_CONV_2D: any kernel, stride, dilation, pads and depth multiplier. The row kernel
 * (mcu_internal_dw_row_s8) is shared with the in-place variant. DSP path (depth multiplier 1):
 * four channels per step, __sxtb16 unpacks input and weight words, __sxtab16 / __sadd16 add the
 * input offset to two channels at once, __smlabb / __smlatt accumulate (a depthwise sum runs over
 * taps, not channels, so the dual __smlad has no pair of products to add). Kernels of up to 7 x 7
 * taps: mcu_internal_dw_prep unpacks the weights and hoists the bias and requantization of up to
 * 16 channels once (this kernel goes block of 16 channels by block, all rows each; the in-place
 * kernel slice by slice), then mcu_internal_dw_row_prep does a row of them, channel group by
 * group; interior pixels of 3/5/7-wide kernels in Cortex-M assembly (DW_PIXEL), border pixels
 * (dilation 1) in the same assembly over their in-map taps (DW_BPIXEL). Portable path
 * (depth multiplier 1, at least 4 channels): blocks of 16 channels (of 4 below 16 channels), see
 * dw_block.
 */
#include "mcu_rt_internal.h"

size_t mcu_depthwise_conv2d_s8_scratch_size(void)
{
    return 0;
}

/* Output channels [c_begin, oc_n) of one output pixel, one channel at a time. */
static void dw_pixel_scalar(const int8_t *const *rows, const int32_t *row_pix, int32_t ky0, int32_t ky1,
                            int32_t kx0, int32_t kx1, int32_t x0, int32_t c_begin, int32_t oc_n,
                            const int8_t *filter, int32_t fstride, const int32_t *bias, const mcu_window_t *win, int32_t m,
                            const mcu_conv_quant_t *q, int8_t *dst)
{
    int32_t oc, ky, kx;
    for (oc = c_begin; oc < oc_n; ++oc) {
        const int32_t ic = oc / m;
        int32_t acc = bias != NULL ? bias[oc] : 0;
        for (ky = ky0; ky < ky1; ++ky) {
            const int8_t *row = rows[ky];
            for (kx = kx0; kx < kx1; ++kx) {
                const int8_t x = row[(ptrdiff_t)(x0 + kx * win->dilation_w) * row_pix[ky] + ic];
                acc += (x + q->input_offset) * filter[(ky * win->kernel_w + kx) * fstride + oc];
            }
        }
        dst[oc] = mcu_requantize_s8(acc, q->multiplier[oc], q->shift[oc], q->output_offset, q->act_min, q->act_max);
    }
}

#if !defined(MCU_RT_USE_DSP)
/*
 * Portable path, depth multiplier 1: channels [c, c + nb) of one output pixel (nb: 16, or 4 for
 * the in-place kernel's four-channel slices), nb accumulators.
 * The innermost loop runs a fixed count over channels, contiguous in the input pixel and in the
 * filter: a shape that a compiler's cheapest auto-vectorizer (GCC -O2) handles, the accumulators
 * staying in registers across the taps. (int16_t)(x + input_offset) is exact (the caller checks
 * that the offset fits), so every product and the int32 sum equal dw_pixel_scalar's.
 */
#define MCU_DW_BLOCK 16

static inline __attribute__((always_inline)) void dw_block(
    const int8_t *const *rows, const int32_t *row_pix, int32_t ky0, int32_t ky1, int32_t kx0, int32_t kx1,
    int32_t x0, int32_t c, int32_t fstride, const int8_t *filter, const int32_t *bias, const mcu_window_t *win,
    const mcu_conv_quant_t *q, int8_t *dst, const int32_t nb)
{
    const int32_t off = q->input_offset;
    int32_t acc[MCU_DW_BLOCK];
    int32_t ky, kx, j;
    for (j = 0; j < nb; ++j) {
        acc[j] = 0;
    }
    if (bias != NULL) {
        for (j = 0; j < nb; ++j) {
            acc[j] = bias[c + j];
        }
    }
    for (ky = ky0; ky < ky1 && kx0 < kx1; ++ky) {
        const ptrdiff_t step = (ptrdiff_t)win->dilation_w * row_pix[ky];
        const int8_t *xp = rows[ky] + (ptrdiff_t)(x0 + kx0 * win->dilation_w) * row_pix[ky] + c;
        const int8_t *wp = filter + (ptrdiff_t)(ky * win->kernel_w + kx0) * fstride + c;
        for (kx = kx0; kx < kx1; ++kx) {
            for (j = 0; j < nb; ++j) {
                acc[j] += (int16_t)(xp[j] + off) * wp[j];
            }
            xp += step;
            wp += fstride;
        }
    }
    {
        /* Parameters in locals: the int8 stores below could alias *q, forcing a reload per channel. */
        const int32_t *mult = q->multiplier + c, *shift = q->shift + c;
        const int32_t out_off = q->output_offset, act_min = q->act_min, act_max = q->act_max;
        for (j = 0; j < nb; ++j) {
            dst[c + j] = mcu_requantize_s8(acc[j], mult[j], shift[j], out_off, act_min, act_max);
        }
    }
}
#endif

#if defined(MCU_RT_USE_DSP)
/*
 * SMMLAR: acc + mcu_smmulr(a, b) (wrapping; the callers' operands never wrap). No ACLE intrinsic, so
 * inline assembly on Arm, like mcu_smmulr.
 */
#if defined(MCU_RT_EMULATE_ACLE)
static inline int32_t dw_smmlar(int32_t a, int32_t b, int32_t acc)
{
    return (int32_t)((uint32_t)acc + (uint32_t)mcu_smmulr(a, b));
}
#else
static inline int32_t dw_smmlar(int32_t a, int32_t b, int32_t acc)
{
    int32_t r;
    __asm__("smmlar %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
    return r;
}
#endif

/*
 * Group modes: 2 when every channel passes mcu_rqs_make with a multiplier >= 0; the weights and the
 * bias are then stored doubled, so the sums are 2 * acc (|acc| < 2^30: exact, and 2 * w fits an
 * int16 lane), and the output is (SMMLAR(2 acc, mult, add) + (acc >> 31)) >> right: mcu_rqs_apply
 * with [acc < 0] for [high < 0], which differs only when acc < 0 and high = 0 (with mult >= 0, high
 * < 0 implies acc < 0), and there both give (add or add - 1) >> right = output_offset as right >= 1.
 */
/* Unpacks the weights of taps [t0, t1) of group g (mode 2: doubled) to w (tap t at w + 2 t). */
static void mcu_internal_dw_unpack(const mcu_dw_prep_t *p, int32_t g, int32_t *w, int32_t t0, int32_t t1)
{
    const ptrdiff_t fs = p->fstride;
    const int8_t *f = p->filter + (ptrdiff_t)t0 * fs + p->c0 + 4 * g;
    int32_t *o = w + 2 * t0;
    int32_t *const oend = w + 2 * t1;
    if (p->g[g].mode == 2) {
        for (; o < oend; o += 2, f += fs) {
            const uint32_t wv = mcu_load_u32(f);
            const int32_t w02 = mcu_sxtb16(wv), w13 = mcu_sxtb16_ror8(wv);
            o[0] = mcu_sadd16(w02, w02);
            o[1] = mcu_sadd16(w13, w13);
        }
    } else {
        for (; o < oend; o += 2, f += fs) {
            const uint32_t wv = mcu_load_u32(f);
            o[0] = mcu_sxtb16(wv);
            o[1] = mcu_sxtb16_ror8(wv);
        }
    }
}

int mcu_internal_dw_prep(mcu_dw_prep_t *p, const int8_t *filter, int32_t fstride, const int32_t *bias,
                         const mcu_window_t *win, const mcu_conv_quant_t *q, int32_t c0, int32_t nch)
{
    const int32_t taps = win->kernel_h * win->kernel_w;
    const int32_t range = mcu_rqs_acc_range(taps, q->input_offset);
    int32_t g;
    if (nch < 4 || taps > MCU_DW_DSP_TAPS || nch > 4 * MCU_DW_PREP_GROUPS) {
        return 0;
    }
    p->filter = filter;
    p->bias = bias;
    p->fstride = fstride;
    p->c0 = c0;
    p->nch = nch;
    p->groups = nch / 4;
    p->taps = taps;
    p->wprep = p->groups * taps <= MCU_DW_DSP_TAPS;
    for (g = 0; g < p->groups; ++g) {
        mcu_dw_group_t *d = &p->g[g];
        const int32_t c = c0 + 4 * g;
        int32_t j, short_form = 1, fast = 1;
        for (j = 0; j < 4; ++j) {
            mcu_rqs_t rs;
            d->bias[j] = bias != NULL ? bias[c + j] : 0;
            if (mcu_rqs_make(&rs, q->multiplier[c + j], q->shift[c + j], d->bias[j], range, q->output_offset) &&
                rs.mult >= 0) {
                d->rqs[j][0] = rs.mult;
                d->rqs[j][1] = rs.add;
                d->rqs[j][2] = rs.right;
            } else {
                short_form = 0;
            }
        }
        for (j = 0; j < 4 && !short_form; ++j) {
            fast = fast && mcu_rq_make(q->multiplier[c + j], q->shift[c + j]).fast;
        }
        d->mode = short_form ? 2 : fast ? 1 : 0;
        for (j = 0; j < 4 && short_form; ++j) {
            d->bias[j] *= 2;
        }
        if (p->wprep) {
            mcu_internal_dw_unpack(p, g, p->w + 2 * taps * g, 0, taps);
        }
    }
    return 1;
}

/* One tap of four channels: the input word at xp (input offset added) times the unpacked weights at wp. */
#define MCU_DW_TAP(xp, wp)                                                                                      \
    do {                                                                                                        \
        const uint32_t xv_ = mcu_load_u32(xp);                                                                  \
        const int32_t x02_ = mcu_sxtab16(off2, xv_), x13_ = mcu_sxtab16_ror8(off2, xv_);                         \
        a0 = mcu_smlabb(x02_, (wp)[0], a0);                                                                     \
        a2 = mcu_smlatt(x02_, (wp)[0], a2);                                                                     \
        a1 = mcu_smlabb(x13_, (wp)[1], a1);                                                                     \
        a3 = mcu_smlatt(x13_, (wp)[1], a3);                                                                     \
    } while (0)

/* Interior pixels take DW_PIXEL for kernels of up to this many rows (kr on the stack). */
#define MCU_DW_KR_ROWS 7

/*
 * Kernel row ky of the current row and group: cur, the address of the channel group in the first
 * tap of the next interior output pixel (advanced by pstep per pixel), tstep the step between taps.
 */
typedef struct {
    const int8_t *cur;
    int32_t pstep, tstep;
} dw_krow_t;

/*
 * One interior output pixel of a group, kernel width KW (3, 5 or 7): the sums start at the four
 * words at B_ (the bias), then for each kernel row
 * [kr, kend) (at least one), its taps at kr->cur + kx * kr->tstep times the weights from wp on
 * (two words per tap, consecutive over the rows), kr->cur advanced to the next pixel; the sums in
 * a0..a3, the input offset in off2 (the caller's variables). On Arm one
 * assembly loop: GCC keeps too few of the loops' values in registers (about a third of its
 * instructions were spills, reloads and address arithmetic).
 */
#if defined(MCU_RT_EMULATE_ACLE)
#define DW_PIXEL(KW, KR_, KEND_, WP_, B_)                                                                       \
    do {                                                                                                        \
        dw_krow_t *k_;                                                                                          \
        const int32_t *w_ = (WP_);                                                                              \
        a0 = (B_)[0];                                                                                           \
        a1 = (B_)[1];                                                                                           \
        a2 = (B_)[2];                                                                                           \
        a3 = (B_)[3];                                                                                           \
        for (k_ = (KR_); k_ < (KEND_); ++k_) {                                                                    \
            const int8_t *xp_ = k_->cur;                                                                        \
            int32_t kx_;                                                                                        \
            k_->cur = xp_ + k_->pstep;                                                                          \
            for (kx_ = 0; kx_ < (KW); ++kx_, w_ += 2) {                                                         \
                MCU_DW_TAP(xp_ + (ptrdiff_t)kx_ * k_->tstep, w_);                                               \
            }                                                                                                   \
        }                                                                                                       \
    } while (0)
#define DW_BPIXEL(KW, N, KR_, KEND_, WP_, B_)                                                                   \
    do {                                                                                                        \
        dw_krow_t *k_;                                                                                          \
        const int32_t *w_ = (WP_);                                                                              \
        a0 = (B_)[0];                                                                                           \
        a1 = (B_)[1];                                                                                           \
        a2 = (B_)[2];                                                                                           \
        a3 = (B_)[3];                                                                                           \
        for (k_ = (KR_); k_ < (KEND_); ++k_, w_ += 2 * ((KW) - (N))) {                                          \
            const int8_t *xp_ = k_->cur;                                                                        \
            int32_t kx_;                                                                                        \
            k_->cur = xp_ + k_->pstep;                                                                          \
            for (kx_ = 0; kx_ < (N); ++kx_, w_ += 2) {                                                          \
                MCU_DW_TAP(xp_ + (ptrdiff_t)kx_ * k_->tstep, w_);                                               \
            }                                                                                                   \
        }                                                                                                       \
    } while (0)
#else
/* One tap: the input word loaded by LD, the weights by LDRD (post-increment). */
#define DW_ASM_TAP(LD)                                                                                          \
    LD "\n\t"                                                                                                   \
    "ldrd %[w0], %[w1], [%[wp]], #8\n\t"                                                                        \
    "sxtab16 %[x02], %[off2], %[x]\n\t"                                                                         \
    "sxtab16 %[x], %[off2], %[x], ror #8\n\t"                                                                   \
    "smlabb %[a0], %[x02], %[w0], %[a0]\n\t"                                                                    \
    "smlatt %[a2], %[x02], %[w0], %[a2]\n\t"                                                                    \
    "smlabb %[a1], %[x], %[w1], %[a1]\n\t"                                                                      \
    "smlatt %[a3], %[x], %[w1], %[a3]\n\t"
#define DW_ASM_TAPS1 DW_ASM_TAP("ldr %[x], [%[xp]]")
#define DW_ASM_TAPS2 DW_ASM_TAPS1 DW_ASM_TAP("ldr %[x], [%[xp], %[ts]]")
#define DW_ASM_TAPS3 DW_ASM_TAPS2 DW_ASM_TAP("ldr %[x], [%[xp], %[ts], lsl #1]")
#define DW_ASM_TAPS4 DW_ASM_TAPS3 "add %[xp], %[xp], %[ts], lsl #1\n\t" DW_ASM_TAP("ldr %[x], [%[xp], %[ts]]")
#define DW_ASM_TAPS5 DW_ASM_TAPS4 DW_ASM_TAP("ldr %[x], [%[xp], %[ts], lsl #1]")
#define DW_ASM_TAPS6 DW_ASM_TAPS5 "add %[xp], %[xp], %[ts], lsl #1\n\t" DW_ASM_TAP("ldr %[x], [%[xp], %[ts]]")
#define DW_ASM_TAPS7 DW_ASM_TAPS6 DW_ASM_TAP("ldr %[x], [%[xp], %[ts], lsl #1]")
#define DW_PIXEL_ASM(N, SKIP, KR_, KEND_, WP_, B_)                                                                       \
    do {                                                                                                        \
        dw_krow_t *k_ = (KR_);                                                                                  \
        const int32_t *w_ = (WP_);                                                                              \
        const int8_t *xp_ = (const int8_t *)(B_); /* the bias first, then the taps */                           \
        int32_t ts_, x_, x02_, w0_, w1_;                                                                        \
        __asm__ volatile("ldrd %[a0], %[a1], [%[xp]]\n\t"                                                       \
                         "ldrd %[a2], %[a3], [%[xp], #8]\n\t"                                                   \
                         "1:\n\t"                                                                               \
                         "ldr %[xp], [%[kr]]\n\t"                                                               \
                         "ldrd %[x02], %[ts], [%[kr], #4]\n\t"                                                  \
                         "add %[x02], %[xp], %[x02]\n\t"                                                        \
                         "str %[x02], [%[kr]], #12\n\t"                                                         \
                         DW_ASM_TAPS##N SKIP                                                                    \
                         "cmp %[kr], %[kend]\n\t"                                                               \
                         "bne 1b\n\t"                                                                           \
                         : [a0] "=&r"(a0), [a1] "=&r"(a1), [a2] "=&r"(a2), [a3] "=&r"(a3), [kr] "+r"(k_),     \
                           [wp] "+r"(w_), [xp] "+&r"(xp_), [ts] "=&r"(ts_), [x] "=&r"(x_), [x02] "=&r"(x02_),  \
                           [w0] "=&r"(w0_), [w1] "=&r"(w1_)                                                     \
                         : [off2] "r"(off2), [kend] "r"(KEND_)                                                  \
                         : "cc", "memory");                                                                     \
    } while (0)
#define DW_PIXEL(KW, KR_, KEND_, WP_, B_) DW_PIXEL_ASM(KW, "", KR_, KEND_, WP_, B_)
/* A border pixel: N taps of each kernel row (the first at kr->cur), then the weights of the KW - N others skipped. */
#define DW_BPIXEL(KW, N, KR_, KEND_, WP_, B_)                                                                   \
    DW_PIXEL_ASM(N, "add %[wp], %[wp], #8*(" #KW "-" #N ")\n\t", KR_, KEND_, WP_, B_)
#endif

/* The four outputs of a group (sums a0..a3) stored at dst. */
static inline __attribute__((always_inline)) void dw_store4(const mcu_dw_group_t *d, int32_t a0, int32_t a1,
                                                            int32_t a2, int32_t a3, int8_t *dst, int full,
                                                            const mcu_conv_quant_t *q, const int32_t *mult,
                                                            const int32_t *shift, const mcu_rq_t *rq)
{
    const int32_t act_min = q->act_min, act_max = q->act_max;
    if (d->mode == 2) {
        const int32_t y0 = (dw_smmlar(a0, d->rqs[0][0], d->rqs[0][1]) + (a0 >> 31)) >> d->rqs[0][2];
        const int32_t y1 = (dw_smmlar(a1, d->rqs[1][0], d->rqs[1][1]) + (a1 >> 31)) >> d->rqs[1][2];
        const int32_t y2 = (dw_smmlar(a2, d->rqs[2][0], d->rqs[2][1]) + (a2 >> 31)) >> d->rqs[2][2];
        const int32_t y3 = (dw_smmlar(a3, d->rqs[3][0], d->rqs[3][1]) + (a3 >> 31)) >> d->rqs[3][2];
        if (full) {
            dst[0] = (int8_t)mcu_ssat8(y0);
            dst[1] = (int8_t)mcu_ssat8(y1);
            dst[2] = (int8_t)mcu_ssat8(y2);
            dst[3] = (int8_t)mcu_ssat8(y3);
        } else {
            dst[0] = mcu_clamp_s8(y0, act_min, act_max);
            dst[1] = mcu_clamp_s8(y1, act_min, act_max);
            dst[2] = mcu_clamp_s8(y2, act_min, act_max);
            dst[3] = mcu_clamp_s8(y3, act_min, act_max);
        }
    } else if (d->mode == 1) {
        const int32_t out_off = q->output_offset;
        dst[0] = (int8_t)mcu_rq_apply(a0, &rq[0], out_off, act_min, act_max);
        dst[1] = (int8_t)mcu_rq_apply(a1, &rq[1], out_off, act_min, act_max);
        dst[2] = (int8_t)mcu_rq_apply(a2, &rq[2], out_off, act_min, act_max);
        dst[3] = (int8_t)mcu_rq_apply(a3, &rq[3], out_off, act_min, act_max);
    } else {
        const int32_t out_off = q->output_offset;
        dst[0] = mcu_requantize_s8(a0, mult[0], shift[0], out_off, act_min, act_max);
        dst[1] = mcu_requantize_s8(a1, mult[1], shift[1], out_off, act_min, act_max);
        dst[2] = mcu_requantize_s8(a2, mult[2], shift[2], out_off, act_min, act_max);
        dst[3] = mcu_requantize_s8(a3, mult[3], shift[3], out_off, act_min, act_max);
    }
}

/*
 * Mode 2 with the full int8 output range: dst[j] = ssat8((SMMLAR(a_j, mult_j, add_j) + (a_j >> 31)) >>
 * right_j), the parameters at prm (mult, add, right per channel). On Arm assembly that names the
 * memory it reads and writes, so that, unlike C after the tap loop's assembly, nothing is reloaded.
 */
#if defined(MCU_RT_EMULATE_ACLE)
static inline void dw_store4_rqs(const int32_t *prm, int32_t a0, int32_t a1, int32_t a2, int32_t a3, int8_t *dst)
{
    const int32_t a[4] = {a0, a1, a2, a3};
    int32_t j;
    for (j = 0; j < 4; ++j) {
        dst[j] = (int8_t)mcu_ssat8((dw_smmlar(a[j], prm[3 * j], prm[3 * j + 1]) + (a[j] >> 31)) >> prm[3 * j + 2]);
    }
}
#else
#define DW_ASM_RQS(A, J)                                                                                        \
    "ldrd %[m], %[ad], [%[prm], #" #J "*12]\n\t"                                                                 \
    "ldr %[r], [%[prm], #" #J "*12+8]\n\t"                                                                       \
    "smmlar %[m], %[" A "], %[m], %[ad]\n\t"                                                                     \
    "add %[m], %[m], %[" A "], asr #31\n\t"                                                                      \
    "asr %[m], %[m], %[r]\n\t"                                                                                   \
    "ssat %[m], #8, %[m]\n\t"                                                                                    \
    "strb %[m], [%[dst], #" #J "]\n\t"
static inline void dw_store4_rqs(const int32_t *prm, int32_t a0, int32_t a1, int32_t a2, int32_t a3, int8_t *dst)
{
    int32_t m, ad, r;
    __asm__(DW_ASM_RQS("a0", 0) DW_ASM_RQS("a1", 1) DW_ASM_RQS("a2", 2) DW_ASM_RQS("a3", 3)
            : [m] "=&r"(m), [ad] "=&r"(ad), [r] "=&r"(r), "=m"(*(int8_t(*)[4])dst)
            : [a0] "r"(a0), [a1] "r"(a1), [a2] "r"(a2), [a3] "r"(a3), [prm] "r"(prm), [dst] "r"(dst),
              "m"(*(const int32_t(*)[12])prm));
}
#endif

/*
 * dw_store4_rqs with the outputs clamped to [act_min, act_max] (inside [-128, 127]; lo4, hi4: the
 * bounds in all four bytes): on Arm the four bytes are packed (BFI) and clamped at once
 * (SSUB8 + SEL, twice), then stored with one STR.
 */
#if defined(MCU_RT_EMULATE_ACLE)
static inline void dw_store4_rqs_clamp(const int32_t *prm, int32_t a0, int32_t a1, int32_t a2, int32_t a3,
                                       int8_t *dst, int32_t lo4, int32_t hi4)
{
    const int32_t a[4] = {a0, a1, a2, a3};
    const int32_t lo = (int8_t)(lo4 & 0xFF), hi = (int8_t)(hi4 & 0xFF);
    int32_t j;
    for (j = 0; j < 4; ++j) {
        const int32_t y = (dw_smmlar(a[j], prm[3 * j], prm[3 * j + 1]) + (a[j] >> 31)) >> prm[3 * j + 2];
        dst[j] = mcu_clamp_s8(mcu_ssat8(y), lo, hi);
    }
}
#else
#define DW_ASM_RQS_Y(A, J)                                                                                      \
    "ldrd %[m], %[ad], [%[prm], #" #J "*12]\n\t"                                                                 \
    "ldr %[r], [%[prm], #" #J "*12+8]\n\t"                                                                       \
    "smmlar %[m], %[" A "], %[m], %[ad]\n\t"                                                                     \
    "add %[m], %[m], %[" A "], asr #31\n\t"                                                                      \
    "asr %[m], %[m], %[r]\n\t"                                                                                   \
    "ssat %[" A "], #8, %[m]\n\t"
static inline void dw_store4_rqs_clamp(const int32_t *prm, int32_t a0, int32_t a1, int32_t a2, int32_t a3,
                                       int8_t *dst, int32_t lo4, int32_t hi4)
{
    int32_t m, ad, r;
    __asm__(DW_ASM_RQS_Y("a0", 0) DW_ASM_RQS_Y("a1", 1) DW_ASM_RQS_Y("a2", 2) DW_ASM_RQS_Y("a3", 3)
            "bfi %[a0], %[a1], #8, #8\n\t"
            "bfi %[a0], %[a2], #16, #8\n\t"
            "bfi %[a0], %[a3], #24, #8\n\t"
            "ssub8 %[m], %[a0], %[hi]\n\t"
            "sel %[a0], %[hi], %[a0]\n\t"
            "ssub8 %[m], %[a0], %[lo]\n\t"
            "sel %[a0], %[a0], %[lo]\n\t"
            "str %[a0], [%[dst]]\n\t"
            : [m] "=&r"(m), [ad] "=&r"(ad), [r] "=&r"(r), [a0] "+&r"(a0), [a1] "+&r"(a1), [a2] "+&r"(a2),
              [a3] "+&r"(a3), "=m"(*(int8_t(*)[4])dst)
            : [prm] "r"(prm), [dst] "r"(dst), [lo] "r"(lo4), [hi] "r"(hi4), "m"(*(const int32_t(*)[12])prm)
            : "cc");
}
#endif

/* The sums a0..a3 of the taps of output pixel x0 inside the map (any width, tap by tap). */
#define DW_BORDER_PIXEL(x0)                                                                                     \
    do {                                                                                                        \
        int32_t kx0_, kx1_, ky_;                                                                                \
        mcu_tap_range((x0), in_w, kw, dil, &kx0_, &kx1_);                                                       \
        for (ky_ = ky0; ky_ < ky1 && kx0_ < kx1_; ++ky_) {                                                      \
            const ptrdiff_t step_ = (ptrdiff_t)dil * row_pix[ky_];                                              \
            const int8_t *xp_ = rows[ky_] + (ptrdiff_t)((x0) + kx0_ * dil) * row_pix[ky_] + c;                  \
            const int32_t *wp_ = wg + 2 * (ky_ * kw + kx0_);                                                    \
            const int32_t *const wend_ = wg + 2 * (ky_ * kw + kx1_);                                            \
            for (; wp_ < wend_; wp_ += 2) {                                                                     \
                MCU_DW_TAP(xp_, wp_);                                                                           \
                xp_ += step_;                                                                                   \
            }                                                                                                   \
        }                                                                                                       \
    } while (0)

/* The outputs of the sums a0..a3 of group d at dst. */
#define DW_STORE4()                                                                                             \
    do {                                                                                                        \
        if (fast == 1) {                                                                                        \
            dw_store4_rqs(prm, a0, a1, a2, a3, dst);                                                            \
        } else if (fast == 2) {                                                                                 \
            dw_store4_rqs_clamp(prm, a0, a1, a2, a3, dst, lo4, hi4);                                            \
        } else {                                                                                                \
            dw_store4(d, a0, a1, a2, a3, dst, full, q, q->multiplier + c, q->shift + c, rq);                    \
        }                                                                                                       \
    } while (0)

/*
 * A border pixel of kernel width KW through DW_BPIXEL: its n (1 <= n <= KW) taps per kernel row from
 * the weights at WP_ on, the sums in a0..a3.
 */
#define DW_BSWITCH7(KW, n, KR_, KEND_, WP_, B_)                                                                 \
    switch (n) {                                                                                                \
    case 1: DW_BPIXEL(KW, 1, KR_, KEND_, WP_, B_); break;                                                        \
    case 2: DW_BPIXEL(KW, 2, KR_, KEND_, WP_, B_); break;                                                        \
    case 3: DW_BPIXEL(KW, 3, KR_, KEND_, WP_, B_); break;                                                        \
    case 4: DW_BPIXEL(KW, 4, KR_, KEND_, WP_, B_); break;                                                        \
    case 5: DW_BPIXEL(KW, 5, KR_, KEND_, WP_, B_); break;                                                        \
    case 6: DW_BPIXEL(KW, 6, KR_, KEND_, WP_, B_); break;                                                        \
    default: DW_BPIXEL(KW, 7, KR_, KEND_, WP_, B_); break;                                                       \
    }
#define DW_BSWITCH5(KW, n, KR_, KEND_, WP_, B_)                                                                 \
    switch (n) {                                                                                                \
    case 1: DW_BPIXEL(KW, 1, KR_, KEND_, WP_, B_); break;                                                        \
    case 2: DW_BPIXEL(KW, 2, KR_, KEND_, WP_, B_); break;                                                        \
    case 3: DW_BPIXEL(KW, 3, KR_, KEND_, WP_, B_); break;                                                        \
    case 4: DW_BPIXEL(KW, 4, KR_, KEND_, WP_, B_); break;                                                        \
    default: DW_BPIXEL(KW, 5, KR_, KEND_, WP_, B_); break;                                                       \
    }
#define DW_BSWITCH3(KW, n, KR_, KEND_, WP_, B_)                                                                 \
    switch (n) {                                                                                                \
    case 1: DW_BPIXEL(KW, 1, KR_, KEND_, WP_, B_); break;                                                        \
    case 2: DW_BPIXEL(KW, 2, KR_, KEND_, WP_, B_); break;                                                        \
    default: DW_BPIXEL(KW, 3, KR_, KEND_, WP_, B_); break;                                                       \
    }

/*
 * One border pixel (x0: its first column, kr: its kernel rows' first in-map taps, dilation 1) of
 * the current group: the sums of its taps inside the map, kr advanced by a pixel.
 */
#define DW_BORDER_ASM(x0)                                                                                       \
    do {                                                                                                        \
        int32_t kx0_, kx1_;                                                                                     \
        mcu_tap_range((x0), in_w, kw, 1, &kx0_, &kx1_);                                                         \
        if (kx1_ - kx0_ <= 0) {                                                                                 \
            a0 = d->bias[0];                                                                                    \
            a1 = d->bias[1];                                                                                    \
            a2 = d->bias[2];                                                                                    \
            a3 = d->bias[3];                                                                                    \
        } else if (kw == 3) {                                                                                   \
            DW_BSWITCH3(3, kx1_ - kx0_, kr, kr + (ky1 - ky0), wrow + 2 * kx0_, d->bias)                         \
        } else if (kw == 5) {                                                                                   \
            DW_BSWITCH5(5, kx1_ - kx0_, kr, kr + (ky1 - ky0), wrow + 2 * kx0_, d->bias)                         \
        } else {                                                                                                \
            DW_BSWITCH7(7, kx1_ - kx0_, kr, kr + (ky1 - ky0), wrow + 2 * kx0_, d->bias)                         \
        }                                                                                                       \
    } while (0)

/*
 * The prepared groups of one output row, group by group. Output pixels [e0, e1) have all kw taps
 * inside the row (x0 >= 0, x0 + (kw - 1) * dil < in_w); with kw_const 3, 5 or 7 they take
 * DW_PIXEL (kw_const 0: any width, the range empty), their kernel rows' addresses advancing by a
 * pixel step (kr). The others (the borders) take their taps inside the map: with kw_const 3, 5 or
 * 7, dilation 1 and rows in the map (basm), DW_BPIXEL over their n in-map taps per kernel row (the
 * left border's start in column 0, the right border's continuing the interior's kr), else tap by
 * tap in C (DW_BORDER_PIXEL).
 */
static inline __attribute__((always_inline)) void dw_row_prep_k(
    mcu_dw_prep_t *p, const int8_t *const *rows, const int32_t *row_pix, int32_t ky0, int32_t ky1,
    int32_t in_w, const mcu_window_t *win, const mcu_conv_quant_t *q, int8_t *out_row, int32_t out_w,
    int32_t out_pix_stride, const int32_t kw_const)
{
    const int32_t kw = kw_const != 0 ? kw_const : win->kernel_w;
    const int32_t sw = win->stride_w, dil = win->dilation_w, pad = win->pad_left;
    const int32_t off2 = mcu_pack2_s16(q->input_offset);
    const int full = q->act_min == -128 && q->act_max == 127;
    const int clamp_ok = q->act_min >= -128 && q->act_min <= q->act_max && q->act_max <= 127;
    const int32_t lo4 = (int32_t)(((uint32_t)q->act_min & 0xFFu) * 0x01010101u);
    const int32_t hi4 = (int32_t)(((uint32_t)q->act_max & 0xFFu) * 0x01010101u);
    const int32_t last = in_w - 1 + pad - (kw - 1) * dil;
    const int32_t in0 = (pad + sw - 1) / sw;
    const int32_t in1 = kw_const == 0 || ky0 >= ky1 || win->kernel_h > MCU_DW_KR_ROWS ? 0 : last < 0 ? 0 : last / sw + 1 < out_w ? last / sw + 1 : out_w;
    const int32_t e0 = in0 < out_w ? in0 : out_w, e1 = in0 < in1 ? in1 : e0;
    /* Border pixels through DW_BPIXEL: kernel width 3, 5 or 7, dilation 1, up to MCU_DW_KR_ROWS rows. */
    const int basm = kw_const != 0 && dil == 1 && ky0 < ky1 && win->kernel_h <= MCU_DW_KR_ROWS;
    dw_krow_t kr[MCU_DW_KR_ROWS];
    int32_t g, ky;
    for (g = 0; g < p->groups; ++g) {
        const mcu_dw_group_t *const d = &p->g[g];
        const int32_t c = p->c0 + 4 * g;
        const int32_t *const wg = p->wprep ? p->w + 2 * p->taps * g : p->w;
        const int32_t *const wrow = wg + 2 * ky0 * kw;
        mcu_rq_t rq[4];
        const int32_t *const prm = &d->rqs[0][0];
        /* 1: mode 2, the full int8 range; 2: mode 2, a narrower range (relu). */
        const int fast = d->mode != 2 ? 0 : full ? 1 : clamp_ok ? 2 : 0;
        int8_t *dst = out_row + c;
        int32_t ox, j;
        if (!p->wprep) {
            /* Only the kernel rows [ky0, ky1) that this row uses. */
            mcu_internal_dw_unpack(p, g, p->w, ky0 * kw, ky1 * kw);
        }
        for (j = 0; j < 4 && d->mode == 1; ++j) {
            rq[j] = mcu_rq_make(q->multiplier[c + j], q->shift[c + j]);
        }
        if (basm) {
            /* The left border (x0 < 0): the first in-map tap of each kernel row in column 0. */
            for (ky = ky0; ky < ky1; ++ky) {
                kr[ky - ky0].cur = rows[ky] + c;
                kr[ky - ky0].pstep = 0;
                kr[ky - ky0].tstep = row_pix[ky];
            }
        }
        for (ox = 0;; ++ox, dst += out_pix_stride) {
            /* Border pixels; at ox = e0 the interior ones first (one loop: one copy of the border code). */
            int32_t a0, a1, a2, a3;
            if (ox == e0) {
                if (e0 < e1 || (basm && e0 < out_w)) {
                    /* The right border (x0 >= 0) continues from the interior's kr. */
                    for (ky = ky0; ky < ky1; ++ky) {
                        kr[ky - ky0].cur = rows[ky] + (ptrdiff_t)(e0 * sw - pad) * row_pix[ky] + c;
                        kr[ky - ky0].pstep = sw * row_pix[ky];
                        kr[ky - ky0].tstep = dil * row_pix[ky];
                    }
                }
                for (; ox < e1; ++ox, dst += out_pix_stride) {
                    /* All taps of the pixel's rows inside the map (kw 3, 5 or 7). */
                    if (kw == 3) {
                        DW_PIXEL(3, kr, kr + (ky1 - ky0), wrow, d->bias);
                    } else if (kw == 5) {
                        DW_PIXEL(5, kr, kr + (ky1 - ky0), wrow, d->bias);
                    } else {
                        DW_PIXEL(7, kr, kr + (ky1 - ky0), wrow, d->bias);
                    }
                    DW_STORE4();
                }
            }
            if (ox >= out_w) {
                break;
            }
            if (basm) {
                DW_BORDER_ASM(ox * sw - pad);
            } else {
                a0 = d->bias[0];
                a1 = d->bias[1];
                a2 = d->bias[2];
                a3 = d->bias[3];
                DW_BORDER_PIXEL(ox * sw - pad);
            }
            DW_STORE4();
        }
    }
}

void mcu_internal_dw_row_prep(mcu_dw_prep_t *p, const int8_t *const *rows, const int32_t *row_pix,
                              int32_t ky0, int32_t ky1, int32_t in_w, const mcu_window_t *win,
                              const mcu_conv_quant_t *q, int8_t *out_row, int32_t out_w, int32_t out_pix_stride)
{
    const int32_t done = p->c0 + 4 * p->groups, end = p->c0 + p->nch;
    int32_t ox;
    switch (win->kernel_w) {
    case 3:
        dw_row_prep_k(p, rows, row_pix, ky0, ky1, in_w, win, q, out_row, out_w, out_pix_stride, 3);
        break;
    case 5:
        dw_row_prep_k(p, rows, row_pix, ky0, ky1, in_w, win, q, out_row, out_w, out_pix_stride, 5);
        break;
    case 7:
        dw_row_prep_k(p, rows, row_pix, ky0, ky1, in_w, win, q, out_row, out_w, out_pix_stride, 7);
        break;
    default:
        dw_row_prep_k(p, rows, row_pix, ky0, ky1, in_w, win, q, out_row, out_w, out_pix_stride, 0);
        break;
    }
    for (ox = 0; ox < out_w && done < end; ++ox) {
        /* The last nch % 4 channels. */
        const int32_t x0 = ox * win->stride_w - win->pad_left;
        int32_t kx0, kx1;
        mcu_tap_range(x0, in_w, win->kernel_w, win->dilation_w, &kx0, &kx1);
        dw_pixel_scalar(rows, row_pix, ky0, ky1, kx0, kx1, x0, done, end, p->filter, p->fstride, p->bias, win, 1, q,
                        out_row + (ptrdiff_t)ox * out_pix_stride);
    }
}
#endif

void mcu_internal_dw_row_s8(const int8_t *const *rows, const int32_t *row_pix, int32_t ky0, int32_t ky1,
                            int32_t in_w, int32_t in_c, const int8_t *filter, int32_t fstride,
                            const int32_t *bias,
                            const mcu_window_t *win, int32_t depth_multiplier, const mcu_conv_quant_t *q,
                            int8_t *out_row, int32_t out_w, int32_t out_pix_stride)
{
    const int32_t oc_n = in_c * depth_multiplier;
#if !defined(MCU_RT_USE_DSP)
    /* Channel blocks: depth multiplier 1, at least one block of 4, x + input_offset an int16 for every int8 x. */
    const int blocks = depth_multiplier == 1 && in_c >= 4 && q->input_offset >= INT16_MIN + 128 &&
                       q->input_offset <= INT16_MAX - 127;
#endif
    int32_t ox;
#if defined(MCU_RT_USE_DSP)
    if (depth_multiplier == 1 && in_c >= 4 && win->kernel_h * win->kernel_w <= MCU_DW_DSP_TAPS) {
        /* Blocks of 4 * MCU_DW_PREP_GROUPS channels, each prepared for this row only. */
        mcu_dw_prep_t prep;
        int32_t c0, nch;
        for (c0 = 0; c0 < in_c; c0 += nch) {
            nch = in_c - c0 < 4 * MCU_DW_PREP_GROUPS ? in_c - c0 : 4 * MCU_DW_PREP_GROUPS;
            if (in_c - c0 - nch > 0 && in_c - c0 - nch < 4) {
                nch -= 4; /* leave at least four channels to the last block */
            }
            (void)mcu_internal_dw_prep(&prep, filter, fstride, bias, win, q, c0, nch);
            mcu_internal_dw_row_prep(&prep, rows, row_pix, ky0, ky1, in_w, win, q, out_row, out_w, out_pix_stride);
        }
        return;
    }
#endif
    for (ox = 0; ox < out_w; ++ox) {
        const int32_t x0 = ox * win->stride_w - win->pad_left;
        int8_t *dst = out_row + (ptrdiff_t)ox * out_pix_stride;
        int32_t kx0, kx1, c = 0;
        mcu_tap_range(x0, in_w, win->kernel_w, win->dilation_w, &kx0, &kx1);
#if defined(MCU_RT_USE_DSP)
        if (depth_multiplier == 1) {
            const int32_t off2 = mcu_pack2_s16(q->input_offset);
            for (; c + 4 <= in_c; c += 4) {
                int32_t a0 = bias != NULL ? bias[c] : 0;
                int32_t a1 = bias != NULL ? bias[c + 1] : 0;
                int32_t a2 = bias != NULL ? bias[c + 2] : 0;
                int32_t a3 = bias != NULL ? bias[c + 3] : 0;
                int32_t ky, kx, j;
                for (ky = ky0; ky < ky1; ++ky) {
                    const int8_t *row = rows[ky] + c;
                    const int8_t *wrow = filter + ky * win->kernel_w * fstride + c;
                    for (kx = kx0; kx < kx1; ++kx) {
                        const uint32_t xv = mcu_load_u32(row + (ptrdiff_t)(x0 + kx * win->dilation_w) * row_pix[ky]);
                        const uint32_t wv = mcu_load_u32(wrow + kx * fstride);
                        const int32_t x02 = mcu_sadd16(mcu_sxtb16(xv), off2);
                        const int32_t x13 = mcu_sadd16(mcu_sxtb16(mcu_ror8(xv)), off2);
                        const int32_t w02 = mcu_sxtb16(wv);
                        const int32_t w13 = mcu_sxtb16(mcu_ror8(wv));
                        a0 = mcu_smlabb(x02, w02, a0);
                        a2 = mcu_smlatt(x02, w02, a2);
                        a1 = mcu_smlabb(x13, w13, a1);
                        a3 = mcu_smlatt(x13, w13, a3);
                    }
                }
                {
                    const int32_t acc[4] = {a0, a1, a2, a3};
                    for (j = 0; j < 4; ++j) {
                        dst[c + j] = mcu_requantize_s8(acc[j], q->multiplier[c + j], q->shift[c + j],
                                                       q->output_offset, q->act_min, q->act_max);
                    }
                }
            }
        }
#else
        if (blocks && in_c >= MCU_DW_BLOCK) {
            for (; c + MCU_DW_BLOCK <= in_c; c += MCU_DW_BLOCK) {
                dw_block(rows, row_pix, ky0, ky1, kx0, kx1, x0, c, fstride, filter, bias, win, q, dst, MCU_DW_BLOCK);
            }
            if (c < in_c) {
                /* The last block overlaps the one before: its first channels get the same values again. */
                dw_block(rows, row_pix, ky0, ky1, kx0, kx1, x0, in_c - MCU_DW_BLOCK, fstride, filter, bias, win, q,
                         dst, MCU_DW_BLOCK);
                c = in_c;
            }
        } else if (blocks) {
            /* 4 <= in_c < 16 (the in-place kernel's slices): blocks of four, the last one overlapping. */
            for (; c + 4 <= in_c; c += 4) {
                dw_block(rows, row_pix, ky0, ky1, kx0, kx1, x0, c, fstride, filter, bias, win, q, dst, 4);
            }
            if (c < in_c) {
                dw_block(rows, row_pix, ky0, ky1, kx0, kx1, x0, in_c - 4, fstride, filter, bias, win, q, dst, 4);
                c = in_c;
            }
        }
#endif
        dw_pixel_scalar(rows, row_pix, ky0, ky1, kx0, kx1, x0, c, oc_n, filter, fstride, bias, win, depth_multiplier, q,
                        dst);
    }
}

mcu_status_t mcu_depthwise_conv2d_s8(const mcu_src_t *in, const int8_t *filter, const int32_t *bias,
                                     const mcu_window_t *win, int32_t depth_multiplier,
                                     const mcu_conv_quant_t *q, const mcu_dst_t *out)
{
    const int8_t *rows[MCU_RT_MAX_KERNEL_H];
    int32_t row_pix[MCU_RT_MAX_KERNEL_H];
    int32_t oy, ky;
    if (!mcu_src_ok(in) || !mcu_dst_ok(out) || !mcu_window_ok(win) || filter == NULL || q == NULL ||
        q->multiplier == NULL || q->shift == NULL || depth_multiplier < 1 || win->kernel_h > MCU_RT_MAX_KERNEL_H) {
        return MCU_RT_ERR_ARG;
    }
    if (out->c != in->c * depth_multiplier || !mcu_window_fits(win, in->h, in->w, out->h, out->w)) {
        return MCU_RT_ERR_SHAPE;
    }
    for (ky = 0; ky < win->kernel_h; ++ky) {
        rows[ky] = NULL;
        row_pix[ky] = in->pix_stride;
    }
#if defined(MCU_RT_USE_DSP)
    if (depth_multiplier == 1 && in->c >= 4 && win->kernel_h * win->kernel_w <= MCU_DW_DSP_TAPS) {
        /* Blocks of 4 * MCU_DW_PREP_GROUPS channels outermost: each prepared once for all rows. */
        mcu_dw_prep_t prep;
        int32_t c0, nch;
        for (c0 = 0; c0 < in->c; c0 += nch) {
            nch = in->c - c0 < 4 * MCU_DW_PREP_GROUPS ? in->c - c0 : 4 * MCU_DW_PREP_GROUPS;
            if (in->c - c0 - nch > 0 && in->c - c0 - nch < 4) {
                nch -= 4; /* leave at least four channels to the last block */
            }
            (void)mcu_internal_dw_prep(&prep, filter, out->c, bias, win, q, c0, nch);
            for (oy = 0; oy < out->h; ++oy) {
                const int32_t y0 = oy * win->stride_h - win->pad_top;
                int32_t ky0, ky1;
                mcu_tap_range(y0, in->h, win->kernel_h, win->dilation_h, &ky0, &ky1);
                for (ky = ky0; ky < ky1; ++ky) {
                    rows[ky] = in->data + (ptrdiff_t)(y0 + ky * win->dilation_h) * in->row_stride;
                }
                mcu_internal_dw_row_prep(&prep, rows, row_pix, ky0, ky1, in->w, win, q,
                                         out->data + (ptrdiff_t)oy * out->row_stride, out->w, out->pix_stride);
            }
        }
        return MCU_RT_OK;
    }
#endif
    for (oy = 0; oy < out->h; ++oy) {
        const int32_t y0 = oy * win->stride_h - win->pad_top;
        int32_t ky0, ky1;
        mcu_tap_range(y0, in->h, win->kernel_h, win->dilation_h, &ky0, &ky1);
        for (ky = ky0; ky < ky1; ++ky) {
            rows[ky] = in->data + (ptrdiff_t)(y0 + ky * win->dilation_h) * in->row_stride;
        }
        mcu_internal_dw_row_s8(rows, row_pix, ky0, ky1, in->w, in->c, filter, out->c, bias, win, depth_multiplier, q,
                               out->data + (ptrdiff_t)oy * out->row_stride, out->w, out->pix_stride);
    }
    return MCU_RT_OK;
}
