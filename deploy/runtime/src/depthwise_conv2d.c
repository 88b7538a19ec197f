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
 * (dilation 1) in the same assembly over their in-map taps (DW_BPIXEL). With relu-type clamps,
 * square kernels and dilation 1, mcu_internal_dw_run takes the interior pixels of rows whose
 * kernel rows all lie in the map, and whole 3 x 3 rows of all groups at once; with relu-type
 * clamps, dilation 1 and all groups in mode 2, mcu_internal_dw_border whole rows of 5 x 5 and
 * 7 x 7 kernels, a group at a time. Portable path
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
 * Group modes: 2 when every channel passes mcu_rqs_make with a multiplier >= 0; the weights and the
 * bias are then stored doubled, so the sums are 2 * acc (|acc| < 2^30: exact, and 2 * w fits an
 * int16 lane), and the output is (SMMLAR(2 acc, mult, add) + (acc >> 31)) >> right: mcu_rqs_apply
 * with [acc < 0] for [high < 0], which differs only when acc < 0 and high = 0 (with mult >= 0, high
 * < 0 implies acc < 0), and there both give (add or add - 1) >> right = output_offset as right >= 1.
 */
/*
 * Unpacks the weights of taps [t0, t1) of group g (mode 2: doubled) to w (tap t at w + 2 t). Mode 2
 * two taps a step (the second loaded at f + fs, f advanced by 2 fs once, one loop test): rows of 5 x 5
 * and 7 x 7 kernels unpack per output row (10 -> 7.5 instructions a tap; vww.tflite: this function
 * 436k -> 341k instructions).
 */
static void mcu_internal_dw_unpack(const mcu_dw_prep_t *p, int32_t g, int32_t *w, int32_t t0, int32_t t1)
{
    const ptrdiff_t fs = p->fstride;
    const int8_t *f = p->filter + (ptrdiff_t)t0 * fs + p->c0 + 4 * g;
    int32_t *o = w + 2 * t0;
    int32_t *const oend = w + 2 * t1;
    if (p->g[g].mode == 2) {
        int32_t *const oend2 = o + 2 * ((t1 - t0) & ~1); /* the end of the pairs of taps */
#if defined(MCU_RT_EMULATE_ACLE)
        for (; o < oend2; o += 4, f += 2 * fs) {
            const uint32_t wv = mcu_load_u32(f), wu = mcu_load_u32(f + fs);
            const int32_t w02 = mcu_sxtb16(wv), w13 = mcu_sxtb16_ror8(wv);
            const int32_t u02 = mcu_sxtb16(wu), u13 = mcu_sxtb16_ror8(wu);
            o[0] = mcu_sadd16(w02, w02);
            o[1] = mcu_sadd16(w13, w13);
            o[2] = mcu_sadd16(u02, u02);
            o[3] = mcu_sadd16(u13, u13);
        }
#else
        if (o < oend2) {
            /* Assembly: GCC stores the four words one by one (STR), not as two STRD, and copies o twice. */
            int32_t v_, u_, t_;
            __asm__ volatile("1:\n\t"
                             "ldr %[v], [%[f]]\n\t"
                             "ldr %[u], [%[f], %[fs]]\n\t"
                             "sxtb16 %[t], %[v]\n\t"
                             "sxtb16 %[v], %[v], ror #8\n\t"
                             "sadd16 %[t], %[t], %[t]\n\t"
                             "sadd16 %[v], %[v], %[v]\n\t"
                             "strd %[t], %[v], [%[o]], #8\n\t"
                             "sxtb16 %[t], %[u]\n\t"
                             "sxtb16 %[u], %[u], ror #8\n\t"
                             "sadd16 %[t], %[t], %[t]\n\t"
                             "sadd16 %[u], %[u], %[u]\n\t"
                             "strd %[t], %[u], [%[o]], #8\n\t"
                             "add %[f], %[f], %[fs], lsl #1\n\t"
                             "cmp %[o], %[end]\n\t"
                             "blo 1b\n\t"
                             : [v] "=&r"(v_), [u] "=&r"(u_), [t] "=&r"(t_), [o] "+&r"(o), [f] "+&r"(f)
                             : [fs] "r"(fs), [end] "r"(oend2)
                             : "cc", "memory");
        }
#endif
        if (o < oend) {
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
                d->right[j] = rs.right;
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
 * tap of the next interior output pixel (advanced by pstep per pixel), tstep the step between taps
 * (cur and tstep adjacent: one LDRD).
 */
typedef struct {
    const int8_t *cur;
    int32_t tstep, pstep;
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
                         "ldrd %[xp], %[ts], [%[kr]]\n\t"                                                       \
                         "ldr %[x02], [%[kr], #8]\n\t"                                                          \
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
        const int32_t y0 = (mcu_smmlar(a0, d->rqs[0][0], d->rqs[0][1]) + (a0 >> 31)) >> d->right[0];
        const int32_t y1 = (mcu_smmlar(a1, d->rqs[1][0], d->rqs[1][1]) + (a1 >> 31)) >> d->right[1];
        const int32_t y2 = (mcu_smmlar(a2, d->rqs[2][0], d->rqs[2][1]) + (a2 >> 31)) >> d->right[2];
        const int32_t y3 = (mcu_smmlar(a3, d->rqs[3][0], d->rqs[3][1]) + (a3 >> 31)) >> d->right[3];
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
 * right_j), the parameters at prm (mcu_dw_group_t's rqs: mult, add per channel, then right). On Arm
 * assembly that names the memory it reads and writes, so that, unlike C after the tap loop's
 * assembly, nothing is reloaded.
 */
#if defined(MCU_RT_EMULATE_ACLE)
static inline void dw_store4_rqs(const int32_t *prm, int32_t a0, int32_t a1, int32_t a2, int32_t a3, int8_t *dst)
{
    const int32_t a[4] = {a0, a1, a2, a3};
    int32_t j;
    for (j = 0; j < 4; ++j) {
        const int32_t y = (mcu_smmlar(a[j], prm[2 * j], prm[2 * j + 1]) + (a[j] >> 31)) >> prm[8 + j];
        dst[j] = (int8_t)mcu_ssat8(y);
    }
}
#else
#define DW_ASM_RQS(A, J)                                                                                        \
    "ldrd %[m], %[ad], [%[prm], #" #J "*8]\n\t"                                                                 \
    "ldr %[r], [%[prm], #32+" #J "*4]\n\t"                                                                      \
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
        const int32_t y = (mcu_smmlar(a[j], prm[2 * j], prm[2 * j + 1]) + (a[j] >> 31)) >> prm[8 + j];
        dst[j] = mcu_clamp_s8(mcu_ssat8(y), lo, hi);
    }
}
#else
#define DW_ASM_RQS_Y(A, J)                                                                                      \
    "ldrd %[m], %[ad], [%[prm], #" #J "*8]\n\t"                                                                 \
    "ldr %[r], [%[prm], #32+" #J "*4]\n\t"                                                                      \
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

/*
 * Runs of output pixels in one assembly loop on Arm (DW_PIXEL's and dw_store4_rqs's work, mode 2,
 * fast 1 or 2, dilation 1, a kw x kw kernel): nothing of the C loop around DW_PIXEL (the pixel
 * count, dst, the group's parameters) lives in registers across its taps, so that loop spilled and
 * reloaded it per pixel. Kernel row i of pixel p starts at kr[i].cur + p * kr[i].pstep, which with
 * dilation 1 is kr[i].cur + (p * sw) * kr[i].tstep: one MLA per kernel row from a pixel counter
 * pix = p * sw, no cursor stored back (kr[i].pstep unused). rows kernel rows (kr[0..rows), kr first
 * in the struct: kr[i] at offset 12 i) of n taps each, their weights at fixed offsets from wp (kw
 * per kernel row): interior pixels n = kw, a border pixel of a 3 x 3 kernel its n < 3 taps in the
 * map (kr then at the first of them). Then the same for the next group, groups times: g, the
 * weights (kw * kw taps a group: the prepared weights of all groups, wprep), dst0 and kr moved on
 * by a group, so that a 3 x 3 row of all groups is a few calls instead of dw_row_prep_k's C per
 * group (about 250 instructions a group and row on vww.tflite). Rows of 5 x 5 and 7 x 7 kernels
 * take it only where mcu_internal_dw_border does not apply (a group not in mode 2, more than
 * MCU_DW_BRUNS runs in a row).
 * Only with act_min >= output_offset (relu, relu6): then the outputs are y = SMMLAR(a, mult, add) >>
 * right, clamped, without dw_store4_rqs's (a >> 31). That term only matters when a < 0, where with
 * mult >= 0 high = SMMULR(a, mult) <= 0 and both (high + add + [0 or -1]) >> right are at most
 * output_offset (add = output_offset * 2^right + 2^(right-1), high + 2^(right-1) < 2^right): both
 * clamp to act_min.
 */
typedef struct {
    dw_krow_t kr[MCU_DW_KR_ROWS];
    const mcu_dw_group_t *g;
    int8_t *dst;            /* the next output; dst, dstep adjacent (one LDRD), so are sw, end and lo4, hi4 */
    int32_t dstep, sw, end; /* dst advanced by dstep per pixel; pix from 0 by sw to end = pixels * sw */
    int32_t lo4, hi4;       /* fast 2: the clamp bounds in all four bytes */
    int8_t *dst0;           /* the current group's first output */
    int32_t groups;         /* counted down to 0 */
} dw_run_t;

#if defined(MCU_RT_EMULATE_ACLE)
static void mcu_internal_dw_run(dw_run_t *r, const int32_t *wp, int32_t off2, int32_t kw, int32_t rows,
                                int32_t n, int fast)
{
    int32_t pix, i, kx;
    for (;; ++r->g, wp += 2 * kw * kw) {
        for (pix = 0, r->dst = r->dst0; pix < r->end; pix += r->sw, r->dst += r->dstep) {
            int32_t a0 = r->g->bias[0], a1 = r->g->bias[1], a2 = r->g->bias[2], a3 = r->g->bias[3];
            for (i = 0; i < rows; ++i) {
                const int8_t *const xp = r->kr[i].cur + (ptrdiff_t)pix * r->kr[i].tstep;
                for (kx = 0; kx < n; ++kx) {
                    MCU_DW_TAP(xp + (ptrdiff_t)kx * r->kr[i].tstep, wp + 2 * (kw * i + kx));
                }
            }
            {
                const int32_t a[4] = {a0, a1, a2, a3};
                const mcu_dw_group_t *const d = r->g;
                int32_t j;
                for (j = 0; j < 4; ++j) {
                    const int32_t y = mcu_ssat8(mcu_smmlar(a[j], d->rqs[j][0], d->rqs[j][1]) >> d->right[j]);
                    r->dst[j] = fast == 1 ? (int8_t)y
                                          : mcu_clamp_s8(y, (int8_t)(r->lo4 & 0xFF), (int8_t)(r->hi4 & 0xFF));
                }
            }
        }
        if (--r->groups == 0) {
            break; /* the last group's kr left as it was: the right border continues from it */
        }
        r->dst0 += 4;
        for (i = 0; i < rows; ++i) {
            r->kr[i].cur += 4;
        }
    }
}
#else
/* Tap KX of kernel row I (input word loaded by LD), the weights at wp + 8 (KW I + KX). */
#define DW_RUN_TAP(LD, KW, I, KX)                                                                               \
    LD "\n\t"                                                                                                   \
    "ldrd %[w0], %[w1], [%[wp], #8*(" #KW "*" #I "+" #KX ")]\n\t"                                              \
    "sxtab16 %[x02], %[off2], %[x]\n\t"                                                                         \
    "sxtab16 %[x], %[off2], %[x], ror #8\n\t"                                                                   \
    "smlabb %[a0], %[x02], %[w0], %[a0]\n\t"                                                                    \
    "smlatt %[a2], %[x02], %[w0], %[a2]\n\t"                                                                    \
    "smlabb %[a1], %[x], %[w1], %[a1]\n\t"                                                                      \
    "smlatt %[a3], %[x], %[w1], %[a3]\n\t"
/* N taps of kernel row I. */
#define DW_RUN_TAPS1(KW, I) DW_RUN_TAP("ldr %[x], [%[xp]]", KW, I, 0)
#define DW_RUN_TAPS2(KW, I) DW_RUN_TAPS1(KW, I) DW_RUN_TAP("ldr %[x], [%[xp], %[ts]]", KW, I, 1)
#define DW_RUN_TAPS3(KW, I) DW_RUN_TAPS2(KW, I) DW_RUN_TAP("ldr %[x], [%[xp], %[ts], lsl #1]", KW, I, 2)
#define DW_RUN_TAPS5(KW, I)                                                                                     \
    DW_RUN_TAPS3(KW, I)                                                                                         \
    "add %[xp], %[xp], %[ts], lsl #1\n\t"                                                                       \
    DW_RUN_TAP("ldr %[x], [%[xp], %[ts]]", KW, I, 3)                                                            \
    DW_RUN_TAP("ldr %[x], [%[xp], %[ts], lsl #1]", KW, I, 4)
#define DW_RUN_TAPS7(KW, I)                                                                                     \
    DW_RUN_TAPS5(KW, I)                                                                                         \
    "add %[xp], %[xp], %[ts], lsl #1\n\t"                                                                       \
    DW_RUN_TAP("ldr %[x], [%[xp], %[ts]]", KW, I, 5)                                                            \
    DW_RUN_TAP("ldr %[x], [%[xp], %[ts], lsl #1]", KW, I, 6)
/* Kernel row I: its first tap at kr[I].cur + pix * kr[I].tstep. */
#define DW_RUN_ROW(KW, N, I)                                                                                    \
    "ldrd %[xp], %[ts], [%[r], #12*" #I "]\n\t"                                                                 \
    "mla %[xp], %[ts], %[pix], %[xp]\n\t"                                                                       \
    DW_RUN_TAPS##N(KW, I)
/* R kernel rows. */
#define DW_RUN_ROWS2(KW, N) DW_RUN_ROW(KW, N, 0) DW_RUN_ROW(KW, N, 1)
#define DW_RUN_ROWS3(KW, N) DW_RUN_ROWS2(KW, N) DW_RUN_ROW(KW, N, 2)
#define DW_RUN_ROWS5(KW, N) DW_RUN_ROWS3(KW, N) DW_RUN_ROW(KW, N, 3) DW_RUN_ROW(KW, N, 4)
#define DW_RUN_ROWS7(KW, N) DW_RUN_ROWS5(KW, N) DW_RUN_ROW(KW, N, 5) DW_RUN_ROW(KW, N, 6)
/* Kernel row I's cursor moved on by a group (four channels). */
#define DW_RUN_NEXT(I)                                                                                          \
    "ldr %[x], [%[r], #12*" #I "]\n\t"                                                                          \
    "add %[x], %[x], #4\n\t"                                                                                    \
    "str %[x], [%[r], #12*" #I "]\n\t"
#define DW_RUN_NEXT2 DW_RUN_NEXT(0) DW_RUN_NEXT(1)
#define DW_RUN_NEXT3 DW_RUN_NEXT2 DW_RUN_NEXT(2)
#define DW_RUN_NEXT5 DW_RUN_NEXT3 DW_RUN_NEXT(3) DW_RUN_NEXT(4)
#define DW_RUN_NEXT7 DW_RUN_NEXT5 DW_RUN_NEXT(5) DW_RUN_NEXT(6)
/*
 * The outputs of the sums a0..a3 (the group at xp, dst at ts): SMMLAR, ASR by right, SSAT per channel
 * (Y: the register for channel J's output), the rights loaded in pairs into registers freed on the way.
 */
#define DW_RUN_RQ(A, J, R, Y)                                                                                   \
    "ldrd %[w0], %[w1], [%[xp], #%c[orqs]+8*" #J "]\n\t"                                                        \
    "smmlar %[w0], %[" A "], %[w0], %[w1]\n\t"                                                                  \
    "asr %[w0], %[w0], %[" R "]\n\t"                                                                            \
    "ssat %[" Y "], #8, %[w0]\n\t"
#define DW_RUN_RQ4(Y0, S0, Y1, S1, Y2, S2, Y3, S3)                                                              \
    "ldrd %[w0], %[w1], [%[xp], #%c[orqs]]\n\t"                                                                 \
    "smmlar %[w0], %[a0], %[w0], %[w1]\n\t"                                                                     \
    "ldrd %[a0], %[w1], [%[xp], #%c[oright]]\n\t"                                                               \
    "asr %[w0], %[w0], %[a0]\n\t"                                                                               \
    "ssat %[" Y0 "], #8, %[w0]\n\t" S0                                                                          \
    "ldrd %[w0], %[a0], [%[xp], #%c[orqs]+8]\n\t"                                                               \
    "smmlar %[w0], %[a1], %[w0], %[a0]\n\t"                                                                     \
    "asr %[w0], %[w0], %[w1]\n\t"                                                                               \
    "ssat %[" Y1 "], #8, %[w0]\n\t" S1                                                                          \
    "ldrd %[a0], %[a1], [%[xp], #%c[oright]+8]\n\t"                                                             \
    DW_RUN_RQ("a2", 2, "a0", Y2) S2                                                                             \
    DW_RUN_RQ("a3", 3, "a1", Y3) S3
/* fast 1: four STRB. */
#define DW_RUN_STORE1                                                                                           \
    DW_RUN_RQ4("w0", "strb %[w0], [%[ts]]\n\t", "w0", "strb %[w0], [%[ts], #1]\n\t", "w0",                      \
               "strb %[w0], [%[ts], #2]\n\t", "w0", "strb %[w0], [%[ts], #3]\n\t")
/*
 * The four outputs packed in x02 (BFI) and clamped at once (dw_store4_rqs_clamp's SSUB8 / SEL), the
 * bounds lo4, hi4 at offset olo of the state struct in register S (dw_run's r, dw_border's ts).
 */
#define DW_RUN_RQ_CLAMP(S)                                                                                      \
    DW_RUN_RQ4("x02", "", "w0", "bfi %[x02], %[w0], #8, #8\n\t", "w0", "bfi %[x02], %[w0], #16, #8\n\t", "w0",  \
               "bfi %[x02], %[w0], #24, #8\n\t")                                                                \
    "ldrd %[w0], %[w1], [%[" S "], #%c[olo]]\n\t"                                                               \
    "ssub8 %[a0], %[x02], %[w1]\n\t"                                                                            \
    "sel %[x02], %[w1], %[x02]\n\t"                                                                             \
    "ssub8 %[a0], %[x02], %[w0]\n\t"                                                                            \
    "sel %[x02], %[x02], %[w0]\n\t"
/* fast 2: DW_RUN_RQ_CLAMP, one STR. */
#define DW_RUN_STORE2 DW_RUN_RQ_CLAMP("r") "str %[x02], [%[ts]]\n\t"
/*
 * The loops: per group the pixels (the bias, the rows, the outputs at dst (ts), dst and pix
 * advanced), then g, wp, dst0 (dst) and the cursors moved on unless it was the last group. xp
 * holds g again from the outputs on (they read it, nothing after them writes it): the next pixel's
 * bias comes from it without a reload.
 */
#define DW_RUN_ASM(KW, R, N, STORE)                                                                             \
    do {                                                                                                        \
        int32_t a0, a1, a2, a3, xp, ts, x, x02, w0, w1, pix;                                                    \
        __asm__ volatile("ldr %[xp], [%[r], #%c[og]]\n\t"                                                       \
                         "2:\n\t"                                                                               \
                         "mov %[pix], #0\n\t"                                                                   \
                         "1:\n\t"                                                                               \
                         "ldrd %[a0], %[a1], [%[xp]]\n\t"                                                       \
                         "ldrd %[a2], %[a3], [%[xp], #8]\n\t"                                                   \
                         DW_RUN_ROWS##R(KW, N)                                                                  \
                         "ldr %[xp], [%[r], #%c[og]]\n\t"                                                       \
                         "ldrd %[ts], %[x], [%[r], #%c[odst]]\n\t"                                              \
                         STORE                                                                                  \
                         "add %[ts], %[ts], %[x]\n\t"                                                           \
                         "str %[ts], [%[r], #%c[odst]]\n\t"                                                     \
                         "ldrd %[x], %[x02], [%[r], #%c[osw]]\n\t"                                              \
                         "add %[pix], %[pix], %[x]\n\t"                                                         \
                         "cmp %[pix], %[x02]\n\t"                                                               \
                         "blt 1b\n\t"                                                                           \
                         "ldr %[x], [%[r], #%c[ogroups]]\n\t"                                                   \
                         "subs %[x], %[x], #1\n\t"                                                              \
                         "str %[x], [%[r], #%c[ogroups]]\n\t"                                                   \
                         "beq 3f\n\t"                                                                           \
                         "add %[xp], %[xp], #%c[gsize]\n\t"                                                     \
                         "str %[xp], [%[r], #%c[og]]\n\t"                                                       \
                         "add %[wp], %[wp], #8*" #KW "*" #KW "\n\t"                                             \
                         "ldr %[x], [%[r], #%c[odst0]]\n\t"                                                     \
                         "add %[x], %[x], #4\n\t"                                                               \
                         "str %[x], [%[r], #%c[odst0]]\n\t"                                                     \
                         "str %[x], [%[r], #%c[odst]]\n\t"                                                      \
                         DW_RUN_NEXT##R                                                                         \
                         "b 2b\n\t"                                                                             \
                         "3:\n\t"                                                                               \
                         : [a0] "=&r"(a0), [a1] "=&r"(a1), [a2] "=&r"(a2), [a3] "=&r"(a3), [xp] "=&r"(xp),      \
                           [ts] "=&r"(ts), [x] "=&r"(x), [x02] "=&r"(x02), [w0] "=&r"(w0), [w1] "=&r"(w1),      \
                           [pix] "=&r"(pix), [wp] "+r"(wp)                                                      \
                         : [r] "r"(r), [off2] "r"(off2), [og] "i"(offsetof(dw_run_t, g)),                       \
                           [odst] "i"(offsetof(dw_run_t, dst)), [odst0] "i"(offsetof(dw_run_t, dst0)),          \
                           [osw] "i"(offsetof(dw_run_t, sw)), [olo] "i"(offsetof(dw_run_t, lo4)),               \
                           [ogroups] "i"(offsetof(dw_run_t, groups)), [gsize] "i"(sizeof(mcu_dw_group_t)),      \
                           [orqs] "i"(offsetof(mcu_dw_group_t, rqs)),                                           \
                           [oright] "i"(offsetof(mcu_dw_group_t, right))                                        \
                         : "cc", "memory");                                                                     \
    } while (0)
/*
 * The assembly for (kw, rows, n): kw rows of kw taps for kernels 5 and 7; for 3 x 3 kernels 3 rows
 * of 1 to 3 taps (the border pixels of rows in the map) or 2 rows (a first or last output row) of 2
 * or 3.
 */
#define DW_RUN_FAST(KW, R, N)                                                                                   \
    do {                                                                                                        \
        if (fast == 1) {                                                                                        \
            DW_RUN_ASM(KW, R, N, DW_RUN_STORE1);                                                                \
        } else {                                                                                                \
            DW_RUN_ASM(KW, R, N, DW_RUN_STORE2);                                                                \
        }                                                                                                       \
    } while (0)
static void __attribute__((noinline)) mcu_internal_dw_run(dw_run_t *r, const int32_t *wp, int32_t off2,
                                                          int32_t kw, int32_t rows, int32_t n, int fast)
{
    if (kw == 5) {
        DW_RUN_FAST(5, 5, 5);
    } else if (kw == 7) {
        DW_RUN_FAST(7, 7, 7);
    } else if (rows == 2) {
        if (n == 3) {
            DW_RUN_FAST(3, 2, 3);
        } else {
            DW_RUN_FAST(3, 2, 2);
        }
    } else if (n == 3) {
        DW_RUN_FAST(3, 3, 3);
    } else if (n == 2) {
        DW_RUN_FAST(3, 3, 2);
    } else {
        DW_RUN_FAST(3, 3, 1);
    }
}
#endif

/*
 * Rows of 5 x 5 and 7 x 7 kernels (dilation 1, mode 2, relu-type clamps as mcu_internal_dw_run's),
 * all their pixels, in one assembly loop per group on Arm: in dw_row_prep_k's C loop each border
 * pixel cost some 70 instructions besides its taps and store (tap range, switch, kernel-row cursors
 * stored back, the store's call), and on vww.tflite's maps of 10 x 10 and less most pixels are border
 * pixels or in rows with kernel rows out of the map. The row's pixels, the same for all groups, are
 * computed once per row (dw_border_table) as runs of pixels whose n taps per kernel row in the map
 * start at the same kernel column kx0: a border pixel alone, the interior pixels together. These
 * take a few more instructions per kernel row than in mcu_internal_dw_run (a loop over the kernel
 * rows, not unrolled), fewer than its per-group setup saved (vww.tflite: 18.56M -> 18.53M).
 * At most MCU_DW_BRUNS runs in a row (more: the row takes dw_row_prep_k's loop).
 */
#define MCU_DW_BRUNS 8

typedef struct {
    uint32_t pos; /* the run's first pixel: its first in-map input column | its output column << 16 */
    uint32_t run; /* n (taps per kernel row in the map) | 8 * kx0 (the first one's) | the pixel count << 16 */
} dw_brun_t;

/*
 * kr[0..rows): the kernel rows in the map at column 0, kr[rows].cur NULL (the end of the row loop;
 * on Arm kr[rows].tstep this struct, where the loop finds it again: no register is left for it).
 * The fields after kr: the assembly's state; dstep, sw and lo4, hi4 adjacent (LDRD).
 */
typedef struct {
    dw_krow_t kr[MCU_DW_KR_ROWS + 1];
    const mcu_dw_group_t *g;
    const int32_t *w;  /* the group's weights of its first kernel row in the map (kw taps a row) */
    int8_t *dst0;      /* the group's output pixel 0 */
    int8_t *dst;       /* the current output */
    int32_t dstep, sw;
    int32_t lo4, hi4;  /* the clamp bounds in all four bytes (full range: -128, 127) */
    const int32_t *wp; /* the current run's first weights; wp, n and n, cnt adjacent */
    int32_t n, cnt;    /* the current run's taps per kernel row, its pixels left */
    const dw_brun_t *e, *eend;
} dw_border_t;

/*
 * The runs of a row's pixels (kw wide, dilation 1) into t, their count: each pixel of [0, e0) and
 * [e1, out_w) alone (no two of them have the same taps in the map), the interior [e0, e1) as one run;
 * -1 when a pixel has no tap in the map, when the row takes more than MCU_DW_BRUNS runs or is too
 * wide for the packed fields.
 */
static int32_t dw_border_table(dw_brun_t *t, int32_t in_w, int32_t out_w, int32_t sw, int32_t pad, int32_t kw,
                               int32_t e0, int32_t e1)
{
    int32_t ox, n = 0;
    if (in_w > 0xFFFF || out_w > 0xFFFF) {
        return -1;
    }
    for (ox = 0; ox < out_w; ++ox) {
        const int32_t x0 = ox * sw - pad;
        int32_t kx0, kx1;
        if (ox == e0 && e0 < e1) {
            if (n == MCU_DW_BRUNS) {
                return -1;
            }
            t[n].pos = (uint32_t)x0 | (uint32_t)ox << 16;
            t[n].run = (uint32_t)kw | (uint32_t)(e1 - e0) << 16;
            ++n;
            ox = e1 - 1;
            continue;
        }
        mcu_tap_range(x0, in_w, kw, 1, &kx0, &kx1);
        if (kx1 <= kx0 || n == MCU_DW_BRUNS) {
            return -1;
        }
        t[n].pos = (uint32_t)(x0 + kx0) | (uint32_t)ox << 16;
        t[n].run = (uint32_t)(kx1 - kx0) | (uint32_t)(8 * kx0) | 1u << 16;
        ++n;
    }
    return n;
}

#if defined(MCU_RT_EMULATE_ACLE)
static void mcu_internal_dw_border(dw_border_t *b, int32_t off2, int32_t kw)
{
    const dw_brun_t *e;
    for (e = b->e; e < b->eend; ++e) {
        const int32_t n = (int32_t)(e->run & 7u), kx0 = (int32_t)((e->run & 0xFFFFu) >> 3);
        int32_t col = (int32_t)(e->pos & 0xFFFFu), j, i, kx;
        int8_t *dst = b->dst0 + (ptrdiff_t)(e->pos >> 16) * b->dstep;
        for (j = 0; j < (int32_t)(e->run >> 16); ++j, col += b->sw, dst += b->dstep) {
            const mcu_dw_group_t *const d = b->g;
            int32_t a0 = d->bias[0], a1 = d->bias[1], a2 = d->bias[2], a3 = d->bias[3];
            for (i = 0; b->kr[i].cur != NULL; ++i) {
                const int8_t *const xp = b->kr[i].cur + (ptrdiff_t)col * b->kr[i].tstep;
                for (kx = 0; kx < n; ++kx) {
                    MCU_DW_TAP(xp + (ptrdiff_t)kx * b->kr[i].tstep, b->w + 2 * (kw * i + kx0 + kx));
                }
            }
            {
                const int32_t a[4] = {a0, a1, a2, a3};
                for (i = 0; i < 4; ++i) {
                    const int32_t y = mcu_ssat8(mcu_smmlar(a[i], d->rqs[i][0], d->rqs[i][1]) >> d->right[i]);
                    dst[i] = mcu_clamp_s8(y, (int8_t)(b->lo4 & 0xFF), (int8_t)(b->hi4 & 0xFF));
                }
            }
        }
    }
}
#else
/*
 * The kernel rows of a pixel with N taps each (label L): the row's first tap at kr.cur + col * kr.tstep,
 * then SKIP (the weights of the KW - N others), until the end mark (ts then the struct).
 */
#define DW_BRD_ROWS(N, L, SKIP)                                                                                 \
    #L ":\n\t"                                                                                                  \
    "mla %[xp], %[ts], %[col], %[xp]\n\t"                                                                       \
    DW_ASM_TAPS##N SKIP                                                                                         \
    "ldrd %[xp], %[ts], [%[krp]], #12\n\t"                                                                      \
    "cmp %[xp], #0\n\t"                                                                                         \
    "bne " #L "b\n\t"
#define DW_BRD_BODY(KW, N, L) DW_BRD_ROWS(N, L, "add %[wp], %[wp], #8*(" #KW "-" #N ")\n\t") "b 30f\n\t"
/* The bodies of n = 1 .. KW, the last one (no weights to skip) falling through to the outputs. */
#define DW_BRD_BODIES5(KW)                                                                                      \
    DW_BRD_BODY(KW, 1, 21) DW_BRD_BODY(KW, 2, 22) DW_BRD_BODY(KW, 3, 23) DW_BRD_BODY(KW, 4, 24)                 \
    DW_BRD_ROWS(5, 25, "")
#define DW_BRD_BODIES7(KW)                                                                                      \
    DW_BRD_BODY(KW, 1, 21) DW_BRD_BODY(KW, 2, 22) DW_BRD_BODY(KW, 3, 23) DW_BRD_BODY(KW, 4, 24)                 \
    DW_BRD_BODY(KW, 5, 25) DW_BRD_BODY(KW, 6, 26) DW_BRD_ROWS(7, 27, "")
#define DW_BRD_TABLE5 ".2byte (21f-9b)/2, (21f-9b)/2, (22f-9b)/2, (23f-9b)/2, (24f-9b)/2, (25f-9b)/2\n\t"
#define DW_BRD_TABLE7 DW_BRD_TABLE5 ".2byte (26f-9b)/2, (27f-9b)/2\n\t"
/*
 * Per run (40): its fields into the struct (dst, cnt, n, wp), g into xp; per pixel (20): the bias (at
 * xp: g, which the outputs leave there for the next pixel), the kernel rows through the body of its n
 * (TBH), the outputs as mcu_internal_dw_run's fast 2 (30), dst and col moved on.
 */
#define DW_BRD_ASM(KW)                                                                                          \
    do {                                                                                                        \
        int32_t a0, a1, a2, a3, xp, x, x02, w0, w1, wp, krp, col;                                              \
        dw_border_t *ts = b;                                                                                    \
        __asm__ volatile("b 40f\n\t"                                                                            \
                         "20:\n\t"                                                                              \
                         "ldrd %[a0], %[a1], [%[xp]]\n\t"                                                       \
                         "ldrd %[a2], %[a3], [%[xp], #8]\n\t"                                                   \
                         "ldrd %[wp], %[x], [%[ts], #%c[owp]]\n\t"                                              \
                         "mov %[krp], %[ts]\n\t"                                                                \
                         "ldrd %[xp], %[ts], [%[krp]], #12\n\t"                                                 \
                         "tbh [pc, %[x], lsl #1]\n\t"                                                           \
                         "9:\n\t"                                                                               \
                         DW_BRD_TABLE##KW                                                                       \
                         DW_BRD_BODIES##KW(KW)                                                                  \
                         "30:\n\t"                                                                              \
                         "ldr %[xp], [%[ts], #%c[og]]\n\t"                                                      \
                         DW_RUN_RQ_CLAMP("ts")                                                                  \
                         "ldr %[x], [%[ts], #%c[odst]]\n\t"                                                     \
                         "str %[x02], [%[x]]\n\t"                                                               \
                         "ldrd %[w0], %[w1], [%[ts], #%c[odstep]]\n\t"                                          \
                         "add %[x], %[x], %[w0]\n\t"                                                            \
                         "str %[x], [%[ts], #%c[odst]]\n\t"                                                     \
                         "add %[col], %[col], %[w1]\n\t"                                                        \
                         "ldr %[w0], [%[ts], #%c[ocnt]]\n\t"                                                    \
                         "subs %[w0], %[w0], #1\n\t"                                                            \
                         "str %[w0], [%[ts], #%c[ocnt]]\n\t"                                                    \
                         "bne 20b\n\t"                                                                          \
                         "40:\n\t"                                                                              \
                         "ldrd %[xp], %[x], [%[ts], #%c[oe]]\n\t"                                               \
                         "cmp %[xp], %[x]\n\t"                                                                  \
                         "beq 50f\n\t"                                                                          \
                         "ldrd %[x02], %[w0], [%[xp]], #8\n\t"                                                  \
                         "str %[xp], [%[ts], #%c[oe]]\n\t"                                                      \
                         "uxth %[col], %[x02]\n\t"                                                              \
                         "lsr %[x02], %[x02], #16\n\t"                                                          \
                         "ldr %[x], [%[ts], #%c[odstep]]\n\t"                                                   \
                         "ldr %[xp], [%[ts], #%c[odst0]]\n\t"                                                   \
                         "mla %[x], %[x02], %[x], %[xp]\n\t"                                                    \
                         "str %[x], [%[ts], #%c[odst]]\n\t"                                                     \
                         "lsr %[x], %[w0], #16\n\t"                                                             \
                         "and %[x02], %[w0], #7\n\t"                                                            \
                         "strd %[x02], %[x], [%[ts], #%c[on]]\n\t"                                              \
                         "ubfx %[w0], %[w0], #3, #13\n\t"                                                       \
                         "ldr %[xp], [%[ts], #%c[ow]]\n\t"                                                      \
                         "add %[xp], %[xp], %[w0], lsl #3\n\t"                                                  \
                         "str %[xp], [%[ts], #%c[owp]]\n\t"                                                     \
                         "ldr %[xp], [%[ts], #%c[og]]\n\t"                                                      \
                         "b 20b\n\t"                                                                            \
                         "50:\n\t"                                                                              \
                         : [a0] "=&r"(a0), [a1] "=&r"(a1), [a2] "=&r"(a2), [a3] "=&r"(a3), [xp] "=&r"(xp),      \
                           [x] "=&r"(x), [x02] "=&r"(x02), [w0] "=&r"(w0), [w1] "=&r"(w1), [wp] "=&r"(wp),      \
                           [krp] "=&r"(krp), [col] "=&r"(col), [ts] "+&r"(ts)                                   \
                         : [off2] "r"(off2), [og] "i"(offsetof(dw_border_t, g)),                                \
                           [owp] "i"(offsetof(dw_border_t, wp)), [ow] "i"(offsetof(dw_border_t, w)),            \
                           [odst] "i"(offsetof(dw_border_t, dst)), [odst0] "i"(offsetof(dw_border_t, dst0)),    \
                           [odstep] "i"(offsetof(dw_border_t, dstep)), [olo] "i"(offsetof(dw_border_t, lo4)),   \
                           [on] "i"(offsetof(dw_border_t, n)), [ocnt] "i"(offsetof(dw_border_t, cnt)),          \
                           [oe] "i"(offsetof(dw_border_t, e)), [orqs] "i"(offsetof(mcu_dw_group_t, rqs)),       \
                           [oright] "i"(offsetof(mcu_dw_group_t, right))                                        \
                         : "cc", "memory");                                                                     \
    } while (0)
static void __attribute__((noinline)) mcu_internal_dw_border(dw_border_t *b, int32_t off2, int32_t kw)
{
    if (kw == 5) {
        DW_BRD_ASM(5);
    } else {
        DW_BRD_ASM(7);
    }
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
 * Whether every pixel of a row of width out_w with a 3-wide kernel (dilation 1) has at least n taps
 * in the map: the outermost ones do (the overlap of the kernel with the row, as it slides, first
 * grows, then shrinks).
 */
static int dw_run_edges(int32_t in_w, int32_t out_w, int32_t sw, int32_t pad, int32_t n)
{
    int32_t k0, k1, l0, l1;
    mcu_tap_range(-pad, in_w, 3, 1, &k0, &k1);
    mcu_tap_range((out_w - 1) * sw - pad, in_w, 3, 1, &l0, &l1);
    return k1 - k0 >= n && l1 - l0 >= n;
}

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
    /* Interior pixels through mcu_internal_dw_run: a square kernel 3, 5 or 7 wide, all rows in the map. */
    const int runs = kw_const != 0 && dil == 1 && ky0 == 0 && ky1 == kw && win->kernel_h == kw;
    const int relu = q->act_min >= q->output_offset;
    union {
        dw_run_t run;
        dw_border_t b; /* rows of 5 x 5 and 7 x 7 kernels, where run is unused: one stack slot */
    } u;
    dw_run_t *const run = &u.run;
    dw_krow_t *const kr = run->kr;
    int32_t g, ky, all2 = 1;
    run->dstep = out_pix_stride;
    run->sw = sw;
    run->lo4 = lo4;
    run->hi4 = hi4;
    for (g = 0; g < p->groups && kw_const != 0; ++g) {
        all2 = all2 && p->g[g].mode == 2;
    }
    if (kw_const == 3 && dil == 1 && win->kernel_h == 3 && relu && p->wprep && all2 && (full || clamp_ok) &&
        ky1 - ky0 >= 2 && dw_run_edges(in_w, out_w, sw, pad, ky1 - ky0 == 3 ? 1 : 2)) {
        /*
         * A 3 x 3 row with all groups' weights prepared (wprep) and mode 2, 3 kernel rows in the
         * map (or 2, a first or last row) and every pixel's n taps per kernel row among those
         * mcu_internal_dw_run has code for: all of it through mcu_internal_dw_run, all groups at a
         * time: the interior pixels in one call, each border pixel (its n < 3 taps per kernel row
         * from column x0 + kx0 on) in one.
         */
        int32_t ox = 0;
        while (ox < out_w) {
            const int32_t x0 = ox * sw - pad;
            int32_t kx0 = 0, kx1 = 3, px = e1 - e0;
            if (ox != e0 || e0 == e1) {
                mcu_tap_range(x0, in_w, 3, 1, &kx0, &kx1);
                px = 1;
            }
            for (ky = ky0; ky < ky1; ++ky) {
                kr[ky - ky0].cur = rows[ky] + (ptrdiff_t)(x0 + kx0) * row_pix[ky] + p->c0;
                kr[ky - ky0].tstep = row_pix[ky];
            }
            run->g = p->g;
            run->groups = p->groups;
            run->dst = run->dst0 = out_row + p->c0 + (ptrdiff_t)ox * out_pix_stride;
            run->end = px * sw;
            mcu_internal_dw_run(run, p->w + 2 * (3 * ky0 + kx0), off2, 3, ky1 - ky0, kx1 - kx0,
                                full ? 1 : 2);
            ox += px;
        }
        return;
    }
    if ((kw_const == 5 || kw_const == 7) && basm && relu && all2 && (full || clamp_ok)) {
        /*
         * All groups mode 2: the row through mcu_internal_dw_border group by group, the kernel rows'
         * cursors set once and moved on by a group (the weights unpacked per group unless wprep).
         */
        dw_brun_t t[MCU_DW_BRUNS];
        const int32_t nt = dw_border_table(t, in_w, out_w, sw, pad, kw, e0, e1);
        if (nt > 0) {
            dw_border_t *const b = &u.b;
            for (ky = ky0; ky < ky1; ++ky) {
                b->kr[ky - ky0].cur = rows[ky] + p->c0;
                b->kr[ky - ky0].tstep = row_pix[ky];
            }
            b->kr[ky1 - ky0].cur = NULL;
#if !defined(MCU_RT_EMULATE_ACLE)
            b->kr[ky1 - ky0].tstep = (int32_t)(uintptr_t)b;
#endif
            b->dstep = out_pix_stride;
            b->sw = sw;
            b->lo4 = lo4;
            b->hi4 = hi4;
            b->eend = t + nt;
            for (g = 0; g < p->groups; ++g) {
                const int32_t *const wg = p->wprep ? p->w + 2 * p->taps * g : p->w;
                if (!p->wprep) {
                    mcu_internal_dw_unpack(p, g, p->w, ky0 * kw, ky1 * kw);
                }
                b->g = &p->g[g];
                b->w = wg + 2 * ky0 * kw;
                b->dst0 = out_row + p->c0 + 4 * g;
                b->e = t;
                mcu_internal_dw_border(b, off2, kw);
                for (ky = 0; ky < ky1 - ky0; ++ky) {
                    b->kr[ky].cur += 4;
                }
            }
            return;
        }
    }
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
                if (runs && fast != 0 && relu && ox < e1) {
                    run->g = d;
                    run->groups = 1;
                    run->dst = run->dst0 = dst;
                    run->end = (e1 - ox) * sw;
                    mcu_internal_dw_run(run, wrow, off2, kw, kw, kw, fast);
                    for (ky = ky0; ky < ky1; ++ky) { /* where the right border continues */
                        kr[ky - ky0].cur += (ptrdiff_t)(e1 - ox) * kr[ky - ky0].pstep;
                    }
                    dst += (ptrdiff_t)(e1 - ox) * out_pix_stride;
                    ox = e1;
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
