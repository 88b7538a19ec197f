/*
 * mcu_rt: the int8 kernel library of mcudet (C99, no malloc, no float on the integer path).
 *
 * Every kernel reproduces the NumPy reference executor (mcudet/deploy/reference.py) bit for bit;
 * the integer rules are those of shared/design/int8.md (TFLite int8, double rounding). Parameters
 * (multipliers, shifts, offsets, clamp ranges) are computed once, offline, by
 * mcudet/deploy/params.py and passed in as they are: no kernel computes a multiplier.
 *
 * Conventions
 *   - Activations are int8 NHWC with batch 1. A feature map, or a window of one, is described by a
 *     view (mcu_src_t to read, mcu_dst_t to write): a pointer to element (row 0, col 0, channel 0),
 *     the window's size h x w x c, and two strides in elements, so a view can be a whole map, a crop
 *     of a larger map (a patch tile with its halo), a channel slice (a concat destination) or a
 *     region of the stitched output map. Channels are contiguous inside a pixel. A view may be
 *     empty (h or w 0): a patch tile can need no pixel of a layer's input when all its taps fall
 *     into the image border; window ops then produce bias-only (or pad-only) outputs.
 *   - Window ops (conv, depthwise, pools) take explicit pads (top, bottom, left, right). Taps that
 *     fall into the pads are outside the image and are skipped (for conv: the same as padding with
 *     the input zero point; for average pooling: not counted). Run a whole map with the op's own
 *     padding, or a patch tile with src = the tile's input window (a crop of the previous buffer)
 *     and pads = the tile's border pads from the PatchPlan: the same kernel, the same result.
 *   - Weights are TFLite's layouts: conv OHWI [out_c][kh][kw][in_c], depthwise 1HWC
 *     [kh][kw][in_c * depth_multiplier], fully connected [n][k]. Bias is int32 per output channel
 *     and may be NULL. Multiplier / shift arrays have one entry per output channel.
 *   - Requantization parameters: multiplier in [0, 2^31), shift in [-31, 31] (> 0: left shift), as
 *     quantize_multiplier produces them.
 *   - Kernels return MCU_RT_OK or an error when the views, window and parameters disagree (cheap
 *     checks, done once per call); they never allocate. A kernel that needs temporary memory takes
 *     a `scratch` pointer (4-byte aligned) of at least <kernel>_scratch_size(...) bytes. Each size
 *     query is documented; it returns the same number for the portable and the DSP build, so one
 *     memory plan fits both (the portable path may leave the scratch unused).
 *   - Inputs and outputs must not overlap, except in these in-place uses (a memory plan may put an
 *     output over an input that dies at the op):
 *       depthwise   mcu_depthwise_conv2d_inplace_s8 (its own entry point, below);
 *       pointwise   mcu_conv2d_1x1_s8 (or mcu_conv2d_s8 on a 1x1 kernel without pads), stride 1,
 *                   dense output, out_c <= in_c, output at the input's address; the input dense
 *                   or with a wider row pitch (an in-place depthwise's output view): output pixel
 *                   p ends before input pixel p + 1 starts in either layout;
 *       expand      the same with out_c > in_c and the output starting at least
 *                   (out_c - in_c) * (pixels - 1) bytes before the input (the input is the
 *                   output's tail); both hold because the kernel reads each input pixel whole into
 *                   its scratch before writing that pixel's outputs, pixels in raster order;
 *       elementwise mcu_add_s8, mcu_mul_s8 (the full-size operand a), mcu_requantize_map_s8 and
 *                   mcu_copy_s8 with out the same view as an input (same pointer and strides):
 *                   every element is read before it is written.
 *
 * Build options
 *   MCU_RT_USE_DSP        Cortex-M4/M7 DSP inner loops (__sxtb16, __sadd16, __smlad, __smlabb,
 *                         __smlatt from arm_acle.h) for conv 1x1, general conv, depthwise and FC.
 *   MCU_RT_EMULATE_ACLE   With MCU_RT_USE_DSP on a host: bit-exact C definitions of those
 *                         intrinsics, so the DSP code path compiles and is tested on x86.
 *
 * Float: only the graph-boundary ops (mcu_quantize_f32_s8, mcu_dequantize_s8_f32), the
 * set-up helper mcu_resize_nearest_index and the detection post-processing (mcu_rt_yolo.h) use
 * float; every other kernel is integer only.
 */
#ifndef MCU_RT_H
#define MCU_RT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MCU_RT_VERSION 1

typedef int32_t mcu_status_t;
#define MCU_RT_OK 0
#define MCU_RT_ERR_SHAPE (-1) /* views, window and parameters disagree (a sizes / geometry bug) */
#define MCU_RT_ERR_ARG (-2)   /* an unsupported argument: axis, missing or misaligned scratch, ... */

/* ------------------------------------------------------------------------------------ views */

/** A readable window of an int8 NHWC map. */
typedef struct {
    const int8_t *data; /* element (row 0, col 0, channel 0) of the window */
    int32_t h, w, c;    /* rows, columns, channels of the window */
    int32_t row_stride; /* elements from pixel (y, x) to (y + 1, x) */
    int32_t pix_stride; /* elements from pixel (y, x) to (y, x + 1); >= c */
} mcu_src_t;

/** A writable window of an int8 NHWC map (same fields as mcu_src_t). */
typedef struct {
    int8_t *data;
    int32_t h, w, c;
    int32_t row_stride;
    int32_t pix_stride;
} mcu_dst_t;

/** A dense h x w x c map. */
static inline mcu_src_t mcu_src(const int8_t *data, int32_t h, int32_t w, int32_t c)
{
    mcu_src_t v;
    v.data = data;
    v.h = h;
    v.w = w;
    v.c = c;
    v.row_stride = w * c;
    v.pix_stride = c;
    return v;
}

/** Rows [r0, r0 + h) x cols [c0, c0 + w) of a dense map that is map_w pixels wide with c channels. */
static inline mcu_src_t mcu_src_crop(const int8_t *map, int32_t map_w, int32_t c, int32_t r0, int32_t c0,
                                     int32_t h, int32_t w)
{
    mcu_src_t v = mcu_src(map + ((size_t)r0 * (size_t)map_w + (size_t)c0) * (size_t)c, h, w, c);
    v.row_stride = map_w * c;
    return v;
}

static inline mcu_dst_t mcu_dst(int8_t *data, int32_t h, int32_t w, int32_t c)
{
    mcu_dst_t v;
    v.data = data;
    v.h = h;
    v.w = w;
    v.c = c;
    v.row_stride = w * c;
    v.pix_stride = c;
    return v;
}

static inline mcu_dst_t mcu_dst_crop(int8_t *map, int32_t map_w, int32_t c, int32_t r0, int32_t c0, int32_t h,
                                     int32_t w)
{
    mcu_dst_t v = mcu_dst(map + ((size_t)r0 * (size_t)map_w + (size_t)c0) * (size_t)c, h, w, c);
    v.row_stride = map_w * c;
    return v;
}

/** The readable view of a writable one (a layer output read by the next layer). */
static inline mcu_src_t mcu_src_of(const mcu_dst_t *d)
{
    mcu_src_t v;
    v.data = d->data;
    v.h = d->h;
    v.w = d->w;
    v.c = d->c;
    v.row_stride = d->row_stride;
    v.pix_stride = d->pix_stride;
    return v;
}

/* ------------------------------------------------------------------------ window geometry */

/** Largest depthwise kernel height (the row kernels keep one row pointer per kernel row). */
#define MCU_RT_MAX_KERNEL_H 32

/** Kernel, stride, dilation and pads of a 2-D window op; pools use dilation 1. */
typedef struct {
    int32_t kernel_h, kernel_w;
    int32_t stride_h, stride_w;
    int32_t dilation_h, dilation_w;
    int32_t pad_top, pad_bottom, pad_left, pad_right;
} mcu_window_t;

/** Output length along one axis: (n + before + after - ((k - 1) * d + 1)) / s + 1 (floor). */
static inline int32_t mcu_window_out_size(int32_t n, int32_t kernel, int32_t stride, int32_t dilation,
                                          int32_t before, int32_t after)
{
    const int32_t span = n + before + after - ((kernel - 1) * dilation + 1);
    return span < 0 ? 0 : span / stride + 1;
}

/* ------------------------------------------------------------------------- requantization */

/**
 * MultiplyByQuantizedMultiplier (int8.md, double rounding): x * 2^max(shift, 0) wrapped to int32,
 * saturating rounding doubling high multiply (ties toward +infinity), rounding divide by
 * 2^max(-shift, 0) (ties away from zero). shift must lie in [-31, 31].
 */
static inline int32_t mcu_requantize(int32_t acc, int32_t multiplier, int32_t shift)
{
    const int32_t left = shift > 0 ? shift : 0;
    const int32_t right = shift > 0 ? 0 : -shift;
    const int32_t x = (int32_t)((uint32_t)acc << left); /* C's x * (1 << left), wrapping */
    int32_t high;
    int32_t mask, remainder, threshold;
    if (x == INT32_MIN && multiplier == INT32_MIN) {
        high = INT32_MAX;
    } else {
        /* floor((x * m + 2^30) / 2^31) equals gemmlowp's nudge-and-truncate form for every sign. */
        const int64_t ab = (int64_t)x * (int64_t)multiplier;
        high = (int32_t)((ab + ((int64_t)1 << 30)) >> 31);
    }
    mask = (int32_t)(((uint32_t)1 << right) - 1u);
    remainder = high & mask;
    threshold = (mask >> 1) + (high < 0 ? 1 : 0);
    return (high >> right) + (remainder > threshold ? 1 : 0);
}

/** mcu_requantize, plus the output offset (zero point), clamped to [act_min, act_max]. */
static inline int8_t mcu_requantize_s8(int32_t acc, int32_t multiplier, int32_t shift, int32_t output_offset,
                                       int32_t act_min, int32_t act_max)
{
    int32_t y = mcu_requantize(acc, multiplier, shift) + output_offset;
    y = y < act_min ? act_min : y;
    y = y > act_max ? act_max : y;
    return (int8_t)y;
}

/** out[i] = mcu_requantize_s8(acc[i], multiplier[i], shift[i], ...) for i < n (per-channel arrays). */
void mcu_requantize_block_s8(const int32_t *acc, int32_t n, const int32_t *multiplier, const int32_t *shift,
                             int32_t output_offset, int32_t act_min, int32_t act_max, int8_t *out);

/* ------------------------------------------------------------------- conv / depthwise / FC */

/** Integer parameters of CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED (params.ConvParams). */
typedef struct {
    int32_t input_offset;      /* -zp_in */
    int32_t output_offset;     /* zp_out */
    int32_t act_min, act_max;  /* fused activation range */
    const int32_t *multiplier; /* [out channels] */
    const int32_t *shift;      /* [out channels] */
} mcu_conv_quant_t;

/**
 * CONV_2D, any kernel / stride / dilation / pads: acc[co] = bias[co] + sum over in-image taps of
 * w[co][ky][kx][ci] * (x + input_offset), requantized per channel. Dispatches to
 * mcu_conv2d_1x1_s8 for a 1x1 kernel without pads, else to mcu_conv2d_generic_s8.
 * out->c is the number of output channels; filter is OHWI [out->c][kh][kw][in->c].
 * scratch: mcu_conv2d_s8_scratch_size(win, in->c) bytes.
 */
mcu_status_t mcu_conv2d_s8(const mcu_src_t *in, const int8_t *filter, const int32_t *bias,
                           const mcu_window_t *win, const mcu_conv_quant_t *q, const mcu_dst_t *out,
                           void *scratch);

/**
 * With k4 = round_up(kh * kw * in_c, 4): 12 * k4 bytes when k4 <= 64 (the DSP path builds four
 * output pixels' int16 im2col columns at once, from their taps staged as bytes), else 2 * k4 (one
 * pixel's column); for a 1x1 kernel without pads (handed to mcu_conv2d_1x1_s8)
 * mcu_conv2d_1x1_s8_scratch_size(in_c).
 */
size_t mcu_conv2d_s8_scratch_size(const mcu_window_t *win, int32_t in_c);

/** The general kernel of mcu_conv2d_s8 (no dispatch); same arguments and scratch size. */
mcu_status_t mcu_conv2d_generic_s8(const mcu_src_t *in, const int8_t *filter, const int32_t *bias,
                                   const mcu_window_t *win, const mcu_conv_quant_t *q, const mcu_dst_t *out,
                                   void *scratch);

/**
 * The 1x1 fast path (the hot path of inverted-residual blocks): kernel 1x1, any stride, no pads
 * (win->pad_* must be 0; pass the general kernel a padded 1x1). filter is [out->c][in->c].
 * scratch: mcu_conv2d_1x1_s8_scratch_size(in->c) bytes.
 */
mcu_status_t mcu_conv2d_1x1_s8(const mcu_src_t *in, const int8_t *filter, const int32_t *bias,
                               const mcu_window_t *win, const mcu_conv_quant_t *q, const mcu_dst_t *out,
                               void *scratch);

/**
 * 8 * round_up(in_c, 4) bytes: four input pixels widened to int16 (the DSP path; the portable path
 * widens one pixel into the first quarter).
 */
size_t mcu_conv2d_1x1_s8_scratch_size(int32_t in_c);

/**
 * DEPTHWISE_CONV_2D, any kernel (1, 3, 5, 7, ... up to MCU_RT_MAX_KERNEL_H rows), stride, dilation,
 * pads and depth multiplier:
 * output channel oc reads input channel oc / depth_multiplier; out->c = in->c * depth_multiplier;
 * filter is [kh][kw][out->c]. Needs no scratch (mcu_depthwise_conv2d_s8_scratch_size() == 0).
 */
mcu_status_t mcu_depthwise_conv2d_s8(const mcu_src_t *in, const int8_t *filter, const int32_t *bias,
                                     const mcu_window_t *win, int32_t depth_multiplier,
                                     const mcu_conv_quant_t *q, const mcu_dst_t *out);

size_t mcu_depthwise_conv2d_s8_scratch_size(void);

/**
 * DEPTHWISE_CONV_2D in place: the output overwrites the input. `map` is the input window
 * (h x w x c); `out` (out->h x out->w x c) is written over it in one of two layouts:
 *   - the same view (out->data, row_stride and pix_stride equal map's): output pixel (y, x)
 *     lands where input pixel (y, x) was (any strides, e.g. a channel slice of a wider map);
 *   - pixel-dense (map->pix_stride == out->pix_stride == c), out->data at or before map->data
 *     by a multiple of c, out->row_stride <= map->row_stride, both row strides multiples of c:
 *     e.g. a dense output at the start of the buffer that holds map, a crop of it. The bytes
 *     from out->data on that the output covers must be free apart from map (the caller's
 *     memory plan: the rest of the dying input buffer).
 * Either way output channel ch lands only on bytes of input channel ch, and output row y ends
 * before input row y + 1 starts.
 *
 * Legal when (checked, else MCU_RT_ERR_SHAPE): depth multiplier 1 (out->c = map->c),
 * out->h <= map->h and out->w <= map->w, out->h x out->w is the window's output size on the
 * map, and one of the layouts above. The memory plan decides the rest: the input must be dead
 * after this op (no residual shortcut or other reader). Pixels of the map outside the output
 * keep stale input values. Any kernel, stride, dilation and pads are supported.
 *
 * The map is done in slices of 16 channels (the last one narrower), one after the other.
 * Within a slice rows are computed top to bottom; before output row y is written, the slice of
 * input row y is saved in a ring of the last min(pad_top + 1, out_h) input rows in the scratch,
 * from which input rows at or above the current output row are read. The memory saved against
 * a separate output buffer is out_h * out_w * c - scratch bytes. scratch:
 * mcu_depthwise_conv2d_inplace_s8_scratch_size(win, map->w, map->c, out->h) =
 * min(pad_top + 1, out_h) * w * min(c, 16) bytes.
 */
mcu_status_t mcu_depthwise_conv2d_inplace_s8(const mcu_dst_t *map, const mcu_dst_t *out, const int8_t *filter,
                                             const int32_t *bias, const mcu_window_t *win,
                                             const mcu_conv_quant_t *q, void *scratch);

size_t mcu_depthwise_conv2d_inplace_s8_scratch_size(const mcu_window_t *win, int32_t in_w, int32_t c,
                                                    int32_t out_h);

/**
 * FULLY_CONNECTED: out[r][j] = requant(bias[j] + sum_i w[j][i] * (in[r][i] + input_offset)) for
 * `rows` dense input rows of length k and n outputs; per-channel (length n) multipliers.
 * scratch: mcu_fully_connected_s8_scratch_size(k) = 2 * round_up(k, 4) bytes.
 */
mcu_status_t mcu_fully_connected_s8(const int8_t *in, int32_t rows, int32_t k, const int8_t *filter,
                                    const int32_t *bias, int32_t n, const mcu_conv_quant_t *q, int8_t *out,
                                    void *scratch);

size_t mcu_fully_connected_s8_scratch_size(int32_t k);

/* ----------------------------------------------------------------------------------- pools */

/**
 * AVERAGE_POOL_2D: sum of the in-image taps, (acc +- n/2) / n with C division (n = in-image taps),
 * clamp to [act_min, act_max]; input and output share scale and zero point. No scratch.
 */
mcu_status_t mcu_avg_pool2d_s8(const mcu_src_t *in, const mcu_window_t *win, int32_t act_min, int32_t act_max,
                               const mcu_dst_t *out);

/** MAX_POOL_2D over the in-image taps, clamp to [act_min, act_max]. No scratch. */
mcu_status_t mcu_max_pool2d_s8(const mcu_src_t *in, const mcu_window_t *win, int32_t act_min, int32_t act_max,
                               const mcu_dst_t *out);

/* ----------------------------------------------------------------------------- elementwise */

/** ADD parameters (params.AddParams): inputs pre-shifted by left_shift (20), three multipliers. */
typedef struct {
    int32_t input1_offset, input2_offset; /* -zp_a, -zp_b */
    int32_t left_shift;
    int32_t input1_multiplier, input1_shift;
    int32_t input2_multiplier, input2_shift;
    int32_t output_multiplier, output_shift;
    int32_t output_offset;
    int32_t act_min, act_max;
} mcu_add_quant_t;

/** ADD of two views of one size (a residual: the shortcut is often a crop of a larger buffer). */
mcu_status_t mcu_add_s8(const mcu_src_t *a, const mcu_src_t *b, const mcu_add_quant_t *q, const mcu_dst_t *out);

/** MUL parameters (params.MulParams). */
typedef struct {
    int32_t input1_offset, input2_offset;
    int32_t multiplier, shift;
    int32_t output_offset;
    int32_t act_min, act_max;
} mcu_mul_quant_t;

/**
 * MUL: out = requant((a + off1) * (b + off2)); b broadcasts along any axis where its size is 1
 * (the squeeze-excite gate b = 1 x 1 x C times a = H x W x C). out has a's size.
 */
mcu_status_t mcu_mul_s8(const mcu_src_t *a, const mcu_src_t *b, const mcu_mul_quant_t *q, const mcu_dst_t *out);

/* -------------------------------------------------------------------------------- reductions */

#define MCU_RT_AXIS_H 1 /* NHWC axis 1 */
#define MCU_RT_AXIS_W 2 /* NHWC axis 2 */
#define MCU_RT_AXIS_C 4 /* NHWC axis 3 */

/** MEAN parameters (params.MeanParams): 1/count is folded into multiplier / shift. */
typedef struct {
    int32_t input_zero_point;
    int32_t output_zero_point;
    int32_t count; /* product of the reduced sizes */
    int32_t multiplier, shift;
} mcu_mean_quant_t;

/**
 * MEAN over the axes in `axes` (an OR of MCU_RT_AXIS_*): sum the raw int8 values into int32,
 * subtract input_zero_point * count, MBQM, add output_zero_point, clamp to int8. This is
 * TFLite's MEAN rule, not average pooling's rounding. The output is dense, in NHWC order of the
 * kept axes (keep_dims does not change the memory layout). No scratch.
 */
mcu_status_t mcu_mean_s8(const mcu_src_t *in, int32_t axes, const mcu_mean_quant_t *q, int8_t *out);

/* ---------------------------------------------------------------------------- data movement */

/** Copy a view into another of the same size (strided either side). */
mcu_status_t mcu_copy_s8(const mcu_src_t *in, const mcu_dst_t *out);

/**
 * CONCATENATION of n inputs along NHWC axis 1 (rows), 2 (columns) or 3 (channels); inputs and
 * output share quantization. A code generator can avoid the copy by giving the producers of the
 * inputs channel-slice views of the output (pix_stride = total channels).
 */
mcu_status_t mcu_concat_s8(const mcu_src_t *inputs, int32_t n, int32_t axis, const mcu_dst_t *out);

/**
 * PAD with `value` (the input zero point): pad_top rows, pad_left columns and pad_front channels
 * before the input; the output size gives the pads after (out - in - before, must be >= 0).
 */
mcu_status_t mcu_pad_s8(const mcu_src_t *in, int32_t pad_top, int32_t pad_left, int32_t pad_front, int8_t value,
                        const mcu_dst_t *out);

/**
 * RESIZE_NEAREST_NEIGHBOR with index tables: out(y, x) = in(row_index[y], col_index[x]).
 * The tables (out->h and out->w entries) are computed once, at export time (NumPy
 * reference.nearest_index) or at set-up with mcu_resize_nearest_index. No arithmetic here.
 */
mcu_status_t mcu_resize_nearest_s8(const mcu_src_t *in, const int16_t *row_index, const int16_t *col_index,
                                   const mcu_dst_t *out);

/** TFLite's GetNearestNeighbor index table in float32 (set-up time only; uses float). */
mcu_status_t mcu_resize_nearest_index(int32_t out_size, int32_t in_size, int32_t align_corners,
                                      int32_t half_pixel_centers, int16_t *index);

/** TRANSPOSE of a dense 4-D int8 tensor: out has dims[perm[0..3]]. */
mcu_status_t mcu_transpose_s8(const int8_t *in, const int32_t dims[4], const int32_t perm[4], int8_t *out);

/* RESHAPE needs no kernel: the row-major data is unchanged; alias the buffers. */

/* --------------------------------------------------------------------------- quantization */

/** QUANTIZE int8 -> int8: out = requant(x - input_zero_point, multiplier, shift) + output_zero_point. */
mcu_status_t mcu_requantize_map_s8(const mcu_src_t *in, int32_t input_zero_point, int32_t multiplier,
                                   int32_t shift, int32_t output_zero_point, const mcu_dst_t *out);

/**
 * QUANTIZE float32 -> int8 at the graph input (float by nature): round(x / scale) in float32, ties
 * away from zero, + zero_point, clamp to int8. NaN maps to -128.
 */
mcu_status_t mcu_quantize_f32_s8(const float *in, int32_t n, float scale, int32_t zero_point, int8_t *out);

/** DEQUANTIZE int8 -> float32 at the graph output: (float)((double)scale * (q - zero_point)). */
mcu_status_t mcu_dequantize_s8_f32(const int8_t *in, int32_t n, float scale, int32_t zero_point, float *out);

#ifdef __cplusplus
}
#endif

#endif /* MCU_RT_H */
