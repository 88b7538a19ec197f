/*
 * mcu_rt_runner: executes a "program" of mcu_rt kernel calls read from a file and writes the
 * results to another file. The host tests (tests/runtime, through mcudet/deploy/cbuild.py) use it
 * to run every kernel on cases generated from the NumPy reference; it is test code, not part of
 * the library (it allocates: every buffer is its own malloc, so AddressSanitizer catches any
 * access outside it, and every kernel's scratch is allocated at exactly the size its query
 * returns and filled with garbage first).
 *
 *   mcu_rt_runner PROGRAM RESULT     run PROGRAM, write RESULT
 *   mcu_rt_runner --ops              list "name id" of the supported calls
 *
 * PROGRAM, little-endian int32 words:
 *   'MCRT' version=1
 *   n_buffers, then per buffer: size_bytes, has_data, [ceil(size_bytes / 4) words of data]
 *   n_calls, then per call: op id, n_args, args...
 *   n_dumps, then the buffer ids to write back
 * Views are 7 args (buffer, element offset, h, w, c, row_stride, pix_stride); pointers are 2 args
 * (buffer or -1 for NULL, byte offset); floats are passed as their bit patterns.
 * RESULT: 'MCRS', n_calls, per call (status, info = scratch bytes used), n_dumps, per dump
 * (buffer id, size_bytes, data padded to 4 bytes).
 * Exit status: 0 when the program ran (kernel errors are reported per call), 2 for a malformed
 * program, 1 for I/O errors.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mcu_rt.h"
#include "mcu_rt_yolo.h"

#define MAGIC_PROGRAM 0x5452434D /* 'MCRT' */
#define MAGIC_RESULT 0x5352434D  /* 'MCRS' */

typedef struct {
    uint8_t *data;
    int32_t size;
} buffer_t;

typedef struct {
    buffer_t *bufs;
    int32_t n_bufs;
    int32_t info; /* scratch bytes of the current call */
} ctx_t;

static void die(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "mcu_rt_runner: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(code);
}

/* ------------------------------------------------------------------ argument decoding */

static void *ptr_arg(const ctx_t *ctx, const int32_t *a, int32_t elem, int64_t count, int32_t align)
{
    const int32_t buf = a[0], off = a[1];
    if (buf == -1) {
        return NULL;
    }
    if (buf < 0 || buf >= ctx->n_bufs || off < 0 || count < 0 ||
        (int64_t)off + (int64_t)elem * count > ctx->bufs[buf].size) {
        die(2, "pointer (buffer %d, offset %d, %lld x %d bytes) outside its buffer", buf, off, (long long)count,
            elem);
    }
    if (((uintptr_t)(ctx->bufs[buf].data + off)) % (uintptr_t)align != 0) {
        die(2, "pointer (buffer %d, offset %d) is not %d-byte aligned", buf, off, align);
    }
    return ctx->bufs[buf].data + off;
}

static mcu_dst_t view_arg(const ctx_t *ctx, const int32_t *a)
{
    mcu_dst_t v;
    const int32_t buf = a[0], off = a[1];
    int64_t last;
    if (buf < 0 || buf >= ctx->n_bufs) {
        die(2, "view of unknown buffer %d", buf);
    }
    v.h = a[2];
    v.w = a[3];
    v.c = a[4];
    v.row_stride = a[5];
    v.pix_stride = a[6];
    last = (int64_t)off + (int64_t)(v.h - 1) * v.row_stride + (int64_t)(v.w - 1) * v.pix_stride + v.c - 1;
    if (v.h == 0 || v.w == 0) { /* empty: the pointer must lie inside the buffer or at its end */
        last = off - 1;
    }
    if (off < 0 || v.h < 0 || v.w < 0 || v.c <= 0 || last >= ctx->bufs[buf].size || off > ctx->bufs[buf].size) {
        die(2, "view (buffer %d, offset %d, %dx%dx%d, strides %d/%d) outside its buffer of %d bytes", buf, off, v.h,
            v.w, v.c, v.row_stride, v.pix_stride, ctx->bufs[buf].size);
    }
    v.data = (int8_t *)ctx->bufs[buf].data + off;
    return v;
}

static mcu_src_t src_arg(const ctx_t *ctx, const int32_t *a)
{
    const mcu_dst_t d = view_arg(ctx, a);
    return mcu_src_of(&d);
}

static float float_arg(int32_t bits)
{
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static mcu_window_t window_arg(const int32_t *a)
{
    mcu_window_t w;
    w.kernel_h = a[0];
    w.kernel_w = a[1];
    w.stride_h = a[2];
    w.stride_w = a[3];
    w.dilation_h = a[4];
    w.dilation_w = a[5];
    w.pad_top = a[6];
    w.pad_bottom = a[7];
    w.pad_left = a[8];
    w.pad_right = a[9];
    return w;
}

/* A scratch of exactly `size` bytes, filled with garbage (kernels must not read it uninitialised). */
static void *scratch_alloc(ctx_t *ctx, size_t size)
{
    void *p = malloc(size > 0 ? size : 1);
    if (p == NULL) {
        die(1, "out of memory");
    }
    memset(p, 0xA5, size);
    ctx->info = (int32_t)size;
    return p;
}

static void expect_args(const char *op, int32_t n, int32_t want)
{
    if (n != want) {
        die(2, "%s takes %d args, got %d", op, want, n);
    }
}

/* ------------------------------------------------------------------ calls */

typedef mcu_status_t (*op_fn)(ctx_t *ctx, const int32_t *a, int32_t n);

static mcu_status_t op_requantize(ctx_t *ctx, const int32_t *a, int32_t n)
{
    /* acc P, mult P, shift P, count, out P(int32) */
    int32_t i, count;
    const int32_t *acc, *mult, *shift;
    int32_t *out;
    expect_args("requantize", n, 9);
    count = a[6];
    acc = (const int32_t *)ptr_arg(ctx, a, 4, count, 4);
    mult = (const int32_t *)ptr_arg(ctx, a + 2, 4, count, 4);
    shift = (const int32_t *)ptr_arg(ctx, a + 4, 4, count, 4);
    out = (int32_t *)ptr_arg(ctx, a + 7, 4, count, 4);
    for (i = 0; i < count; ++i) {
        out[i] = mcu_requantize(acc[i], mult[i], shift[i]);
    }
    return MCU_RT_OK;
}

static mcu_status_t op_requantize_s8(ctx_t *ctx, const int32_t *a, int32_t n)
{
    /* acc P, mult P, shift P, count, output_offset, act_min, act_max, out P(int8) */
    int32_t count;
    expect_args("requantize_s8", n, 12);
    count = a[6];
    mcu_requantize_block_s8((const int32_t *)ptr_arg(ctx, a, 4, count, 4),
                            count, (const int32_t *)ptr_arg(ctx, a + 2, 4, count, 4),
                            (const int32_t *)ptr_arg(ctx, a + 4, 4, count, 4), a[7], a[8], a[9],
                            (int8_t *)ptr_arg(ctx, a + 10, 1, count, 1));
    return MCU_RT_OK;
}

/* in V, out V, filter P, bias P, mult P, shift P, window[10], in_off, out_off, act_min, act_max */
/* mcu_conv_quant_t from its arguments: mult P, shift P at mp (channels each), the four ints at v. */
static mcu_conv_quant_t quant_arg(const ctx_t *ctx, const int32_t *mp, int32_t channels, const int32_t *v)
{
    mcu_conv_quant_t q;
    q.multiplier = (const int32_t *)ptr_arg(ctx, mp, 4, channels, 4);
    q.shift = (const int32_t *)ptr_arg(ctx, mp + 2, 4, channels, 4);
    q.input_offset = v[0];
    q.output_offset = v[1];
    q.act_min = v[2];
    q.act_max = v[3];
    return q;
}

#define CONV_ARGS 36

static mcu_status_t conv_common(ctx_t *ctx, const int32_t *a, int32_t n, int kind)
{
    const mcu_src_t in = src_arg(ctx, a);
    const mcu_dst_t out = view_arg(ctx, a + 7);
    const mcu_window_t win = window_arg(a + 22);
    mcu_conv_quant_t q;
    const int8_t *filter;
    const int32_t *bias;
    size_t size;
    void *scratch;
    mcu_status_t st;
    expect_args("conv2d", n, CONV_ARGS);
    filter = (const int8_t *)ptr_arg(ctx, a + 14, 1, (int64_t)out.c * win.kernel_h * win.kernel_w * in.c, 1);
    bias = (const int32_t *)ptr_arg(ctx, a + 16, 4, out.c, 4);
    q = quant_arg(ctx, a + 18, out.c, a + 32);
    size = kind == 1 ? mcu_conv2d_1x1_s8_scratch_size(in.c) : mcu_conv2d_s8_scratch_size(&win, in.c);
    scratch = scratch_alloc(ctx, size);
    if (kind == 0) {
        st = mcu_conv2d_s8(&in, filter, bias, &win, &q, &out, scratch);
    } else if (kind == 1) {
        st = mcu_conv2d_1x1_s8(&in, filter, bias, &win, &q, &out, scratch);
    } else {
        st = mcu_conv2d_generic_s8(&in, filter, bias, &win, &q, &out, scratch);
    }
    free(scratch);
    return st;
}

static mcu_status_t op_conv2d(ctx_t *ctx, const int32_t *a, int32_t n)
{
    return conv_common(ctx, a, n, 0);
}

static mcu_status_t op_conv2d_1x1(ctx_t *ctx, const int32_t *a, int32_t n)
{
    return conv_common(ctx, a, n, 1);
}

static mcu_status_t op_conv2d_generic(ctx_t *ctx, const int32_t *a, int32_t n)
{
    return conv_common(ctx, a, n, 2);
}

static mcu_status_t op_depthwise(ctx_t *ctx, const int32_t *a, int32_t n)
{
    /* in V, out V, filter P, bias P, mult P, shift P, window[10], depth_multiplier, in_off, out_off, min, max */
    const mcu_src_t in = src_arg(ctx, a);
    const mcu_dst_t out = view_arg(ctx, a + 7);
    const mcu_window_t win = window_arg(a + 22);
    mcu_conv_quant_t q;
    expect_args("depthwise", n, 37);
    q = quant_arg(ctx, a + 18, out.c, a + 33);
    ctx->info = (int32_t)mcu_depthwise_conv2d_s8_scratch_size();
    return mcu_depthwise_conv2d_s8(&in, (const int8_t *)ptr_arg(ctx, a + 14, 1,
                                                                 (int64_t)win.kernel_h * win.kernel_w * out.c, 1),
                                   (const int32_t *)ptr_arg(ctx, a + 16, 4, out.c, 4), &win, a[32], &q, &out);
}

static mcu_status_t op_depthwise_inplace(ctx_t *ctx, const int32_t *a, int32_t n)
{
    /* map V, out V, filter P, bias P, mult P, shift P, window[10], in_off, out_off, min, max */
    const mcu_dst_t map = view_arg(ctx, a);
    const mcu_dst_t out = view_arg(ctx, a + 7);
    const mcu_window_t win = window_arg(a + 22);
    mcu_conv_quant_t q;
    void *scratch;
    mcu_status_t st;
    expect_args("depthwise_inplace", n, 36);
    q = quant_arg(ctx, a + 18, map.c, a + 32);
    scratch = scratch_alloc(ctx, mcu_depthwise_conv2d_inplace_s8_scratch_size(&win, map.w, map.c, out.h));
    st = mcu_depthwise_conv2d_inplace_s8(&map, &out,
                                         (const int8_t *)ptr_arg(ctx, a + 14, 1,
                                                                 (int64_t)win.kernel_h * win.kernel_w * map.c, 1),
                                         (const int32_t *)ptr_arg(ctx, a + 16, 4, map.c, 4), &win, &q, scratch);
    free(scratch);
    return st;
}

static mcu_status_t op_fully_connected(ctx_t *ctx, const int32_t *a, int32_t n)
{
    /* in P, rows, k, filter P, bias P, n, mult P, shift P, in_off, out_off, min, max, out P */
    const int32_t rows = a[2], k = a[3], outs = a[8];
    mcu_conv_quant_t q;
    void *scratch;
    mcu_status_t st;
    expect_args("fully_connected", n, 19);
    q = quant_arg(ctx, a + 9, outs, a + 13);
    scratch = scratch_alloc(ctx, mcu_fully_connected_s8_scratch_size(k));
    st = mcu_fully_connected_s8((const int8_t *)ptr_arg(ctx, a, 1, (int64_t)rows * k, 1), rows, k,
                                (const int8_t *)ptr_arg(ctx, a + 4, 1, (int64_t)outs * k, 1),
                                (const int32_t *)ptr_arg(ctx, a + 6, 4, outs, 4), outs, &q,
                                (int8_t *)ptr_arg(ctx, a + 17, 1, (int64_t)rows * outs, 1), scratch);
    free(scratch);
    return st;
}

static mcu_status_t pool_common(ctx_t *ctx, const int32_t *a, int32_t n, int is_max)
{
    /* in V, out V, window[10], act_min, act_max */
    const mcu_src_t in = src_arg(ctx, a);
    const mcu_dst_t out = view_arg(ctx, a + 7);
    const mcu_window_t win = window_arg(a + 14);
    expect_args("pool", n, 26);
    return is_max ? mcu_max_pool2d_s8(&in, &win, a[24], a[25], &out) : mcu_avg_pool2d_s8(&in, &win, a[24], a[25], &out);
}

static mcu_status_t op_avg_pool(ctx_t *ctx, const int32_t *a, int32_t n)
{
    return pool_common(ctx, a, n, 0);
}

static mcu_status_t op_max_pool(ctx_t *ctx, const int32_t *a, int32_t n)
{
    return pool_common(ctx, a, n, 1);
}

static mcu_status_t op_add(ctx_t *ctx, const int32_t *a, int32_t n)
{
    /* a V, b V, out V, in1_off, in2_off, left_shift, m1, s1, m2, s2, mo, so, out_off, min, max */
    const mcu_src_t x = src_arg(ctx, a), y = src_arg(ctx, a + 7);
    const mcu_dst_t out = view_arg(ctx, a + 14);
    mcu_add_quant_t q;
    expect_args("add", n, 33);
    q.input1_offset = a[21];
    q.input2_offset = a[22];
    q.left_shift = a[23];
    q.input1_multiplier = a[24];
    q.input1_shift = a[25];
    q.input2_multiplier = a[26];
    q.input2_shift = a[27];
    q.output_multiplier = a[28];
    q.output_shift = a[29];
    q.output_offset = a[30];
    q.act_min = a[31];
    q.act_max = a[32];
    return mcu_add_s8(&x, &y, &q, &out);
}

static mcu_status_t op_mul(ctx_t *ctx, const int32_t *a, int32_t n)
{
    /* a V, b V, out V, in1_off, in2_off, mult, shift, out_off, min, max */
    const mcu_src_t x = src_arg(ctx, a), y = src_arg(ctx, a + 7);
    const mcu_dst_t out = view_arg(ctx, a + 14);
    mcu_mul_quant_t q;
    expect_args("mul", n, 28);
    q.input1_offset = a[21];
    q.input2_offset = a[22];
    q.multiplier = a[23];
    q.shift = a[24];
    q.output_offset = a[25];
    q.act_min = a[26];
    q.act_max = a[27];
    return mcu_mul_s8(&x, &y, &q, &out);
}

static mcu_status_t op_mean(ctx_t *ctx, const int32_t *a, int32_t n)
{
    /* in V, axes, input_zp, output_zp, count, mult, shift, out P */
    const mcu_src_t in = src_arg(ctx, a);
    const int32_t axes = a[7];
    mcu_mean_quant_t q;
    int64_t outs;
    expect_args("mean", n, 15);
    outs = (int64_t)((axes & MCU_RT_AXIS_H) ? 1 : in.h) * ((axes & MCU_RT_AXIS_W) ? 1 : in.w) *
           ((axes & MCU_RT_AXIS_C) ? 1 : in.c);
    q.input_zero_point = a[8];
    q.output_zero_point = a[9];
    q.count = a[10];
    q.multiplier = a[11];
    q.shift = a[12];
    return mcu_mean_s8(&in, axes, &q, (int8_t *)ptr_arg(ctx, a + 13, 1, outs, 1));
}

static mcu_status_t op_copy(ctx_t *ctx, const int32_t *a, int32_t n)
{
    const mcu_src_t in = src_arg(ctx, a);
    const mcu_dst_t out = view_arg(ctx, a + 7);
    expect_args("copy", n, 14);
    return mcu_copy_s8(&in, &out);
}

static mcu_status_t op_concat(ctx_t *ctx, const int32_t *a, int32_t n)
{
    /* count, axis, out V, count input views */
    mcu_src_t ins[16];
    int32_t i;
    const int32_t count = a[0];
    if (n < 9 || count < 1 || count > 16 || n != 9 + 7 * count) {
        die(2, "concat: bad argument count %d", n);
    }
    for (i = 0; i < count; ++i) {
        ins[i] = src_arg(ctx, a + 9 + 7 * i);
    }
    {
        const mcu_dst_t out = view_arg(ctx, a + 2);
        return mcu_concat_s8(ins, count, a[1], &out);
    }
}

static mcu_status_t op_pad(ctx_t *ctx, const int32_t *a, int32_t n)
{
    /* in V, out V, top, left, front, value */
    const mcu_src_t in = src_arg(ctx, a);
    const mcu_dst_t out = view_arg(ctx, a + 7);
    expect_args("pad", n, 18);
    return mcu_pad_s8(&in, a[14], a[15], a[16], (int8_t)a[17], &out);
}

static mcu_status_t op_resize_nearest(ctx_t *ctx, const int32_t *a, int32_t n)
{
    /* in V, out V, rows P(int16 out.h), cols P(int16 out.w) */
    const mcu_src_t in = src_arg(ctx, a);
    const mcu_dst_t out = view_arg(ctx, a + 7);
    expect_args("resize_nearest", n, 18);
    return mcu_resize_nearest_s8(&in, (const int16_t *)ptr_arg(ctx, a + 14, 2, out.h, 2),
                                 (const int16_t *)ptr_arg(ctx, a + 16, 2, out.w, 2), &out);
}

static mcu_status_t op_resize_index(ctx_t *ctx, const int32_t *a, int32_t n)
{
    /* out_size, in_size, align_corners, half_pixel_centers, out P(int16) */
    expect_args("resize_index", n, 6);
    return mcu_resize_nearest_index(a[0], a[1], a[2], a[3], (int16_t *)ptr_arg(ctx, a + 4, 2, a[0], 2));
}

static mcu_status_t op_transpose(ctx_t *ctx, const int32_t *a, int32_t n)
{
    /* in P, dims[4], perm[4], out P */
    const int64_t count = (int64_t)a[2] * a[3] * a[4] * a[5];
    expect_args("transpose", n, 12);
    return mcu_transpose_s8((const int8_t *)ptr_arg(ctx, a, 1, count, 1), a + 2, a + 6,
                            (int8_t *)ptr_arg(ctx, a + 10, 1, count, 1));
}

static mcu_status_t op_requantize_map(ctx_t *ctx, const int32_t *a, int32_t n)
{
    /* in V, out V, input_zp, mult, shift, output_zp */
    const mcu_src_t in = src_arg(ctx, a);
    const mcu_dst_t out = view_arg(ctx, a + 7);
    expect_args("requantize_map", n, 18);
    return mcu_requantize_map_s8(&in, a[14], a[15], a[16], a[17], &out);
}

static mcu_status_t op_quantize_f32(ctx_t *ctx, const int32_t *a, int32_t n)
{
    /* in P(f32), count, scale bits, zp, out P(int8) */
    expect_args("quantize_f32", n, 7);
    return mcu_quantize_f32_s8((const float *)ptr_arg(ctx, a, 4, a[2], 4), a[2], float_arg(a[3]), a[4],
                               (int8_t *)ptr_arg(ctx, a + 5, 1, a[2], 1));
}

static mcu_status_t op_dequantize(ctx_t *ctx, const int32_t *a, int32_t n)
{
    /* in P(int8), count, scale bits, zp, out P(f32) */
    expect_args("dequantize", n, 7);
    return mcu_dequantize_s8_f32((const int8_t *)ptr_arg(ctx, a, 1, a[2], 1), a[2], float_arg(a[3]), a[4],
                                 (float *)ptr_arg(ctx, a + 5, 4, a[2], 4));
}

static mcu_status_t op_yolo(ctx_t *ctx, const int32_t *a, int32_t n)
{
    /* levels, anchors, classes, conf, score, nms_pre, min_size, iou, max_det, boxes P, count P,
       then per level (9 args): data P, h, w, scale, zp, stride, anchors P */
    mcu_yolo_level_t levels[8];
    mcu_yolo_cfg_t cfg;
    void *ws;
    mcu_status_t st;
    int32_t i;
    cfg.num_levels = a[0];
    cfg.num_anchors = a[1];
    cfg.num_classes = a[2];
    cfg.conf_thr = float_arg(a[3]);
    cfg.score_thr = float_arg(a[4]);
    cfg.nms_pre = a[5];
    cfg.min_bbox_size = float_arg(a[6]);
    cfg.iou_thr = float_arg(a[7]);
    cfg.max_det = a[8];
    if (cfg.num_levels < 1 || cfg.num_levels > 8 || n != 13 + 9 * cfg.num_levels) {
        die(2, "yolo: bad argument count %d", n);
    }
    for (i = 0; i < cfg.num_levels; ++i) {
        const int32_t *l = a + 13 + 9 * i;
        levels[i].h = l[2];
        levels[i].w = l[3];
        levels[i].data = (const int8_t *)ptr_arg(ctx, l, 1,
                                                 (int64_t)l[2] * l[3] * cfg.num_anchors * (5 + cfg.num_classes), 1);
        levels[i].scale = float_arg(l[4]);
        levels[i].zero_point = l[5];
        levels[i].stride = float_arg(l[6]);
        levels[i].anchors = (const float *)ptr_arg(ctx, l + 7, 4, 2 * cfg.num_anchors, 4);
    }
    ws = scratch_alloc(ctx, mcu_yolo_workspace_size(&cfg));
    st = mcu_yolo_postprocess(levels, &cfg, ws, (mcu_box_t *)ptr_arg(ctx, a + 9, (int32_t)sizeof(mcu_box_t),
                                                                      cfg.max_det, 4),
                              (int32_t *)ptr_arg(ctx, a + 11, 4, 1, 4));
    free(ws);
    return st;
}

typedef struct {
    const char *name;
    op_fn fn;
} op_entry_t;

static const op_entry_t OPS[] = {
    {"requantize", op_requantize},
    {"requantize_s8", op_requantize_s8},
    {"conv2d", op_conv2d},
    {"conv2d_1x1", op_conv2d_1x1},
    {"conv2d_generic", op_conv2d_generic},
    {"depthwise", op_depthwise},
    {"depthwise_inplace", op_depthwise_inplace},
    {"fully_connected", op_fully_connected},
    {"avg_pool", op_avg_pool},
    {"max_pool", op_max_pool},
    {"add", op_add},
    {"mul", op_mul},
    {"mean", op_mean},
    {"copy", op_copy},
    {"concat", op_concat},
    {"pad", op_pad},
    {"resize_nearest", op_resize_nearest},
    {"resize_index", op_resize_index},
    {"transpose", op_transpose},
    {"requantize_map", op_requantize_map},
    {"quantize_f32", op_quantize_f32},
    {"dequantize", op_dequantize},
    {"yolo", op_yolo},
};

#define N_OPS ((int32_t)(sizeof OPS / sizeof OPS[0]))

/* ------------------------------------------------------------------ program I/O */

typedef struct {
    const int32_t *w;
    size_t n, at;
} reader_t;

static int32_t next(reader_t *r)
{
    if (r->at >= r->n) {
        die(2, "program truncated at word %lu", (unsigned long)r->at);
    }
    return r->w[r->at++];
}

static void put(FILE *f, int32_t v)
{
    if (fwrite(&v, sizeof v, 1, f) != 1) {
        die(1, "write failed");
    }
}

int main(int argc, char **argv)
{
    FILE *f;
    long len;
    int32_t *words;
    reader_t r;
    ctx_t ctx;
    int32_t i, n_calls, n_dumps;
    int32_t *status, *info;
    if (argc == 2 && strcmp(argv[1], "--ops") == 0) {
        for (i = 0; i < N_OPS; ++i) {
            printf("%s %d\n", OPS[i].name, i);
        }
        return 0;
    }
    if (argc != 3) {
        fprintf(stderr, "usage: mcu_rt_runner PROGRAM RESULT | --ops\n");
        return 2;
    }
    f = fopen(argv[1], "rb");
    if (f == NULL) {
        die(1, "cannot open %s", argv[1]);
    }
    fseek(f, 0, SEEK_END);
    len = ftell(f);
    fseek(f, 0, SEEK_SET);
    if (len < 8 || len % 4 != 0) {
        die(2, "%s: %ld bytes is not a program", argv[1], len);
    }
    words = (int32_t *)malloc((size_t)len);
    if (words == NULL || fread(words, 1, (size_t)len, f) != (size_t)len) {
        die(1, "cannot read %s", argv[1]);
    }
    fclose(f);
    r.w = words;
    r.n = (size_t)len / 4;
    r.at = 0;
    if (next(&r) != MAGIC_PROGRAM || next(&r) != 1) {
        die(2, "%s: not an mcu_rt program (magic / version)", argv[1]);
    }
    ctx.n_bufs = next(&r);
    if (ctx.n_bufs < 0 || ctx.n_bufs > (1 << 20)) {
        die(2, "bad buffer count %d", ctx.n_bufs);
    }
    ctx.bufs = (buffer_t *)calloc((size_t)ctx.n_bufs + 1, sizeof(buffer_t));
    for (i = 0; i < ctx.n_bufs; ++i) {
        const int32_t size = next(&r), has_data = next(&r);
        if (size < 0) {
            die(2, "buffer %d: negative size", i);
        }
        ctx.bufs[i].size = size;
        ctx.bufs[i].data = (uint8_t *)malloc(size > 0 ? (size_t)size : 1);
        if (ctx.bufs[i].data == NULL) {
            die(1, "out of memory for buffer %d (%d bytes)", i, size);
        }
        if (has_data) {
            const size_t nw = ((size_t)size + 3) / 4;
            if (r.at + nw > r.n) {
                die(2, "buffer %d: data truncated", i);
            }
            memcpy(ctx.bufs[i].data, r.w + r.at, (size_t)size);
            r.at += nw;
        } else {
            memset(ctx.bufs[i].data, 0x5A, (size_t)size);
        }
    }
    n_calls = next(&r);
    if (n_calls < 0) {
        die(2, "bad call count");
    }
    status = (int32_t *)calloc((size_t)n_calls + 1, sizeof(int32_t));
    info = (int32_t *)calloc((size_t)n_calls + 1, sizeof(int32_t));
    for (i = 0; i < n_calls; ++i) {
        const int32_t op = next(&r), n_args = next(&r);
        if (op < 0 || op >= N_OPS) {
            die(2, "call %d: unknown op %d", i, op);
        }
        if (n_args < 0 || r.at + (size_t)n_args > r.n) {
            die(2, "call %d (%s): arguments truncated", i, OPS[op].name);
        }
        ctx.info = 0;
        status[i] = OPS[op].fn(&ctx, r.w + r.at, n_args);
        info[i] = ctx.info;
        r.at += (size_t)n_args;
    }
    n_dumps = next(&r);
    f = fopen(argv[2], "wb");
    if (f == NULL) {
        die(1, "cannot write %s", argv[2]);
    }
    put(f, MAGIC_RESULT);
    put(f, n_calls);
    for (i = 0; i < n_calls; ++i) {
        put(f, status[i]);
        put(f, info[i]);
    }
    put(f, n_dumps);
    for (i = 0; i < n_dumps; ++i) {
        const int32_t id = next(&r);
        static const uint8_t zeros[4] = {0, 0, 0, 0};
        if (id < 0 || id >= ctx.n_bufs) {
            die(2, "dump of unknown buffer %d", id);
        }
        put(f, id);
        put(f, ctx.bufs[id].size);
        if (fwrite(ctx.bufs[id].data, 1, (size_t)ctx.bufs[id].size, f) != (size_t)ctx.bufs[id].size ||
            fwrite(zeros, 1, (size_t)((4 - ctx.bufs[id].size % 4) % 4), f) != (size_t)((4 - ctx.bufs[id].size % 4) % 4)) {
            die(1, "write failed");
        }
    }
    fclose(f);
    for (i = 0; i < ctx.n_bufs; ++i) {
        free(ctx.bufs[i].data);
    }
    free(ctx.bufs);
    free(status);
    free(info);
    free(words);
    return 0;
}
