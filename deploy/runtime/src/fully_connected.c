/*
 * FULLY_CONNECTED: rows of k inputs times the [n][k] filter, per-channel requantization (a
 * per-tensor filter scale is a multiplier array of n equal entries). DSP path: each input row
 * widened once to int16 in the scratch, then __smlad dot products, two outputs at a time. Portable
 * path: the same int16 column, plain dot products four outputs at a time (portable_column.c).
 */
#include "mcu_rt_internal.h"

size_t mcu_fully_connected_s8_scratch_size(int32_t k)
{
    return k > 0 ? 2u * mcu_round4((size_t)k) : 0;
}

mcu_status_t mcu_fully_connected_s8(const int8_t *in, int32_t rows, int32_t k, const int8_t *filter,
                                    const int32_t *bias, int32_t n, const mcu_conv_quant_t *q, int8_t *out,
                                    void *scratch)
{
    int32_t r;
    if (in == NULL || filter == NULL || out == NULL || q == NULL || q->multiplier == NULL || q->shift == NULL) {
        return MCU_RT_ERR_ARG;
    }
    if (rows <= 0 || k <= 0 || n <= 0) {
        return MCU_RT_ERR_SHAPE;
    }
    if (!mcu_scratch_ok(scratch, mcu_fully_connected_s8_scratch_size(k))) {
        return MCU_RT_ERR_ARG;
    }
    for (r = 0; r < rows; ++r) {
        const int8_t *x = in + (size_t)r * (size_t)k;
        int8_t *y = out + (size_t)r * (size_t)n;
#if defined(MCU_RT_USE_DSP)
        int16_t *col = (int16_t *)scratch;
        mcu_internal_col_pack(col, x, k, q->input_offset);
        mcu_internal_col_outputs(col, k, filter, bias, n, q, y);
#else
        int16_t *col = (int16_t *)scratch;
        mcu_internal_col_widen(col, x, k, q->input_offset);
        mcu_internal_col_dot_outputs(col, k, filter, bias, n, q, y);
#endif
    }
    return MCU_RT_OK;
}
