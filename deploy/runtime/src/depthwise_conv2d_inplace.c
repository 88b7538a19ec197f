/*
 * DEPTHWISE_CONV_2D in place (output over input, depth multiplier 1). Output row y is written
 * over input row y; input rows at or above the current output row are read from a ring of saved
 * rows in the scratch. Output row y reads input rows from y * stride - pad_top >= y - pad_top on,
 * so the ring needs the last pad_top + 1 rows (fewer when the output has fewer rows).
 */
#include "mcu_rt_internal.h"

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
    return (size_t)ring_rows(win, out_h) * (size_t)in_w * (size_t)c;
}

mcu_status_t mcu_depthwise_conv2d_inplace_s8(const mcu_dst_t *map, int32_t out_h, int32_t out_w,
                                             const int8_t *filter, const int32_t *bias,
                                             const mcu_window_t *win, const mcu_conv_quant_t *q, void *scratch)
{
    const int8_t *rows[MCU_RT_MAX_KERNEL_H];
    int32_t row_pix[MCU_RT_MAX_KERNEL_H];
    int8_t *ring = (int8_t *)scratch;
    int32_t ring_n, row_bytes, oy, ky, x;
    if (!mcu_dst_ok(map) || !mcu_window_ok(win) || filter == NULL || q == NULL || q->multiplier == NULL ||
        q->shift == NULL || win->kernel_h > MCU_RT_MAX_KERNEL_H) {
        return MCU_RT_ERR_ARG;
    }
    if (out_h <= 0 || out_w <= 0 || out_h > map->h || out_w > map->w ||
        !mcu_window_fits(win, map->h, map->w, out_h, out_w)) {
        return MCU_RT_ERR_SHAPE;
    }
    if (scratch == NULL ||
        !mcu_scratch_ok(scratch, mcu_depthwise_conv2d_inplace_s8_scratch_size(win, map->w, map->c, out_h))) {
        return MCU_RT_ERR_ARG;
    }
    ring_n = ring_rows(win, out_h);
    row_bytes = map->w * map->c;
    for (ky = 0; ky < win->kernel_h; ++ky) {
        rows[ky] = NULL;
        row_pix[ky] = map->pix_stride;
    }
    for (oy = 0; oy < out_h; ++oy) {
        int8_t *map_row = map->data + (ptrdiff_t)oy * map->row_stride;
        const int32_t y0 = oy * win->stride_h - win->pad_top;
        int32_t ky0, ky1;
        /* Save input row oy before output row oy overwrites it. */
        int8_t *saved = ring + (oy % ring_n) * row_bytes;
        for (x = 0; x < map->w; ++x) {
            memcpy(saved + x * map->c, map_row + (ptrdiff_t)x * map->pix_stride, (size_t)map->c);
        }
        mcu_tap_range(y0, map->h, win->kernel_h, win->dilation_h, &ky0, &ky1);
        for (ky = ky0; ky < ky1; ++ky) {
            const int32_t r = y0 + ky * win->dilation_h;
            if (r <= oy) { /* already overwritten (or about to be): read the saved copy */
                rows[ky] = ring + (r % ring_n) * row_bytes;
                row_pix[ky] = map->c;
            } else {
                rows[ky] = map->data + (ptrdiff_t)r * map->row_stride;
                row_pix[ky] = map->pix_stride;
            }
        }
        mcu_internal_dw_row_s8(rows, row_pix, ky0, ky1, map->w, map->c, filter, bias, win, 1, q, map_row, out_w,
                               map->pix_stride);
    }
    return MCU_RT_OK;
}
