/*
 * The portable path's int16 column x int8 filter rows (conv 1x1, general conv, fully connected):
 * the counterpart of dsp_column.c when MCU_RT_USE_DSP is not defined. The column is in natural
 * order (no DSP reordering): col[i] = x[i] + input_offset, 0 for a tap outside the map.
 *
 * Loop shapes are chosen so that a compiler's cheapest auto-vectorizer (GCC -O2) handles them
 * without run-time checks or epilogues: the main loop runs a trip count that is a multiple of 16
 * (k & ~15), four filter rows share each column load, and the k % 16 tail is one more fixed block
 * of 16 (zero-padded, see below). The arithmetic is that of the one-row loop: each product is exact
 * in int32, the extra products are zeros, and the int32 sum does not depend on the order of its
 * terms, so the result is bit-exact whatever the vectorizer does with the summation order.
 */
#include "mcu_rt_internal.h"

#if !defined(MCU_RT_USE_DSP)

#define MCU_COL_BLOCK 16

/*
 * A column shorter than a block (k < 16, e.g. a 1x1 conv on 8 channels): each filter row is read
 * through a 16-byte window of the filter that contains it, the rest of the window (neighbouring
 * rows) multiplied by zeros. front: the row at the window's end (column values at the end of a
 * zero-padded block), for rows with (r + 1) * k >= 16; back: the row at the window's start, for
 * the others (r * k + 16 <= n * k, true for every such row when n * k >= 32, which the caller
 * checks). Same products, plus zeros: the same int32 sum.
 */
static void dot_outputs_short(const int16_t *col, int32_t k, const int8_t *filter, const int32_t *bias,
                              int32_t n, const mcu_conv_quant_t *q, int8_t *out)
{
    const int32_t *mult = q->multiplier, *shift = q->shift;
    const int32_t out_off = q->output_offset, act_min = q->act_min, act_max = q->act_max;
    int16_t front[MCU_COL_BLOCK], back[MCU_COL_BLOCK];
    int32_t j, r;
    for (j = 0; j < MCU_COL_BLOCK; ++j) {
        front[j] = j >= MCU_COL_BLOCK - k ? col[j - (MCU_COL_BLOCK - k)] : 0;
        back[j] = j < k ? col[j] : 0;
    }
    for (r = 0; r < n; ++r) {
        const int use_front = (r + 1) * k >= MCU_COL_BLOCK;
        const int16_t *x = use_front ? front : back;
        const int8_t *w = filter + (ptrdiff_t)r * k + (use_front ? k - MCU_COL_BLOCK : 0);
        int32_t a = bias != NULL ? bias[r] : 0;
        for (j = 0; j < MCU_COL_BLOCK; ++j) {
            a += x[j] * w[j];
        }
        out[r] = mcu_requantize_s8(a, mult[r], shift[r], out_off, act_min, act_max);
    }
}

void mcu_internal_col_dot_outputs(const int16_t *col, int32_t k, const int8_t *filter, const int32_t *bias,
                                  int32_t n, const mcu_conv_quant_t *q, int8_t *out)
{
    /*
     * k = k16 + t (t < 16). Columns [0, k16): the main loops. The tail (t > 0, k >= 16): one more
     * block, the filter bytes [k - 16, k) of each row against `tail`, which holds the last t column
     * values after 16 - t zeros (the zeros meet weights the main loop already counted).
     */
    const int32_t *mult = q->multiplier, *shift = q->shift;
    const int32_t out_off = q->output_offset, act_min = q->act_min, act_max = q->act_max;
    const int32_t k16 = k & ~(MCU_COL_BLOCK - 1);
    const int block_tail = k > k16 && k >= MCU_COL_BLOCK;
    int16_t tail[MCU_COL_BLOCK];
    int32_t j = 0;
    if (k < MCU_COL_BLOCK && (int64_t)n * k >= 2 * MCU_COL_BLOCK) {
        dot_outputs_short(col, k, filter, bias, n, q, out);
        return;
    }
    if (block_tail) {
        for (j = 0; j < MCU_COL_BLOCK; ++j) {
            tail[j] = j >= MCU_COL_BLOCK - (k - k16) ? col[k - MCU_COL_BLOCK + j] : 0;
        }
        j = 0;
    }
    for (; j + 4 <= n; j += 4) {
        const int8_t *w0 = filter + (size_t)j * (size_t)k;
        const int8_t *w1 = w0 + k;
        const int8_t *w2 = w1 + k;
        const int8_t *w3 = w2 + k;
        int32_t a0 = bias != NULL ? bias[j] : 0;
        int32_t a1 = bias != NULL ? bias[j + 1] : 0;
        int32_t a2 = bias != NULL ? bias[j + 2] : 0;
        int32_t a3 = bias != NULL ? bias[j + 3] : 0;
        int32_t i;
        for (i = 0; i < k16; ++i) {
            const int32_t x = col[i];
            a0 += x * w0[i];
            a1 += x * w1[i];
            a2 += x * w2[i];
            a3 += x * w3[i];
        }
        if (block_tail) {
            const ptrdiff_t t0 = k - MCU_COL_BLOCK;
            for (i = 0; i < MCU_COL_BLOCK; ++i) {
                const int32_t x = tail[i];
                a0 += x * w0[t0 + i];
                a1 += x * w1[t0 + i];
                a2 += x * w2[t0 + i];
                a3 += x * w3[t0 + i];
            }
        } else {
            for (i = k16; i < k; ++i) {
                const int32_t x = col[i];
                a0 += x * w0[i];
                a1 += x * w1[i];
                a2 += x * w2[i];
                a3 += x * w3[i];
            }
        }
        out[j] = mcu_requantize_s8(a0, mult[j], shift[j], out_off, act_min, act_max);
        out[j + 1] = mcu_requantize_s8(a1, mult[j + 1], shift[j + 1], out_off, act_min, act_max);
        out[j + 2] = mcu_requantize_s8(a2, mult[j + 2], shift[j + 2], out_off, act_min, act_max);
        out[j + 3] = mcu_requantize_s8(a3, mult[j + 3], shift[j + 3], out_off, act_min, act_max);
    }
    for (; j < n; ++j) {
        const int8_t *w = filter + (size_t)j * (size_t)k;
        int32_t a = bias != NULL ? bias[j] : 0;
        int32_t i;
        for (i = 0; i < k16; ++i) {
            a += col[i] * w[i];
        }
        if (block_tail) {
            for (i = 0; i < MCU_COL_BLOCK; ++i) {
                a += tail[i] * w[k - MCU_COL_BLOCK + i];
            }
        } else {
            for (i = k16; i < k; ++i) {
                a += col[i] * w[i];
            }
        }
        out[j] = mcu_requantize_s8(a, mult[j], shift[j], out_off, act_min, act_max);
    }
}

#else

/* ISO C forbids an empty translation unit. */
typedef int mcu_rt_portable_column_unused;

#endif /* !MCU_RT_USE_DSP */
