/*
 * ADD (TFLite int8): both inputs shifted left by 20 after removing their zero points, each
 * rescaled to the common scale 2 * max(s1, s2), summed, requantized to the output scale.
 * DSP path: where every one of the three requantizations passes mcu_rqs_make (the usual case),
 * each takes the short exact form mcu_rqs_apply (SMMULR, one add, one shift) instead of
 * mcu_requantize's general double rounding: about a quarter of the instructions per element.
 */
#include "mcu_rt_internal.h"

#if defined(MCU_RT_USE_DSP)
/*
 * An input's rescale in mcu_rqs_apply's short form, also for shift 0 (TFLite gives the input of the
 * larger scale multiplier 2^30 and shift 0): there the result is the doubling high multiply itself,
 * so the rounding terms are masked off (add = 0, neg = 0); else neg = -1 and mcu_rqs_apply's terms.
 */
typedef struct {
    mcu_rqs_t r;
    int32_t neg;
} add_rescale_t;

static int add_rescale_make(add_rescale_t *s, int32_t multiplier, int32_t shift, int32_t acc_range)
{
    if (shift == 0) {
        if (acc_range >= (1 << 30)) {
            return 0; /* 2 * acc must fit int32 */
        }
        s->r.mult = multiplier;
        s->r.right = 0;
        s->r.add = 0;
        s->neg = 0;
        return 1;
    }
    s->neg = -1;
    return mcu_rqs_make(&s->r, multiplier, shift, 0, acc_range, 0);
}

/* The rescale of an accumulator acc given as 2 * acc (mcu_rqs_apply doubles it itself). */
static inline int32_t add_rescale2(int32_t acc2, int32_t mult, int32_t add, int32_t neg, int32_t right)
{
    const int32_t high = mcu_smmulr(acc2, mult);
    return (high + add + ((high >> 31) & neg)) >> right;
}

/*
 * The short forms, when they apply: |x + input_offset| <= 255 (offsets in [-127, 128]), so
 * 255 << left_shift bounds an input's accumulator; a rescaled input is at most that plus one
 * (|multiplier| <= 2^31, then a right shift or none), so their sum is within twice it plus two.
 */
static int add_short_forms(const mcu_add_quant_t *q, add_rescale_t *s1, add_rescale_t *s2, mcu_rqs_t *ro)
{
    int32_t in_range;
    if (q->input1_offset < -127 || q->input1_offset > 128 || q->input2_offset < -127 || q->input2_offset > 128 ||
        q->left_shift > 21) {
        return 0;
    }
    in_range = 255 * (1 << q->left_shift);
    return add_rescale_make(s1, q->input1_multiplier, q->input1_shift, in_range) &&
           add_rescale_make(s2, q->input2_multiplier, q->input2_shift, in_range) &&
           mcu_rqs_make(ro, q->output_multiplier, q->output_shift, 0, 2 * in_range + 2, q->output_offset);
}
#endif

mcu_status_t mcu_add_s8(const mcu_src_t *a, const mcu_src_t *b, const mcu_add_quant_t *q, const mcu_dst_t *out)
{
    int32_t y, x, c;
#if defined(MCU_RT_USE_DSP)
    add_rescale_t s1, s2;
    mcu_rqs_t ro;
    int fast;
#endif
    if (!mcu_src_ok(a) || !mcu_src_ok(b) || !mcu_dst_ok(out) || q == NULL) {
        return MCU_RT_ERR_ARG;
    }
    if (a->h != out->h || a->w != out->w || a->c != out->c || b->h != out->h || b->w != out->w || b->c != out->c ||
        q->left_shift < 0 || q->left_shift > 23) {
        return MCU_RT_ERR_SHAPE;
    }
#if defined(MCU_RT_USE_DSP)
    fast = add_short_forms(q, &s1, &s2, &ro);
#endif
    for (y = 0; y < out->h; ++y) {
        for (x = 0; x < out->w; ++x) {
            const int8_t *pa = a->data + (ptrdiff_t)y * a->row_stride + (ptrdiff_t)x * a->pix_stride;
            const int8_t *pb = b->data + (ptrdiff_t)y * b->row_stride + (ptrdiff_t)x * b->pix_stride;
            int8_t *po = out->data + (ptrdiff_t)y * out->row_stride + (ptrdiff_t)x * out->pix_stride;
#if defined(MCU_RT_USE_DSP)
            if (fast) {
                /* Everything in locals (the int8 stores could alias *q and the views). */
                const int32_t off1 = q->input1_offset, off2 = q->input2_offset, m2 = 2 * (1 << q->left_shift);
                const int32_t act_min = q->act_min, act_max = q->act_max, n = out->c;
                for (c = 0; c < n; ++c) {
                    const int32_t ra = add_rescale2((pa[c] + off1) * m2, s1.r.mult, s1.r.add, s1.neg, s1.r.right);
                    const int32_t rb = add_rescale2((pb[c] + off2) * m2, s2.r.mult, s2.r.add, s2.neg, s2.r.right);
                    po[c] = mcu_clamp_s8(mcu_rqs_apply(ra + rb, ro.mult, ro.right, ro.add), act_min, act_max);
                }
                continue;
            }
#endif
            for (c = 0; c < out->c; ++c) {
                /* |x + offset| <= 255, so the 2^20 shift stays inside int32. */
                const int32_t sa = (pa[c] + q->input1_offset) * (1 << q->left_shift);
                const int32_t sb = (pb[c] + q->input2_offset) * (1 << q->left_shift);
                const int32_t ra = mcu_requantize(sa, q->input1_multiplier, q->input1_shift);
                const int32_t rb = mcu_requantize(sb, q->input2_multiplier, q->input2_shift);
                po[c] = mcu_requantize_s8(ra + rb, q->output_multiplier, q->output_shift, q->output_offset,
                                          q->act_min, q->act_max);
            }
        }
    }
    return MCU_RT_OK;
}
