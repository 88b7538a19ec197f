"""Detection post-processing in the generated code: ``model_detect`` for graphs that end at YOLO maps.

A detector's integer graph ends at its prediction maps; ``graph.metadata['yolo_decode']``
(:class:`~mcudet.deploy.yolo.YoloDecodeSpec`) says how to decode them. For such a graph the
generated ``model.c`` also gets::

    int model_detect(const int8_t *input, mcu_box_t *boxes, int32_t *num_boxes);

which runs ``model_invoke`` into static output buffers (``model_detect_outputK``, declared in
``model.h``) and then ``mcu_yolo_postprocess``
(``deploy/runtime/include/mcu_rt_yolo.h``) with the spec's anchors, strides and thresholds as
constants: ``boxes`` receives up to ``MODEL_MAX_DETECTIONS`` boxes in input pixels, best first.
Its SRAM beyond the arena (the output maps and the post-processing workspace) is
``MODEL_DETECT_BYTES``; the memory report counts it.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..ir import Graph
from ..yolo import YoloConfig, YoloDecodeSpec, config_of

#: sizeof(tables_t) and sizeof(cand_t) of yolo_postprocess.c (checked at run time by model_detect).
_TABLES_BYTES, _CANDIDATE_BYTES = 2 * 256 * 4, 36
BOX_DTYPE = np.dtype([('x1', '<f4'), ('y1', '<f4'), ('x2', '<f4'), ('y2', '<f4'), ('score', '<f4'),
                      ('label', '<i4')])


@dataclass(frozen=True)
class DetectCode:
    """What :func:`detect_code` adds to the generated sources."""

    header: list[str]
    source: list[str]
    config: YoloConfig
    workspace_bytes: int
    outputs_bytes: int

    @property
    def sram_bytes(self) -> int:
        """Static SRAM of ``model_detect`` beyond the arena: output maps + workspace."""
        return self.workspace_bytes + self.outputs_bytes


def _f(x: float) -> str:
    """A float32 constant as C source: the exact value of the float32, with the f suffix."""
    return f'{float(np.float32(x))!r}f'


def yolo_spec(graph: Graph) -> Optional[YoloDecodeSpec]:
    """The graph's decode spec, or None for a graph that is not a YOLO detector."""
    meta = graph.metadata.get('yolo_decode')
    return YoloDecodeSpec.from_dict(meta) if meta else None


def detect_code(graph: Graph, spec: YoloDecodeSpec, prefix: str = 'model') -> DetectCode:
    """C declarations and the definition of ``{prefix}_detect`` for the YOLO graph ``graph``."""
    guard = prefix.upper()
    outputs = list(graph.outputs)
    if tuple(outputs) != tuple(spec.outputs):
        raise ValueError(f'yolo_decode names outputs {list(spec.outputs)}; the graph has {outputs}')
    maps = [np.zeros(graph.tensor(t).shape, np.int8) for t in outputs]
    cfg = config_of(spec, maps)
    num_anchors = {len(a) for a in spec.anchors}
    if len(num_anchors) != 1:
        raise ValueError(f'mcu_yolo_postprocess needs the same number of anchors on every level; got '
                         f'{[len(a) for a in spec.anchors]}')
    workspace = _TABLES_BYTES + cfg.nms_pre * _CANDIDATE_BYTES
    out_bytes = sum(graph.tensor(t).nbytes for t in outputs)
    header = ['', '#include "mcu_rt_yolo.h"', '',
              f'#define {guard}_MAX_DETECTIONS {cfg.max_det}',
              f'#define {guard}_NUM_CLASSES {spec.num_classes}',
              f'#define {guard}_DETECT_BYTES {workspace + out_bytes} '
              '/* static SRAM of _detect beyond the arena: output maps + workspace */', '',
              '/*', f' * Runs {prefix}_invoke and the YOLO post-processing (decode, per-class NMS): writes',
              f' * up to {guard}_MAX_DETECTIONS boxes (input pixels, best first) and their number. Returns',
              ' * 0 or a negative mcu_status_t. Not re-entrant.', ' */',
              f'int {prefix}_detect(const int8_t *input, mcu_box_t *boxes, int32_t *num_boxes);',
              '/* The prediction maps the last _detect call decoded (as _invoke writes its outputs). */',
              *(f'extern int8_t {prefix}_detect_output{k}[{guard}_OUTPUT{k}_BYTES];'
                for k in range(len(outputs)))]
    src = ['', '/* ---- detection post-processing (graph metadata yolo_decode) ---- */']
    for k in range(len(outputs)):
        src.append(f'int8_t {prefix}_detect_output{k}[{guard}_OUTPUT{k}_BYTES];')
    for k, anchors in enumerate(spec.anchors):
        vals = ', '.join(_f(v) for a in anchors for v in a)
        src.append(f'static const float det_anchors{k}[{2 * len(anchors)}] = {{{vals}}};')
    src.append(f'static union {{ int32_t align; uint8_t bytes[{workspace}]; }} det_workspace;')
    levels = []
    for k, t in enumerate(outputs):
        _, h, w, _ = graph.tensor(t).shape
        levels.append(f'    {{{prefix}_detect_output{k}, {h}, {w}, {_f(spec.output_scales[k])}, '
                      f'{spec.output_zero_points[k]}, {_f(spec.strides[k])}, det_anchors{k}}}')
    out_args = ', '.join(f'{prefix}_detect_output{k}' for k in range(len(outputs)))
    src += [f'static const mcu_yolo_level_t det_levels[{len(outputs)}] = {{', ',\n'.join(levels), '};',
            f'static const mcu_yolo_cfg_t det_cfg = {{{len(outputs)}, {num_anchors.pop()}, '
            f'{cfg.num_classes}, {_f(cfg.conf_thr)}, {_f(cfg.score_thr)}, {cfg.nms_pre}, '
            f'{_f(cfg.min_bbox_size)}, {_f(cfg.iou_thr)}, {cfg.max_det}}};', '',
            f'int {prefix}_detect(const int8_t *input, mcu_box_t *boxes, int32_t *num_boxes)', '{',
            f'    const int st = {prefix}_invoke(input, {out_args});',
            '    if (st != 0) return st;',
            '    if (mcu_yolo_workspace_size(&det_cfg) > sizeof det_workspace) return (int)MCU_RT_ERR_ARG;',
            '    return (int)mcu_yolo_postprocess(det_levels, &det_cfg, det_workspace.bytes, boxes,',
            '                                     num_boxes);',
            '}']
    return DetectCode(header, src, cfg, workspace, out_bytes)


def parse_boxes(raw: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boxes written by the harness (an int32 count, then ``mcu_box_t`` records): boxes, scores, labels."""
    n = int(np.frombuffer(raw[:4], '<i4')[0])
    rec = np.frombuffer(raw[4:4 + n * BOX_DTYPE.itemsize], BOX_DTYPE)
    boxes = (np.stack([rec['x1'], rec['y1'], rec['x2'], rec['y2']], axis=1) if n
             else np.zeros((0, 4), np.float32))
    return boxes, rec['score'].copy(), rec['label'].astype(np.int64)


def same_detections(got: Sequence[np.ndarray], want: Sequence[np.ndarray]) -> bool:
    """Same number of boxes, same labels in the same order, boxes and scores equal to float32 rounding.

    The C post-processing and :func:`~mcudet.deploy.yolo.decode_yolo` do the same float32 steps;
    only the libm ``expf`` of the C library and NumPy's ``exp`` may differ in the last bit.
    """
    (gb, gs, gl), (wb, ws, wl) = got, want
    return (len(gs) == len(ws) and np.array_equal(gl, wl)
            and np.allclose(gb, wb, rtol=1e-5, atol=1e-3) and np.allclose(gs, ws, rtol=1e-5, atol=1e-7))
