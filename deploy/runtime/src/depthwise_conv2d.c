/*
 * DEPTHWISE_CONV_2D: any kernel, stride, dilation, pads and depth multiplier. The row kernel
 * (mcu_internal_dw_row_s8) is shared with the in-place variant. DSP path (depth multiplier 1):
 * four channels per step, __sxtb16 unpacks input and weight words, __sxtab16 / __sadd16 add the
 * input offset to two channels at once, __smlabb / __smlatt accumulate (a depthwise sum runs over
 * taps, not channels, so the dual __smlad has no pair of products to add); kernels of up to 7 x 7
 * taps go channel group by channel group over a whole row (mcu_internal_dw_row_dsp), the group's
 * unpacked weights and requantization parameters hoisted out of the pixel loop. Portable path (depth multiplier
 * 1, at least 4 channels): blocks of 16 channels (of 4 below 16 channels), see dw_block.
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
/* Kernels of up to this many taps (7 x 7) take mcu_internal_dw_row_dsp (unpacked weights on the stack). */
#define MCU_DW_DSP_TAPS 49

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

/*
 * DSP path, depth multiplier 1: channels [0, in_c & ~3) of a whole output row, four channels at a
 * time. Per group the four channels' weights are unpacked once (__sxtb16 pairs, on the stack) and
 * their bias and requantization parameters hoisted (mcu_rqs_t where the group allows it); then
 * every pixel of the row accumulates its taps with one word load, two __sxtab16 (input offset
 * added) and four __smlabb / __smlatt per tap (MCU_DW_TAP), a kernel row's taps unrolled for
 * pixels whose taps are all inside the map. Returns the number of channels done.
 */
static inline __attribute__((always_inline)) int32_t dw_row_dsp_k(
    const int8_t *const *rows, const int32_t *row_pix, int32_t ky0, int32_t ky1, int32_t in_w, int32_t in_c,
    const int8_t *filter, int32_t fstride, const int32_t *bias, const mcu_window_t *win, const mcu_conv_quant_t *q,
    int8_t *out_row, int32_t out_w, int32_t out_pix_stride, const int32_t kw_const)
{
    /* kw_const: the kernel width as a constant (3, 5 or 7: unrolled interior pixels), or 0 (any width). */
    const int32_t kw = kw_const != 0 ? kw_const : win->kernel_w;
    const int32_t sw = win->stride_w, dil = win->dilation_w, pad = win->pad_left;
    const int32_t off2 = mcu_pack2_s16(q->input_offset);
    const int32_t out_off = q->output_offset, act_min = q->act_min, act_max = q->act_max;
    const int32_t *mult = q->multiplier, *shift = q->shift;
    const int32_t range = mcu_rqs_acc_range(win->kernel_h * kw, q->input_offset);
    const int full = act_min == -128 && act_max == 127;
    /*
     * Output pixels [in0, in1) have all kw taps inside the row (x0 >= 0, x0 + (kw - 1) * dil < in_w);
     * they take the unrolled taps when kw_const is 3, 5 or 7 (else the range is empty).
     */
    const int32_t last = in_w - 1 + pad - (kw - 1) * dil;
    const int32_t in0 = (pad + sw - 1) / sw;
    const int32_t in1 = kw_const == 0 ? 0 : last < 0 ? 0 : last / sw + 1 < out_w ? last / sw + 1 : out_w;
    int32_t wk[2 * MCU_DW_DSP_TAPS];
    int32_t c;
    for (c = 0; c + 4 <= in_c; c += 4) {
        mcu_rq_t rq[4];
        mcu_rqs_t rs[4];
        int32_t b[4];
        int32_t t, ox, j, fast = 1, short_form = 1;
        for (t = ky0 * kw; t < ky1 * kw; ++t) {
            const uint32_t wv = mcu_load_u32(filter + (ptrdiff_t)t * fstride + c);
            wk[2 * t] = mcu_sxtb16(wv);
            wk[2 * t + 1] = mcu_sxtb16_ror8(wv);
        }
        for (j = 0; j < 4; ++j) {
            b[j] = bias != NULL ? bias[c + j] : 0;
            short_form = mcu_rqs_make(&rs[j], mult[c + j], shift[c + j], b[j], range, out_off) && short_form;
        }
        for (j = 0; j < 4 && !short_form; ++j) {
            rq[j] = mcu_rq_make(mult[c + j], shift[c + j]);
            fast = fast && rq[j].fast;
        }
        for (ox = 0; ox < out_w; ++ox) {
            const int32_t x0 = ox * sw - pad;
            int8_t *dst = out_row + (ptrdiff_t)ox * out_pix_stride + c;
            int32_t a0 = b[0], a1 = b[1], a2 = b[2], a3 = b[3];
            int32_t ky;
            if (ox >= in0 && ox < in1) {
                /* All taps of the pixel's rows inside the map (kw 3, 5 or 7): the row's taps unrolled. */
                for (ky = ky0; ky < ky1; ++ky) {
                    const ptrdiff_t step = (ptrdiff_t)dil * row_pix[ky];
                    const int8_t *xp = rows[ky] + (ptrdiff_t)x0 * row_pix[ky] + c;
                    const int32_t *wp = wk + 2 * ky * kw;
                    MCU_DW_TAP(xp, wp);
                    MCU_DW_TAP(xp + step, wp + 2);
                    MCU_DW_TAP(xp + 2 * step, wp + 4);
                    if (kw > 3) {
                        MCU_DW_TAP(xp + 3 * step, wp + 6);
                        MCU_DW_TAP(xp + 4 * step, wp + 8);
                        if (kw > 5) {
                            MCU_DW_TAP(xp + 5 * step, wp + 10);
                            MCU_DW_TAP(xp + 6 * step, wp + 12);
                        }
                    }
                }
            } else {
                int32_t kx0, kx1;
                mcu_tap_range(x0, in_w, kw, dil, &kx0, &kx1);
                for (ky = ky0; ky < ky1 && kx0 < kx1; ++ky) {
                    const ptrdiff_t step = (ptrdiff_t)dil * row_pix[ky];
                    const int8_t *xp = rows[ky] + (ptrdiff_t)(x0 + kx0 * dil) * row_pix[ky] + c;
                    const int32_t *wp = wk + 2 * (ky * kw + kx0);
                    const int32_t *const wend = wk + 2 * (ky * kw + kx1);
                    for (; wp < wend; wp += 2) {
                        MCU_DW_TAP(xp, wp);
                        xp += step;
                    }
                }
            }
            if (short_form) {
                const int32_t y0 = mcu_rqs_apply(a0, rs[0].mult, rs[0].right, rs[0].add);
                const int32_t y1 = mcu_rqs_apply(a1, rs[1].mult, rs[1].right, rs[1].add);
                const int32_t y2 = mcu_rqs_apply(a2, rs[2].mult, rs[2].right, rs[2].add);
                const int32_t y3 = mcu_rqs_apply(a3, rs[3].mult, rs[3].right, rs[3].add);
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
            } else if (fast) {
                dst[0] = (int8_t)mcu_rq_apply(a0, &rq[0], out_off, act_min, act_max);
                dst[1] = (int8_t)mcu_rq_apply(a1, &rq[1], out_off, act_min, act_max);
                dst[2] = (int8_t)mcu_rq_apply(a2, &rq[2], out_off, act_min, act_max);
                dst[3] = (int8_t)mcu_rq_apply(a3, &rq[3], out_off, act_min, act_max);
            } else {
                dst[0] = mcu_requantize_s8(a0, mult[c], shift[c], out_off, act_min, act_max);
                dst[1] = mcu_requantize_s8(a1, mult[c + 1], shift[c + 1], out_off, act_min, act_max);
                dst[2] = mcu_requantize_s8(a2, mult[c + 2], shift[c + 2], out_off, act_min, act_max);
                dst[3] = mcu_requantize_s8(a3, mult[c + 3], shift[c + 3], out_off, act_min, act_max);
            }
        }
    }
    return c;
}

/*
 * DSP path, depth multiplier 1: channels [0, in_c & ~3) of a whole output row, four channels at a
 * time (dw_row_dsp_k, compiled for kernel widths 3, 5, 7 and any). Returns the number of channels done.
 */
static int32_t mcu_internal_dw_row_dsp(const int8_t *const *rows, const int32_t *row_pix, int32_t ky0,
                                       int32_t ky1, int32_t in_w, int32_t in_c, const int8_t *filter,
                                       int32_t fstride, const int32_t *bias, const mcu_window_t *win, const mcu_conv_quant_t *q,
                                       int8_t *out_row, int32_t out_w, int32_t out_pix_stride)
{
    switch (win->kernel_w) {
    case 3:
        return dw_row_dsp_k(rows, row_pix, ky0, ky1, in_w, in_c, filter, fstride, bias, win, q, out_row, out_w,
                            out_pix_stride, 3);
    case 5:
        return dw_row_dsp_k(rows, row_pix, ky0, ky1, in_w, in_c, filter, fstride, bias, win, q, out_row, out_w,
                            out_pix_stride, 5);
    case 7:
        return dw_row_dsp_k(rows, row_pix, ky0, ky1, in_w, in_c, filter, fstride, bias, win, q, out_row, out_w,
                            out_pix_stride, 7);
    default:
        return dw_row_dsp_k(rows, row_pix, ky0, ky1, in_w, in_c, filter, fstride, bias, win, q, out_row, out_w,
                            out_pix_stride, 0);
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
        const int32_t done = mcu_internal_dw_row_dsp(rows, row_pix, ky0, ky1, in_w, in_c, filter, fstride, bias, win, q,
                                                     out_row, out_w, out_pix_stride);
        for (ox = 0; ox < out_w && done < in_c; ++ox) {
            const int32_t x0 = ox * win->stride_w - win->pad_left;
            int32_t kx0, kx1;
            mcu_tap_range(x0, in_w, win->kernel_w, win->dilation_w, &kx0, &kx1);
            dw_pixel_scalar(rows, row_pix, ky0, ky1, kx0, kx1, x0, done, oc_n, filter, fstride, bias, win, 1, q,
                            out_row + (ptrdiff_t)ox * out_pix_stride);
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
