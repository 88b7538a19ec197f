/* Vectorised requantization helper (the scalar rule is mcu_requantize in mcu_rt.h). */
#include "mcu_rt_internal.h"

void mcu_requantize_block_s8(const int32_t *acc, int32_t n, const int32_t *multiplier, const int32_t *shift,
                             int32_t output_offset, int32_t act_min, int32_t act_max, int8_t *out)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        out[i] = mcu_requantize_s8(acc[i], multiplier[i], shift[i], output_offset, act_min, act_max);
    }
}
