/*
 * ADD (TFLite int8): both inputs shifted left by 20 after removing their zero points, each
 * rescaled to the common scale 2 * max(s1, s2), summed, requantized to the output scale.
 * DSP path: where every one of the three requantizations passes mcu_rqs_make and the multipliers
 * are >= 0 (the usual case), each takes a short exact form (an SMMULR, or an SMMLAR, one add and one
 * shift; see add_short_t) instead of mcu_requantize's general double rounding, over one run of
 * elements when all three views are dense: about 20 instructions per element instead of ~100.
 */
#include "mcu_rt_internal.h"

#if defined(MCU_RT_USE_DSP)
/*
 * The short forms' constants. An input x goes in as v = x * m2 + c = 2 * (x + offset) * 2^left_shift
 * (one MLA), the doubled accumulator that mcu_rqs_apply's SMMULR wants; its rescale is then
 *   shift 0 (TFLite gives the input of the larger scale multiplier 2^30, shift 0): SMMULR(v, mult),
 *     MultiplyByQuantizedMultiplier without a rounding division;
 *   shift < 0: (SMMLAR(v, mult, add) + (v >> 31)) >> right: mcu_rqs_apply with the rounding's sign
 *     taken from v instead of from high = SMMULR(v, mult). With mult >= 0 the two signs differ only
 *     when v < 0 and high = 0, and then both give add >> right = 0 (add = 2^(right-1), right >= 1).
 * The output: (SMMLAR(2 * (ra + rb), mult, add) + (sum >> 31)) >> right, the same argument with
 * add = output_offset * 2^right + 2^(right-1): both give output_offset.
 */
typedef struct {
    mcu_rqs_t in1, in2, out;
    int32_t m2, c1, c2;
    int rounds1, rounds2; /* the input's shift is negative (else 0: no rounding division) */
} add_short_t;

static int add_rescale_make(mcu_rqs_t *r, int *rounds, int32_t multiplier, int32_t shift, int32_t acc_range)
{
    if (multiplier < 0) {
        return 0;
    }
    if (shift == 0) {
        r->mult = multiplier;
        r->right = 0;
        r->add = 0;
        *rounds = 0;
        return acc_range < (1 << 30); /* 2 * acc fits int32 */
    }
    *rounds = 1;
    return mcu_rqs_make(r, multiplier, shift, 0, acc_range, 0);
}

/*
 * Whether the short forms apply, with their constants in k: |x + input_offset| <= 255 (offsets in
 * [-127, 128]), so 255 << left_shift bounds an input's accumulator; a rescaled input is at most
 * that plus one (|multiplier| <= 2^31, then a right shift or none), so their sum is within twice
 * it plus two. Multipliers must be >= 0 (TFLite's always are): see add_short_t.
 */
static int add_short_make(const mcu_add_quant_t *q, add_short_t *k)
{
    int32_t in_range;
    if (q->input1_offset < -127 || q->input1_offset > 128 || q->input2_offset < -127 || q->input2_offset > 128 ||
        q->left_shift > 21 || q->output_multiplier < 0) {
        return 0;
    }
    in_range = 255 * (1 << q->left_shift);
    k->m2 = 2 * (1 << q->left_shift);
    k->c1 = q->input1_offset * k->m2;
    k->c2 = q->input2_offset * k->m2;
    return add_rescale_make(&k->in1, &k->rounds1, q->input1_multiplier, q->input1_shift, in_range) &&
           add_rescale_make(&k->in2, &k->rounds2, q->input2_multiplier, q->input2_shift, in_range) &&
           mcu_rqs_make(&k->out, q->output_multiplier, q->output_shift, 0, 2 * in_range + 2, q->output_offset);
}

/* An input's rescale (add_short_t), v = 2 * (x + offset) * 2^left_shift. */
static inline __attribute__((always_inline)) int32_t add_rescale(int32_t v, const mcu_rqs_t *r, const int rounds)
{
    if (!rounds) {
        return mcu_smmulr(v, r->mult);
    }
    return (mcu_smmlar(v, r->mult, r->add) + (v >> 31)) >> r->right;
}

/*
 * n elements of a, b to out (any of them may be the same memory: element i is read before it is
 * written), the constants copied to locals first: the int8 stores could alias *k otherwise, and
 * GCC would reload them per element. rounds1, rounds2 and full are constants in each instance.
 */
static inline __attribute__((always_inline)) void add_short_run(const int8_t *pa, const int8_t *pb, int8_t *po,
                                                                int32_t n, const add_short_t *k, int32_t act_min,
                                                                int32_t act_max, const int rounds1,
                                                                const int rounds2, const int full)
{
    const mcu_rqs_t in1 = k->in1, in2 = k->in2, out = k->out;
    const int32_t m2 = k->m2, c1 = k->c1, c2 = k->c2;
    int32_t i;
    for (i = 0; i < n; ++i) {
        const int32_t ra = add_rescale(pa[i] * m2 + c1, &in1, rounds1);
        const int32_t rb = add_rescale(pb[i] * m2 + c2, &in2, rounds2);
        const int32_t sum = ra + rb;
        const int32_t y = (mcu_smmlar(sum * 2, out.mult, out.add) + (sum >> 31)) >> out.right;
        po[i] = full ? (int8_t)mcu_ssat8(y) : mcu_clamp_s8(y, act_min, act_max);
    }
}

/* add_short_run with its flags made constants (one instance per combination). */
static void add_short_elements(const int8_t *pa, const int8_t *pb, int8_t *po, int32_t n, const add_short_t *k,
                               int32_t act_min, int32_t act_max)
{
    const int full = act_min == -128 && act_max == 127;
    const int which = (k->rounds1 ? 1 : 0) + (k->rounds2 ? 2 : 0) + (full ? 4 : 0);
    switch (which) {
    case 0:
        add_short_run(pa, pb, po, n, k, act_min, act_max, 0, 0, 0);
        break;
    case 1:
        add_short_run(pa, pb, po, n, k, act_min, act_max, 1, 0, 0);
        break;
    case 2:
        add_short_run(pa, pb, po, n, k, act_min, act_max, 0, 1, 0);
        break;
    case 3:
        add_short_run(pa, pb, po, n, k, act_min, act_max, 1, 1, 0);
        break;
    case 4:
        add_short_run(pa, pb, po, n, k, act_min, act_max, 0, 0, 1);
        break;
    case 5:
        add_short_run(pa, pb, po, n, k, act_min, act_max, 1, 0, 1);
        break;
    case 6:
        add_short_run(pa, pb, po, n, k, act_min, act_max, 0, 1, 1);
        break;
    default:
        add_short_run(pa, pb, po, n, k, act_min, act_max, 1, 1, 1);
        break;
    }
}

/* Whether a view's h x w x c elements are one run (rows and pixels packed). */
static int add_dense(int32_t w, int32_t c, int32_t pix_stride, int32_t row_stride)
{
    return pix_stride == c && (int64_t)row_stride == (int64_t)w * c;
}
#endif

mcu_status_t mcu_add_s8(const mcu_src_t *a, const mcu_src_t *b, const mcu_add_quant_t *q, const mcu_dst_t *out)
{
    int32_t y, x, c;
#if defined(MCU_RT_USE_DSP)
    add_short_t k;
#endif
    if (!mcu_src_ok(a) || !mcu_src_ok(b) || !mcu_dst_ok(out) || q == NULL) {
        return MCU_RT_ERR_ARG;
    }
    if (a->h != out->h || a->w != out->w || a->c != out->c || b->h != out->h || b->w != out->w || b->c != out->c ||
        q->left_shift < 0 || q->left_shift > 23) {
        return MCU_RT_ERR_SHAPE;
    }
#if defined(MCU_RT_USE_DSP)
    if (add_short_make(q, &k)) {
        const int32_t n = out->c;
        if (add_dense(a->w, n, a->pix_stride, a->row_stride) && add_dense(b->w, n, b->pix_stride, b->row_stride) &&
            add_dense(out->w, n, out->pix_stride, out->row_stride)) {
            /* One run over every element: no per-pixel setup (vww's adds are 16 to 96 channels). */
            add_short_elements(a->data, b->data, out->data, out->h * out->w * n, &k, q->act_min, q->act_max);
            return MCU_RT_OK;
        }
        for (y = 0; y < out->h; ++y) {
            for (x = 0; x < out->w; ++x) {
                add_short_elements(a->data + (ptrdiff_t)y * a->row_stride + (ptrdiff_t)x * a->pix_stride,
                                   b->data + (ptrdiff_t)y * b->row_stride + (ptrdiff_t)x * b->pix_stride,
                                   out->data + (ptrdiff_t)y * out->row_stride + (ptrdiff_t)x * out->pix_stride, n,
                                   &k, q->act_min, q->act_max);
            }
        }
        return MCU_RT_OK;
    }
#endif
    for (y = 0; y < out->h; ++y) {
        for (x = 0; x < out->w; ++x) {
            const int8_t *pa = a->data + (ptrdiff_t)y * a->row_stride + (ptrdiff_t)x * a->pix_stride;
            const int8_t *pb = b->data + (ptrdiff_t)y * b->row_stride + (ptrdiff_t)x * b->pix_stride;
            int8_t *po = out->data + (ptrdiff_t)y * out->row_stride + (ptrdiff_t)x * out->pix_stride;
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
