/*
 * DEPTHWISE_CONV_2D in place (output over input, depth multiplier 1). Output channel ch lands only
 * on bytes of input channel ch (the same view, or a pixel-dense output at or before the input with
 * channel-aligned offsets, see mcu_rt.h), so the map is done in slices of MCU_DW_INPLACE_CH
 * channels, one after the other, each row by row. Output row y is written at or before input row
 * y (never past the start of input row y + 1); input rows at or above the current output row are
 * read from a ring of saved rows (of the slice's channels) in the scratch. Output row y reads
 * input rows from y * stride - pad_top >= y - pad_top on, so the ring needs the last pad_top + 1
 * rows (fewer when the output has fewer rows).
 */
#include "mcu_rt_internal.h"

/*
 * Channels per slice: a small ring (its bytes scale with it) against the per-row cost of each slice;
 * 16 is the portable path's channel block and four of the DSP path's groups (vww.tflite on M4: 4 would
 * save 960 B of arena and cost 1.05M instructions with the DSP path, 9.5M without).
 */
#define MCU_DW_INPLACE_CH 16

static int32_t ring_rows(const mcu_window_t *win, int32_t out_h)
{
    const int32_t r = win->pad_top + 1;
    return r < out_h ? r : out_h;
}

size_t mcu_depthwise_conv2d_inplace_s8_scratch_size(const mcu_window_t *win, int32_t in_w, int32_t c,
                                                    int32_t out_h)
{
    if (win == NULL || win->pad_top < 0 || in_w <= 0 || c <= 0 || out_h <= 0) {
        return 0;
    }
    return (size_t)ring_rows(win, out_h) * (size_t)in_w * (size_t)(c < MCU_DW_INPLACE_CH ? c : MCU_DW_INPLACE_CH);
}

/* The two layouts mcu_rt.h allows for the output of the in-place kernel over map. */
static int inplace_layout_ok(const mcu_dst_t *map, const mcu_dst_t *out)
{
    const int32_t c = map->c;
    ptrdiff_t before;
    if (out->data == map->data && out->row_stride == map->row_stride && out->pix_stride == map->pix_stride) {
        return 1; /* the input's own view: output pixel (y, x) where input pixel (y, x) was */
    }
    if (map->pix_stride != c || out->pix_stride != c || map->row_stride % c != 0 || out->row_stride % c != 0 ||
        out->row_stride > map->row_stride || out->data > map->data) {
        return 0;
    }
    before = map->data - out->data;
    return before % c == 0;
}

mcu_status_t mcu_depthwise_conv2d_inplace_s8(const mcu_dst_t *map, const mcu_dst_t *out, const int8_t *filter,
                                             const int32_t *bias, const mcu_window_t *win,
                                             const mcu_conv_quant_t *q, void *scratch)
{
    const int8_t *rows[MCU_RT_MAX_KERNEL_H];
    int32_t row_pix[MCU_RT_MAX_KERNEL_H];
    int8_t *ring = (int8_t *)scratch;
    int32_t ring_n, out_h, out_w, c0, oy, ky, x, words;
    if (!mcu_dst_ok(map) || !mcu_dst_ok(out) || !mcu_window_ok(win) || filter == NULL || q == NULL ||
        q->multiplier == NULL || q->shift == NULL || win->kernel_h > MCU_RT_MAX_KERNEL_H) {
        return MCU_RT_ERR_ARG;
    }
    out_h = out->h;
    out_w = out->w;
    if (out_h <= 0 || out_w <= 0 || out_h > map->h || out_w > map->w || out->c != map->c ||
        !mcu_window_fits(win, map->h, map->w, out_h, out_w) || !inplace_layout_ok(map, out)) {
        return MCU_RT_ERR_SHAPE;
    }
    if (scratch == NULL ||
        !mcu_scratch_ok(scratch, mcu_depthwise_conv2d_inplace_s8_scratch_size(win, map->w, map->c, out_h))) {
        return MCU_RT_ERR_ARG;
    }
    ring_n = ring_rows(win, out_h);
    /* Every saved pixel of a full slice word-aligned (the scratch is): a 16-byte copy, one LDM / STM pair. */
    words = (((uintptr_t)map->data | (uintptr_t)map->row_stride | (uintptr_t)map->pix_stride) & 3u) == 0;
    for (c0 = 0; c0 < map->c; c0 += MCU_DW_INPLACE_CH) {
        /* Channels [c0, c0 + n): filter, bias and requantization arrays start at c0. */
        const int32_t n = map->c - c0 < MCU_DW_INPLACE_CH ? map->c - c0 : MCU_DW_INPLACE_CH;
        const int32_t row_bytes = map->w * n;
        int8_t *const base = map->data + c0;
        mcu_conv_quant_t qs = *q;
#if defined(MCU_RT_USE_DSP)
        mcu_dw_prep_t prep; /* the slice's weights and requantization, prepared once for all its rows */
        int prepared;
#endif
        qs.multiplier += c0;
        qs.shift += c0;
#if defined(MCU_RT_USE_DSP)
        prepared = mcu_internal_dw_prep(&prep, filter + c0, map->c, bias != NULL ? bias + c0 : NULL, win, &qs, 0, n);
#endif
        for (ky = 0; ky < win->kernel_h; ++ky) {
            rows[ky] = NULL;
            row_pix[ky] = map->pix_stride;
        }
        for (oy = 0; oy < out_h; ++oy) {
            const int8_t *map_row = base + (ptrdiff_t)oy * map->row_stride;
            const int32_t y0 = oy * win->stride_h - win->pad_top;
            int32_t ky0, ky1;
            /* Save the slice of input row oy before output row oy (at or before it) can overwrite it. */
            int8_t *saved = ring + (oy % ring_n) * row_bytes;
            if (n == MCU_DW_INPLACE_CH && words) {
                const ptrdiff_t pix = map->pix_stride; /* locals: the stores could alias *map */
                const int8_t *src = map_row;
                int8_t *dst = saved;
                for (; dst < saved + row_bytes; dst += MCU_DW_INPLACE_CH, src += pix) {
                    memcpy(__builtin_assume_aligned(dst, 4), __builtin_assume_aligned(src, 4),
                           MCU_DW_INPLACE_CH);
                }
            } else if (n == MCU_DW_INPLACE_CH) { /* a constant size: word copies (a variable size is a call) */
                for (x = 0; x < map->w; ++x) {
                    memcpy(saved + x * MCU_DW_INPLACE_CH, map_row + (ptrdiff_t)x * map->pix_stride, MCU_DW_INPLACE_CH);
                }
            } else {
                for (x = 0; x < map->w; ++x) {
                    memcpy(saved + x * n, map_row + (ptrdiff_t)x * map->pix_stride, (size_t)n);
                }
            }
            mcu_tap_range(y0, map->h, win->kernel_h, win->dilation_h, &ky0, &ky1);
            for (ky = ky0; ky < ky1; ++ky) {
                const int32_t r = y0 + ky * win->dilation_h;
                if (r <= oy) { /* overwritten (or about to be): read the saved copy */
                    rows[ky] = ring + (r % ring_n) * row_bytes;
                    row_pix[ky] = n;
                } else { /* below the output rows written so far: intact */
                    rows[ky] = base + (ptrdiff_t)r * map->row_stride;
                    row_pix[ky] = map->pix_stride;
                }
            }
#if defined(MCU_RT_USE_DSP)
            if (prepared) {
                mcu_internal_dw_row_prep(&prep, rows, row_pix, ky0, ky1, map->w, win, &qs,
                                         out->data + c0 + (ptrdiff_t)oy * out->row_stride, out_w, out->pix_stride);
                continue;
            }
#endif
            mcu_internal_dw_row_s8(rows, row_pix, ky0, ky1, map->w, n, filter + c0, map->c,
                                   bias != NULL ? bias + c0 : NULL, win, 1, &qs,
                                   out->data + c0 + (ptrdiff_t)oy * out->row_stride, out_w, out->pix_stride);
        }
    }
    return MCU_RT_OK;
}
