/*
 * YOLOv3 decode + per-class NMS (see mcu_rt_yolo.h for the exact semantics). Float32 throughout;
 * no allocation: tables and candidates live in the caller's workspace.
 */
#include <math.h>

#include "mcu_rt_yolo.h"

typedef struct {
    float x1, y1, x2, y2;
    float score; /* class score until decoding, then class score * objectness */
    float obj;
    int32_t anchor; /* global anchor index (level by level, row, column, anchor) */
    int32_t label;  /* class; -1 once dropped or suppressed */
    int32_t level;
} cand_t;

typedef struct {
    float sigmoid[256];
    float exp[256];
} tables_t;

size_t mcu_yolo_workspace_size(const mcu_yolo_cfg_t *cfg)
{
    if (cfg == NULL || cfg->nms_pre <= 0) {
        return 0;
    }
    return sizeof(tables_t) + (size_t)cfg->nms_pre * sizeof(cand_t);
}

static void fill_tables(tables_t *t, float scale, int32_t zero_point)
{
    int32_t q;
    for (q = -128; q < 128; ++q) {
        const float x = scale * (float)(q - zero_point); /* = float(double(scale) * (q - zp)) exactly */
        t->sigmoid[q + 128] = 1.0f / (1.0f + expf(-x));
        t->exp[q + 128] = expf(x);
    }
}

static int32_t flat_key(const cand_t *c, int32_t num_classes)
{
    return c->anchor * num_classes + c->label;
}

/* a ranks before b: higher score, then the smaller flat index. */
static int better(const cand_t *a, const cand_t *b, int32_t num_classes)
{
    if (a->score != b->score) {
        return a->score > b->score;
    }
    return flat_key(a, num_classes) < flat_key(b, num_classes);
}

static void swap(cand_t *a, cand_t *b)
{
    const cand_t t = *a;
    *a = *b;
    *b = t;
}

/* Min-heap on `better` (the root is the worst kept candidate). */
static void heap_down(cand_t *h, int32_t n, int32_t i, int32_t num_classes)
{
    for (;;) {
        const int32_t l = 2 * i + 1, r = l + 1;
        int32_t worst = i;
        if (l < n && better(&h[worst], &h[l], num_classes)) {
            worst = l;
        }
        if (r < n && better(&h[worst], &h[r], num_classes)) {
            worst = r;
        }
        if (worst == i) {
            return;
        }
        swap(&h[i], &h[worst]);
        i = worst;
    }
}

static void heap_up(cand_t *h, int32_t i, int32_t num_classes)
{
    while (i > 0) {
        const int32_t p = (i - 1) / 2;
        if (!better(&h[p], &h[i], num_classes)) {
            return;
        }
        swap(&h[p], &h[i]);
        i = p;
    }
}

/* Sort best first: heapsort with the min-heap (pop the worst to the end). */
static void sort_best_first(cand_t *c, int32_t n, int32_t num_classes)
{
    int32_t i;
    for (i = n / 2 - 1; i >= 0; --i) {
        heap_down(c, n, i, num_classes);
    }
    for (i = n - 1; i > 0; --i) {
        swap(&c[0], &c[i]);
        heap_down(c, i, 0, num_classes);
    }
}

static float iou(const cand_t *a, const cand_t *b)
{
    const float area_a = (a->x2 - a->x1) * (a->y2 - a->y1);
    const float area_b = (b->x2 - b->x1) * (b->y2 - b->y1);
    const float w = fmaxf(0.0f, fminf(a->x2, b->x2) - fmaxf(a->x1, b->x1));
    const float h = fmaxf(0.0f, fminf(a->y2, b->y2) - fmaxf(a->y1, b->y1));
    const float inter = w * h;
    return inter / (area_a + area_b - inter);
}

mcu_status_t mcu_yolo_postprocess(const mcu_yolo_level_t *levels, const mcu_yolo_cfg_t *cfg, void *workspace,
                                  mcu_box_t *boxes, int32_t *num_boxes)
{
    tables_t *tab = (tables_t *)workspace;
    cand_t *cand;
    int32_t attrs, n = 0, lv, i, j, kept = 0, anchor_base = 0;
    if (levels == NULL || cfg == NULL || workspace == NULL || boxes == NULL || num_boxes == NULL ||
        ((uintptr_t)workspace & 3u) != 0 || cfg->num_levels <= 0 || cfg->num_anchors <= 0 ||
        cfg->num_classes <= 0 || cfg->nms_pre <= 0 || cfg->max_det < 0) {
        return MCU_RT_ERR_ARG;
    }
    *num_boxes = 0;
    cand = (cand_t *)(void *)(tab + 1);
    attrs = 5 + cfg->num_classes;

    /* 1-3: thresholds and the nms_pre best class scores (min-heap of capacity nms_pre). */
    for (lv = 0; lv < cfg->num_levels; ++lv) {
        const mcu_yolo_level_t *L = &levels[lv];
        int32_t cell, a, k;
        if (L->data == NULL || L->anchors == NULL || L->h <= 0 || L->w <= 0) {
            return MCU_RT_ERR_ARG;
        }
        fill_tables(tab, L->scale, L->zero_point);
        for (cell = 0; cell < L->h * L->w; ++cell) {
            for (a = 0; a < cfg->num_anchors; ++a) {
                const int8_t *p = L->data + ((size_t)cell * (size_t)cfg->num_anchors + (size_t)a) * (size_t)attrs;
                const float obj = tab->sigmoid[p[4] + 128];
                if (!(obj >= cfg->conf_thr)) {
                    continue;
                }
                for (k = 0; k < cfg->num_classes; ++k) {
                    cand_t c;
                    c.score = tab->sigmoid[p[5 + k] + 128];
                    if (!(c.score > cfg->score_thr)) {
                        continue;
                    }
                    c.obj = obj;
                    c.anchor = anchor_base + cell * cfg->num_anchors + a;
                    c.label = k;
                    c.level = lv;
                    c.x1 = c.y1 = c.x2 = c.y2 = 0.0f;
                    if (n < cfg->nms_pre) {
                        cand[n] = c;
                        heap_up(cand, n, cfg->num_classes);
                        ++n;
                    } else if (better(&c, &cand[0], cfg->num_classes)) {
                        cand[0] = c;
                        heap_down(cand, n, 0, cfg->num_classes);
                    }
                }
            }
        }
        anchor_base += L->h * L->w * cfg->num_anchors;
    }

    /* 4-5: decode the survivors level by level (one table fill per level), score, size filter. */
    for (lv = 0; lv < cfg->num_levels; ++lv) {
        const mcu_yolo_level_t *L = &levels[lv];
        int32_t first = 0;
        for (j = 0; j < lv; ++j) {
            first += levels[j].h * levels[j].w * cfg->num_anchors;
        }
        fill_tables(tab, L->scale, L->zero_point);
        for (i = 0; i < n; ++i) {
            cand_t *c = &cand[i];
            if (c->level != lv) {
                continue;
            }
            {
                const int32_t local = c->anchor - first;
                const int32_t cell = local / cfg->num_anchors, a = local % cfg->num_anchors;
                const int32_t y = cell / L->w, x = cell % L->w;
                const int8_t *p = L->data + (size_t)local * (size_t)attrs;
                const float aw = L->anchors[2 * a], ah = L->anchors[2 * a + 1];
                const float half = L->stride * 0.5f;
                /* mmdet: anchor = cell origin + (stride / 2 -/+ size / 2); center = (x1 + x2) / 2. */
                const float ax1 = (float)x * L->stride + (half - 0.5f * aw);
                const float ax2 = (float)x * L->stride + (half + 0.5f * aw);
                const float ay1 = (float)y * L->stride + (half - 0.5f * ah);
                const float ay2 = (float)y * L->stride + (half + 0.5f * ah);
                const float cx = (ax1 + ax2) * 0.5f + (tab->sigmoid[p[0] + 128] - 0.5f) * L->stride;
                const float cy = (ay1 + ay2) * 0.5f + (tab->sigmoid[p[1] + 128] - 0.5f) * L->stride;
                const float hw = (ax2 - ax1) * 0.5f * tab->exp[p[2] + 128];
                const float hh = (ay2 - ay1) * 0.5f * tab->exp[p[3] + 128];
                c->x1 = cx - hw;
                c->y1 = cy - hh;
                c->x2 = cx + hw;
                c->y2 = cy + hh;
                c->score = c->score * c->obj;
                if (cfg->min_bbox_size >= 0.0f &&
                    !(c->x2 - c->x1 > cfg->min_bbox_size && c->y2 - c->y1 > cfg->min_bbox_size)) {
                    c->label = -1;
                }
            }
        }
    }

    /* Drop the filtered candidates, then 6-7: sort and per-class greedy NMS. */
    for (i = 0, j = 0; i < n; ++i) {
        if (cand[i].label >= 0) {
            cand[j++] = cand[i];
        }
    }
    n = j;
    sort_best_first(cand, n, cfg->num_classes);
    for (i = 0; i < n && kept < cfg->max_det; ++i) {
        const cand_t *c = &cand[i];
        if (c->label < 0) {
            continue;
        }
        boxes[kept].x1 = c->x1;
        boxes[kept].y1 = c->y1;
        boxes[kept].x2 = c->x2;
        boxes[kept].y2 = c->y2;
        boxes[kept].score = c->score;
        boxes[kept].label = c->label;
        ++kept;
        for (j = i + 1; j < n; ++j) {
            if (cand[j].label == c->label && iou(c, &cand[j]) > cfg->iou_thr) {
                cand[j].label = -1;
            }
        }
    }
    *num_boxes = kept;
    return MCU_RT_OK;
}
