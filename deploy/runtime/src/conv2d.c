/*
 * CONV_2D, general kernel: any kernel size, stride, dilation and pads (the stem, and any k x k conv
 * of a patch stage). Both paths build one output pixel's im2col column in the scratch (int16, input
 * offset added, zeros for out-of-image taps, which then contribute nothing) and dot it with every
 * filter row (DSP path: __smlad on the reordered column; portable path: portable_column.c). The
 * DSP path on small columns (round4(k) <= FOUR_MAX, k = kh * kw * in_c taps: stems, small convs)
 * and the 1x1 kernel's fast requantization builds four pixels' columns at once and runs the 1x1
 * kernel's rows (one filter row x four pixels) over them: each weight word is unpacked once per
 * four pixels instead of once per pixel.
 */
#include "mcu_rt_internal.h"

/* The largest round4(k) of the four-column path; its scratch is 12 * round4(k) bytes. */
#define FOUR_MAX 64

size_t mcu_conv2d_s8_scratch_size(const mcu_window_t *win, int32_t in_c)
{
    if (win == NULL || win->kernel_h <= 0 || win->kernel_w <= 0 || in_c <= 0) {
        return 0;
    }
    /* mcu_conv2d_s8 hands a 1x1 kernel without pads (and this scratch) to mcu_conv2d_1x1_s8. */
    if (win->kernel_h == 1 && win->kernel_w == 1 && win->pad_top == 0 && win->pad_bottom == 0 &&
        win->pad_left == 0 && win->pad_right == 0) {
        return mcu_conv2d_1x1_s8_scratch_size(in_c);
    }
    {
        /* Four columns (8 * round4(k)) and their four stages (4 * round4(k)), or one column. */
        const size_t k4 = mcu_round4((size_t)win->kernel_h * (size_t)win->kernel_w * (size_t)in_c);
        return k4 <= FOUR_MAX ? 12u * k4 : 2u * k4;
    }
}

static mcu_status_t conv_check(const mcu_src_t *in, const int8_t *filter, const mcu_window_t *win,
                               const mcu_conv_quant_t *q, const mcu_dst_t *out)
{
    if (!mcu_src_ok(in) || !mcu_dst_ok(out) || !mcu_window_ok(win) || filter == NULL || q == NULL ||
        q->multiplier == NULL || q->shift == NULL) {
        return MCU_RT_ERR_ARG;
    }
    if (!mcu_window_fits(win, in->h, in->w, out->h, out->w)) {
        return MCU_RT_ERR_SHAPE;
    }
    return MCU_RT_OK;
}

#if defined(MCU_RT_USE_DSP)
/* d[0 .. n) = s[0 .. n): words (unaligned LDR / STR), then a halfword and a byte. */
static inline __attribute__((always_inline)) void stage_copy(int8_t *d, const int8_t *s, int32_t n)
{
    const int8_t *const e = s + (n & ~3);
    for (; s < e; s += 4, d += 4) {
        mcu_store_s32(d, mcu_load_s32(s));
    }
    if (n & 2) {
        memcpy(d, s, 2);
        d += 2;
        s += 2;
    }
    if (n & 1) {
        *d = *s;
    }
}

/* d[0 .. n) = v (out-of-image taps). */
static void stage_fill(int8_t *d, int8_t v, int32_t n)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        d[i] = v;
    }
}

/*
 * The taps of the pixel whose window starts at (y0, x0) into the stage in natural order, those
 * outside [ky0, ky1) x [kx0, kx1) as fill: any window (the border pixels, dilated or strided input).
 */
static __attribute__((noinline)) void stage_taps(int8_t *stage, const mcu_src_t *in, const mcu_window_t *win,
                                                 int32_t y0, int32_t x0, int32_t ky0, int32_t ky1, int32_t kx0,
                                                 int32_t kx1, int8_t fill)
{
    const int32_t ci = in->c, kw = win->kernel_w, run = kw * ci;
    const int dense = win->dilation_w == 1 && in->pix_stride == ci;
    int32_t ky, kx;
    for (ky = 0; ky < win->kernel_h; ++ky) {
        int8_t *d = stage + ky * run;
        const int8_t *row = in->data + (ptrdiff_t)(y0 + ky * win->dilation_h) * in->row_stride;
        if (ky < ky0 || ky >= ky1 || kx0 >= kx1) {
            stage_fill(d, fill, run);
            continue;
        }
        stage_fill(d, fill, kx0 * ci);
        if (dense) {
            stage_copy(d + kx0 * ci, row + (ptrdiff_t)(x0 + kx0) * ci, (kx1 - kx0) * ci);
        } else {
            for (kx = kx0; kx < kx1; ++kx) {
                stage_copy(d + kx * ci, row + (ptrdiff_t)(x0 + kx * win->dilation_w) * in->pix_stride, ci);
            }
        }
        stage_fill(d + kx1 * ci, fill, (kw - kx1) * ci);
    }
}

/*
 * The rows runs of run bytes at src + r * step, one after the other at d. Runs of 4 to 12 bytes (a
 * stem's kernel row) as three words, at 0, min(4, run - 4) and run - 4 (overlapping when run < 12,
 * the same bytes written twice): no branch on the run's length, nothing read outside the runs.
 */
static __attribute__((noinline)) void stage_rows(int8_t *d, const int8_t *src, ptrdiff_t step, int32_t rows,
                                                 int32_t run)
{
    int32_t r;
    if (run >= 4 && run <= 12) {
        const int32_t mid = run < 8 ? run - 4 : 4, end = run - 4;
        for (r = 0; r < rows; ++r, src += step, d += run) {
            const int32_t a = mcu_load_s32(src), b = mcu_load_s32(src + mid), c = mcu_load_s32(src + end);
            mcu_store_s32(d, a);
            mcu_store_s32(d + mid, b);
            mcu_store_s32(d + end, c);
        }
        return;
    }
    for (r = 0; r < rows; ++r, src += step, d += run) {
        stage_copy(d, src, run);
    }
}

/*
 * The four-column path (a layer whose k = kh * kw * ci taps are at least 4, round4(k) <= FOUR_MAX,
 * with a fill byte, passing mcu_internal_pw4_fast_ok(round4(k), ...)). Pixels in raster-order
 * blocks of four; each pixel's taps staged as bytes, round4(k) per pixel after the four columns,
 * in mcu_internal_col_pw4_gap_outputs_fast's order: the k taps at stage + gap (gap = round4(k) -
 * k), out-of-image ones as fill, then the first r = 4 - gap taps moved down to the stage's start
 * and fill after them (one word: taps 0 .. 3 are in the stage as k >= 4). Packed doubled, the fill
 * widened to 0, then one filter row x four pixels per step. The last block, when short, repeats its
 * last pixel (stored twice, same values).
 */
static void conv_four(const mcu_src_t *in, const int8_t *filter, const int32_t *bias, const mcu_window_t *win,
                      const mcu_conv_quant_t *q, const mcu_dst_t *out, void *scratch)
{
    const int32_t ci = in->c, kh = win->kernel_h, kw = win->kernel_w, run = kw * ci;
    const int32_t taps = kh * kw * ci, k4 = (taps + 3) & ~3, gap = k4 - taps;
    const int8_t fill = (int8_t)-q->input_offset;
    const uint32_t fill4 = (uint32_t)(uint8_t)fill * 0x01010101u;
    const uint32_t keep = 0xFFFFFFFFu >> (8 * gap); /* the first group's taps, bytes 0 .. r - 1 */
    const int dense = win->dilation_w == 1 && in->pix_stride == ci && in->w >= kw;
    const ptrdiff_t rstep = (ptrdiff_t)win->dilation_h * in->row_stride;
    const uint32_t x_last = (uint32_t)(in->w - kw);
    int16_t *const buf = (int16_t *)scratch;
    int8_t *const stages = (int8_t *)scratch + 8 * k4;
    const int8_t *px[4];
    int8_t *dst[4];
    int32_t s = 0, oy, ox, i;
    for (oy = 0; oy < out->h; ++oy) {
        const int32_t y0 = oy * win->stride_h - win->pad_top;
        int8_t *o = out->data + (ptrdiff_t)oy * out->row_stride;
        int32_t ky0, ky1, x0 = -win->pad_left;
        int rows_in;
        mcu_tap_range(y0, in->h, kh, win->dilation_h, &ky0, &ky1);
        /* Pixels of a dense input whose kernel rows and columns are all in the image take runs. */
        rows_in = dense && ky0 == 0 && ky1 == kh;
        for (ox = 0; ox < out->w; ++ox, x0 += win->stride_w, o += out->pix_stride) {
            int8_t *const stage = stages + s * k4;
            int8_t *const d = stage + gap;
            if (rows_in && (uint32_t)x0 <= x_last) {
                stage_rows(d, in->data + (ptrdiff_t)y0 * in->row_stride + (ptrdiff_t)x0 * ci, rstep, kh, run);
            } else {
                int32_t kx0, kx1;
                mcu_tap_range(x0, in->w, kw, win->dilation_w, &kx0, &kx1);
                stage_taps(d, in, win, y0, x0, ky0, ky1, kx0, kx1, fill);
            }
            mcu_store_s32(stage, (int32_t)((mcu_load_u32(d) & keep) | (fill4 & ~keep)));
            px[s] = stage;
            dst[s] = o;
            if (++s == 4) {
                mcu_internal_col_pw4_pack(buf, px, k4, q->input_offset, 1);
                mcu_internal_col_pw4_gap_outputs_fast(buf, taps, filter, bias, out->c, q, dst);
                s = 0;
            }
        }
    }
    if (s > 0) {
        for (i = s; i < 4; ++i) {
            px[i] = px[s - 1];
            dst[i] = dst[s - 1];
        }
        mcu_internal_col_pw4_pack(buf, px, k4, q->input_offset, 1);
        mcu_internal_col_pw4_gap_outputs_fast(buf, taps, filter, bias, out->c, q, dst);
    }
}

/* Zero the column's taps outside [ky0, ky1) x [kx0, kx1) (kernel kh x kw, ci channels). */
static __attribute__((noinline)) void col_zero_outside(int16_t *col, int32_t kh, int32_t kw, int32_t ci,
                                                       int32_t ky0, int32_t ky1, int32_t kx0, int32_t kx1)
{
    int32_t ky, kx, c;
    for (ky = 0; ky < kh; ++ky) {
        for (kx = 0; kx < kw; ++kx) {
            if (ky < ky0 || ky >= ky1 || kx < kx0 || kx >= kx1) {
                for (c = 0; c < ci; ++c) {
                    col[mcu_internal_col_index((ky * kw + kx) * ci + c, kh * kw * ci)] = 0;
                }
            }
        }
    }
}
#endif

mcu_status_t mcu_conv2d_generic_s8(const mcu_src_t *in, const int8_t *filter, const int32_t *bias,
                                   const mcu_window_t *win, const mcu_conv_quant_t *q, const mcu_dst_t *out,
                                   void *scratch)
{
    int32_t ci, co, kh, kw, taps, oy, ox;
#if defined(MCU_RT_USE_DSP)
    int fast, fill_ok, dense;
    int8_t fill, *stage;
    int16_t *col;
    int32_t run, x_last;
    ptrdiff_t rstep;
#endif
    mcu_status_t st = conv_check(in, filter, win, q, out);
    if (st != MCU_RT_OK) {
        return st;
    }
    ci = in->c;
    co = out->c;
    kh = win->kernel_h;
    kw = win->kernel_w;
    taps = kh * kw * ci;
    if (!mcu_scratch_ok(scratch, mcu_conv2d_s8_scratch_size(win, ci))) {
        return MCU_RT_ERR_ARG;
    }
#if defined(MCU_RT_USE_DSP)
    /* A pixel's taps are staged as int8 in the column's upper half (mcu_internal_col_pack), an
     * out-of-image tap as -input_offset (the input zero point), which widens to 0; an offset
     * outside [-127, 128] has no such byte, and those taps are zeroed in the column instead. */
    fill_ok = q->input_offset >= -127 && q->input_offset <= 128;
    /* Four columns where the scratch has room (round4(k) <= FOUR_MAX, and not a 1x1 kernel without
     * pads, whose scratch is mcu_conv2d_1x1_s8's when this kernel is called directly). */
    if (fill_ok && taps >= 4 && mcu_conv2d_s8_scratch_size(win, ci) == 12u * mcu_round4((size_t)taps) &&
        mcu_internal_pw4_fast_ok((int32_t)mcu_round4((size_t)taps), bias, co, q)) {
        conv_four(in, filter, bias, win, q, out, scratch);
        return MCU_RT_OK;
    }
    fast = mcu_internal_rqs_layer_ok(taps, bias, co, q);
    fill = fill_ok ? (int8_t)-q->input_offset : 0;
    col = (int16_t *)scratch;
    stage = (int8_t *)scratch + mcu_round4((size_t)taps);
    /* A kernel row's in-image taps are one run of bytes when pixels are dense and undilated. */
    dense = win->dilation_w == 1 && in->pix_stride == ci;
    run = kw * ci;
    rstep = (ptrdiff_t)win->dilation_h * in->row_stride;
    x_last = in->w - kw;
#endif
    for (oy = 0; oy < out->h; ++oy) {
        const int32_t y0 = oy * win->stride_h - win->pad_top;
        int32_t ky0, ky1;
#if defined(MCU_RT_USE_DSP)
        int rows_in;
#endif
        mcu_tap_range(y0, in->h, kh, win->dilation_h, &ky0, &ky1);
#if defined(MCU_RT_USE_DSP)
        /* Pixels of a dense input whose kernel rows and columns are all in the image take runs. */
        rows_in = dense && ky0 == 0 && ky1 == kh;
#endif
        for (ox = 0; ox < out->w; ++ox) {
            const int32_t x0 = ox * win->stride_w - win->pad_left;
            int8_t *dst = out->data + (ptrdiff_t)oy * out->row_stride + (ptrdiff_t)ox * out->pix_stride;
            int32_t kx0, kx1;
#if defined(MCU_RT_USE_DSP)
            {
                /* The taps in natural order into the stage, then widened into the column. */
                const int edge = !rows_in || x0 < 0 || x0 > x_last;
                if (!edge) {
                    /* Each kernel row's taps are one run of bytes in the input. */
                    mcu_internal_col_pack_rows(col, in->data + (ptrdiff_t)y0 * in->row_stride + (ptrdiff_t)x0 * ci,
                                               rstep, kh, run, q->input_offset);
                } else {
                    mcu_tap_range(x0, in->w, kw, win->dilation_w, &kx0, &kx1);
                    stage_taps(stage, in, win, y0, x0, ky0, ky1, kx0, kx1, fill);
                    mcu_internal_col_pack(col, stage, taps, q->input_offset);
                }
                if (edge && !fill_ok) {
                    col_zero_outside(col, kh, kw, ci, ky0, ky1, kx0, kx1);
                }
                if (fast) {
                    mcu_internal_col_outputs_fast(col, taps, filter, bias, co, q, dst);
                } else {
                    mcu_internal_col_outputs(col, taps, filter, bias, co, q, dst);
                }
            }
#else
            mcu_tap_range(x0, in->w, kw, win->dilation_w, &kx0, &kx1);
            {
                /* The natural-order column: in-image taps widened (+ input offset), 0 elsewhere. */
                int16_t *col = (int16_t *)scratch;
                const int32_t dense = win->dilation_w == 1 && in->pix_stride == ci;
                int32_t ky, kx;
                for (ky = 0; ky < kh; ++ky) {
                    int16_t *col_row = col + ky * kw * ci;
                    if (ky < ky0 || ky >= ky1 || kx0 >= kx1) {
                        mcu_internal_col_zero(col_row, kw * ci);
                        continue;
                    }
                    {
                        const int8_t *row = in->data + (ptrdiff_t)(y0 + ky * win->dilation_h) * in->row_stride;
                        mcu_internal_col_zero(col_row, kx0 * ci);
                        if (dense) {
                            mcu_internal_col_widen(col_row + kx0 * ci, row + (ptrdiff_t)(x0 + kx0) * ci,
                                                   (kx1 - kx0) * ci, q->input_offset);
                        } else {
                            for (kx = kx0; kx < kx1; ++kx) {
                                mcu_internal_col_widen(col_row + kx * ci,
                                                       row + (ptrdiff_t)(x0 + kx * win->dilation_w) *
                                                                 in->pix_stride,
                                                       ci, q->input_offset);
                            }
                        }
                        mcu_internal_col_zero(col_row + kx1 * ci, (kw - kx1) * ci);
                    }
                }
                mcu_internal_col_dot_outputs(col, taps, filter, bias, co, q, dst);
            }
#endif
        }
    }
    return MCU_RT_OK;
}

mcu_status_t mcu_conv2d_s8(const mcu_src_t *in, const int8_t *filter, const int32_t *bias,
                           const mcu_window_t *win, const mcu_conv_quant_t *q, const mcu_dst_t *out,
                           void *scratch)
{
    if (win != NULL && win->kernel_h == 1 && win->kernel_w == 1 && win->pad_top == 0 && win->pad_bottom == 0 &&
        win->pad_left == 0 && win->pad_right == 0) {
        return mcu_conv2d_1x1_s8(in, filter, bias, win, q, out, scratch);
    }
    return mcu_conv2d_generic_s8(in, filter, bias, win, q, out, scratch);
}
