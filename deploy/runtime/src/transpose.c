/* TRANSPOSE of a dense 4-D int8 tensor (converter output puts one before MEAN). */
#include "mcu_rt_internal.h"

mcu_status_t mcu_transpose_s8(const int8_t *in, const int32_t dims[4], const int32_t perm[4], int8_t *out)
{
    int32_t in_stride[4], step[4], od[4], i0, i1, i2, i3, a, seen = 0;
    size_t n = 0;
    if (in == NULL || dims == NULL || perm == NULL || out == NULL) {
        return MCU_RT_ERR_ARG;
    }
    for (a = 0; a < 4; ++a) {
        if (dims[a] <= 0 || perm[a] < 0 || perm[a] > 3) {
            return MCU_RT_ERR_ARG;
        }
        seen |= 1 << perm[a];
    }
    if (seen != 15) {
        return MCU_RT_ERR_ARG;
    }
    in_stride[3] = 1;
    for (a = 2; a >= 0; --a) {
        in_stride[a] = in_stride[a + 1] * dims[a + 1];
    }
    for (a = 0; a < 4; ++a) {
        od[a] = dims[perm[a]];
        step[a] = in_stride[perm[a]]; /* output axis a walks input axis perm[a] */
    }
    for (i0 = 0; i0 < od[0]; ++i0) {
        for (i1 = 0; i1 < od[1]; ++i1) {
            for (i2 = 0; i2 < od[2]; ++i2) {
                const int8_t *src = in + (ptrdiff_t)i0 * step[0] + (ptrdiff_t)i1 * step[1] + (ptrdiff_t)i2 * step[2];
                for (i3 = 0; i3 < od[3]; ++i3) {
                    out[n++] = src[(ptrdiff_t)i3 * step[3]];
                }
            }
        }
    }
    return MCU_RT_OK;
}
