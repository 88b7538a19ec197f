"""Generate ``model.h`` / ``model.c`` from an integer graph and its :class:`MemoryPlan`.

The generated code is straight-line C99: every kernel call of the schedule (each tile of the
per-patch stage, then every op per layer) with constant arena offsets, constant views and
constant quantization structs. Weights, biases and per-channel multipliers / shifts are
``static const`` arrays (flash); activations and every kernel's scratch live in ONE static
arena of ``plan.arena_bytes`` (the plan is made with ``scratch_in_arena=True``).

The argument mapping from an IR op to a runtime call is :func:`mcudet.deploy.cbuild.emit_op`
(the same one the kernel tests run through ``mcu_rt_runner``): :class:`CProgram` records those
calls and :func:`_c_call` prints each one as the C call that ``mcu_rt_runner`` would make.

Interface of the generated code (``model.h``)::

    int model_invoke(const int8_t *input, int8_t *output0, ..., int8_t *output{N-1});

* ``input``: the int8 NHWC frame, ``MODEL_INPUT_BYTES`` bytes. For a model whose float input
  goes through one QUANTIZE (vww.tflite), this is that QUANTIZE's int8 output: the caller
  quantizes at the source, ``q = clamp(round(x / MODEL_INPUT_SCALE) + MODEL_INPUT_ZERO_POINT)``.
  Streamed frame (``MODEL_INPUT_RESIDENT == 0``): read in place during the call, never copied
  into the arena; resident frame: copied into the arena first.
* ``outputK``: ``MODEL_OUTPUTK_BYTES`` bytes, dense int8 NHWC, written at the end. A graph
  output produced by a DEQUANTIZE is returned as its int8 input (the logits before
  DEQUANTIZE); ``real = MODEL_OUTPUTK_SCALE * (q - MODEL_OUTPUTK_ZERO_POINT)``.
* Returns 0 (MCU_RT_OK) or the first failing kernel's negative ``mcu_status_t``.
* Not re-entrant (one static arena).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from mcudet.patch.plan import Window

from ..cbuild import Program, View, emit_depthwise_inplace, emit_op, nhwc
from ..ir import Graph, GraphError
from ..memory_plan import RUNTIME_INPLACE, MemoryPlan
from ..memplan.kernels import conv_scratch, fully_connected_scratch, inplace_depthwise_scratch
from ..patch_exec import patch_stage
from .detect import DetectCode, detect_code, yolo_spec

ARENA, INPUT = 0, 1  # buffer ids of CProgram; constants follow


def strip_output_dequantize(graph: Graph) -> Graph:
    """A copy of ``graph`` whose outputs made by DEQUANTIZE are replaced by their int8 inputs."""
    drop = {op.name for op in graph.ops if op.kind == 'dequantize' and op.outputs[0] in graph.outputs
            and graph.tensor(op.inputs[0]).dtype == 'int8' and len(graph.consumers(op.outputs[0])) == 0}
    if not drop:
        return graph if graph.finalized else graph.finalize()
    new_out = {graph.op(n).outputs[0]: graph.op(n).inputs[0] for n in drop}
    tensors = {k: v for k, v in graph.tensors.items() if k not in new_out}
    out = Graph(graph.name, tensors, [op for op in graph.ops if op.name not in drop], list(graph.inputs),
                [new_out.get(t, t) for t in graph.outputs], dict(graph.metadata))
    return out.finalize()


@dataclass
class CProgram(Program):
    """A :class:`Program` whose buffers are the arena, the input frame and named constant arrays."""

    consts: dict[int, tuple[str, np.ndarray]] = field(default_factory=dict)
    names: set[str] = field(default_factory=set)
    label: str = 'op'

    def __post_init__(self) -> None:
        self.buffers = [(0, None), (0, None)]  # ARENA, INPUT

    def const(self, data: np.ndarray, key: Optional[object] = None) -> int:
        if key is not None and key in self._consts:
            return self._consts[key]
        suffix = key[-1] if isinstance(key, tuple) else 'c'
        base = re.sub(r'\W', '_', f'{self.label}_{suffix}')
        name, k = base, 1
        while name in self.names:
            k += 1
            name = f'{base}_{k}'
        self.names.add(name)
        self.buffers.append((int(np.asarray(data).nbytes), None))
        buf = len(self.buffers) - 1
        self.consts[buf] = (name, np.ascontiguousarray(data))
        if key is not None:
            self._consts[key] = buf
        return buf

    def buffer(self, size=None, data=None, dump=True) -> int:  # noqa: ARG002 - Program's signature
        raise GraphError('generated code has no temporary buffers: every tensor is placed by the memory plan')


# ---------------------------------------------------------------------- C printing
_CTYPES = {np.dtype('int8'): 'int8_t', np.dtype('<i4'): 'int32_t', np.dtype('int32'): 'int32_t',
           np.dtype('<i2'): 'int16_t', np.dtype('int16'): 'int16_t'}


def _int(v: int) -> str:
    v = int(v)
    return '(-2147483647 - 1)' if v == -2 ** 31 else str(v)


class _Printer:
    def __init__(self, prog: CProgram) -> None:
        self.prog = prog

    def base(self, buf: int) -> str:
        if buf == ARENA:
            return 'A'
        if buf == INPUT:
            return 'input'
        return self.prog.consts[buf][0]

    def view(self, a: list[int], i: int) -> str:
        buf, off, h, w, c, rs, ps = a[i:i + 7]
        return f'{{{self.base(buf)} + {off}, {h}, {w}, {c}, {rs}, {ps}}}'

    def ptr(self, a: list[int], i: int, ctype: str = 'int8_t') -> str:
        buf, off = a[i], a[i + 1]
        if buf == -1:
            return 'NULL'
        if buf in (ARENA, INPUT):
            p = f'{self.base(buf)} + {off}'
            return p if ctype == 'int8_t' else f'({ctype} *)({p})'
        return self.prog.consts[buf][0] if off == 0 else f'{self.prog.consts[buf][0]} + {off}'


def _io(p: _Printer, a: list[int]) -> list[str]:
    return [f'const mcu_src_t in = {p.view(a, 0)};', f'const mcu_dst_t out = {p.view(a, 7)};']


def _win(a: list[int], i: int) -> str:
    return 'const mcu_window_t win = {' + ', '.join(_int(x) for x in a[i:i + 10]) + '};'


def _c_call(p: _Printer, op: str, a: list[int], scratch: str) -> tuple[list[str], int]:
    """C statements for one runner call (the argument layouts of ``mcu_rt_runner.c``), and its MACs."""
    ints = lambda i, n: ', '.join(_int(x) for x in a[i:i + n])  # noqa: E731
    if op in ('conv2d', 'conv2d_1x1', 'conv2d_generic'):
        fn = {'conv2d': 'mcu_conv2d_s8', 'conv2d_1x1': 'mcu_conv2d_1x1_s8',
              'conv2d_generic': 'mcu_conv2d_generic_s8'}[op]
        macs = a[9] * a[10] * a[11] * a[22] * a[23] * a[4]
        return [*_io(p, a), _win(a, 22),
                f'static const mcu_conv_quant_t q = {{{ints(32, 4)}, {p.ptr(a, 18)}, {p.ptr(a, 20)}}};',
                f'CHECK({fn}(&in, {p.ptr(a, 14)}, {p.ptr(a, 16)}, &win, &q, &out, {scratch}));'], macs
    if op == 'depthwise':
        macs = a[9] * a[10] * a[11] * a[22] * a[23]
        return [*_io(p, a), _win(a, 22),
                f'static const mcu_conv_quant_t q = {{{ints(33, 4)}, {p.ptr(a, 18)}, {p.ptr(a, 20)}}};',
                f'CHECK(mcu_depthwise_conv2d_s8(&in, {p.ptr(a, 14)}, {p.ptr(a, 16)}, &win, {a[32]}, &q, '
                f'&out));'], macs
    if op == 'depthwise_inplace':
        macs = a[9] * a[10] * a[4] * a[22] * a[23]
        return [f'const mcu_dst_t map = {p.view(a, 0)};', f'const mcu_dst_t out = {p.view(a, 7)};',
                _win(a, 22),
                f'static const mcu_conv_quant_t q = {{{ints(32, 4)}, {p.ptr(a, 18)}, {p.ptr(a, 20)}}};',
                f'CHECK(mcu_depthwise_conv2d_inplace_s8(&map, &out, {p.ptr(a, 14)}, {p.ptr(a, 16)}, '
                f'&win, &q, {scratch}));'], macs
    if op == 'fully_connected':
        return [f'static const mcu_conv_quant_t q = {{{ints(13, 4)}, {p.ptr(a, 9)}, {p.ptr(a, 11)}}};',
                f'CHECK(mcu_fully_connected_s8({p.ptr(a, 0)}, {a[2]}, {a[3]}, {p.ptr(a, 4)}, {p.ptr(a, 6)}, '
                f'{a[8]}, &q, {p.ptr(a, 17)}, {scratch}));'], a[2] * a[3] * a[8]
    if op in ('avg_pool', 'max_pool'):
        fn = 'mcu_avg_pool2d_s8' if op == 'avg_pool' else 'mcu_max_pool2d_s8'
        return [*_io(p, a), _win(a, 14),
                f'CHECK({fn}(&in, &win, {_int(a[24])}, {_int(a[25])}, &out));'], 0
    if op in ('add', 'mul'):
        fn, qt, n = (('mcu_add_s8', 'mcu_add_quant_t', 12) if op == 'add'
                     else ('mcu_mul_s8', 'mcu_mul_quant_t', 7))
        return [f'const mcu_src_t x = {p.view(a, 0)};', f'const mcu_src_t y = {p.view(a, 7)};',
                f'const mcu_dst_t out = {p.view(a, 14)};', f'static const {qt} q = {{{ints(21, n)}}};',
                f'CHECK({fn}(&x, &y, &q, &out));'], 0
    if op == 'mean':
        return [f'const mcu_src_t in = {p.view(a, 0)};',
                f'static const mcu_mean_quant_t q = {{{ints(8, 5)}}};',
                f'CHECK(mcu_mean_s8(&in, {a[7]}, &q, {p.ptr(a, 13)}));'], 0
    if op == 'copy':
        return [f'const mcu_src_t in = {p.view(a, 0)};', f'const mcu_dst_t out = {p.view(a, 7)};',
                'CHECK(mcu_copy_s8(&in, &out));'], 0
    if op == 'pad':
        return [f'const mcu_src_t in = {p.view(a, 0)};', f'const mcu_dst_t out = {p.view(a, 7)};',
                f'CHECK(mcu_pad_s8(&in, {a[14]}, {a[15]}, {a[16]}, (int8_t){_int(a[17])}, &out));'], 0
    if op == 'requantize_map':
        return [f'const mcu_src_t in = {p.view(a, 0)};', f'const mcu_dst_t out = {p.view(a, 7)};',
                f'CHECK(mcu_requantize_map_s8(&in, {ints(14, 4)}, &out));'], 0
    if op == 'resize_nearest':
        return [f'const mcu_src_t in = {p.view(a, 0)};', f'const mcu_dst_t out = {p.view(a, 7)};',
                f'CHECK(mcu_resize_nearest_s8(&in, {p.ptr(a, 14)}, {p.ptr(a, 16)}, &out));'], 0
    if op == 'transpose':
        return [f'static const int32_t dims[4] = {{{ints(2, 4)}}};',
                f'static const int32_t perm[4] = {{{ints(6, 4)}}};',
                f'CHECK(mcu_transpose_s8({p.ptr(a, 0)}, dims, perm, {p.ptr(a, 10)}));'], 0
    if op == 'concat':
        n = a[0]
        views = ', '.join(p.view(a, 9 + 7 * i) for i in range(n))
        return [f'const mcu_src_t ins[{n}] = {{{views}}};', f'const mcu_dst_t out = {p.view(a, 2)};',
                f'CHECK(mcu_concat_s8(ins, {n}, {a[1]}, &out));'], 0
    raise GraphError(f'code generation: runtime call {op!r} is not supported (float ops stay on the host)')


def _needed_scratch(op: str, a: list[int]) -> int:
    """Bytes the runtime's size query returns for this call (mcu_rt.h)."""
    # mcu_conv2d_s8_scratch_size; mcu_conv2d_1x1_s8 takes only the 1x1 window without pads, where they agree
    if op in ('conv2d', 'conv2d_1x1', 'conv2d_generic'):
        return conv_scratch(a[22:24], a[4], a[28:32])
    if op == 'fully_connected':
        return fully_connected_scratch(a[3])
    if op == 'depthwise_inplace':
        return inplace_depthwise_scratch(a[28], a[9], a[3], a[4])
    return 0


# ---------------------------------------------------------------------- schedule -> calls
@dataclass
class Generated:
    """The generated sources and what they hold."""

    header: str
    source: str
    host_main: str
    weights_bytes: int
    macs: int
    num_calls: int
    input_tensor: str
    output_tensors: list[str]
    detect: Optional[DetectCode] = None


def _dense(buf: int, offset: int, shape, row_w: Optional[int] = None) -> View:
    h, w, c = nhwc(shape)
    return View(buf, offset, h, w, c, (row_w or w) * c, c)


def _crop(v: View, window: Window, origin: Window) -> View:
    return v.crop(window.r0 - origin.r0, window.r1 - origin.r0, window.c0 - origin.c0, window.c1 - origin.c0)


def generate(graph: Graph, plan: MemoryPlan, prefix: str = 'model') -> Generated:
    """C sources for ``graph`` (finalized, trailing DEQUANTIZE stripped) under ``plan``."""
    if not plan.scratch_in_arena:
        raise GraphError('code generation needs a plan with scratch_in_arena=True')
    bad = set(plan.inplace_rules) - set(RUNTIME_INPLACE)
    if any(s.in_place in bad for s in plan.steps):
        raise GraphError(f'the plan uses in-place rules {sorted(bad)} that mcu_rt 1 has no kernel for; plan '
                         f'with inplace=RUNTIME_INPLACE')
    if len(plan.input_tensors) != 1:
        raise GraphError(f'code generation supports one input; the plan has {plan.input_tensors}')
    frame = plan.input_tensors[0]
    outputs = list(graph.outputs)
    for t in outputs:
        if graph.tensor(t).dtype != 'int8':
            raise GraphError(f'output {t!r} is {graph.tensor(t).dtype}; strip_output_dequantize(graph) first')
    prog = CProgram()
    blocks: list[tuple[str, int, list[tuple[str, list[int]]]]] = []  # (comment, step index, calls)
    bufs = plan.buffers

    def full_view(t: str) -> View:
        if t == frame and not plan.input_resident:
            return _dense(INPUT, 0, graph.tensor(t).shape)
        return _dense(ARENA, bufs[t].offset, bufs[t].shape)

    def record(step, comment: str, fn) -> None:
        op = graph.op(step.op)
        prog.label = op.name
        start = len(prog.calls)
        fn(op)
        blocks.append((comment, step.index, prog.calls[start:]))

    # per-patch stage, tile by tile
    pp, n_stage = plan.patch_plan, plan.num_stage_steps
    if pp is not None and n_stage:
        stage = patch_stage(graph, plan.split_tensor)
        fh, fw, _ = nhwc(graph.tensor(frame).shape)
        split_full = full_view(plan.split_tensor)
        sh, sw = split_full.h, split_full.w
        for ti, tile in enumerate(pp.tiles):
            cur: dict[str, tuple[View, Window]] = {frame: (full_view(frame), Window(0, fh, 0, fw))}
            for step in plan.steps[:n_stage]:
                op = graph.op(step.op)
                uw, unit = tile.units[step.unit], stage.units[step.unit]
                t_out = op.outputs[0]
                if step.layer is None:  # residual ADD
                    unit_in = unit.ops[0].inputs[0]
                    reads = [uw.residual_window if t == unit_in else uw.layers[-1].out_window
                             for t in op.inputs]
                    out_w, pads = uw.out_window, None
                else:
                    lw = uw.layers[step.layer]
                    reads, out_w, pads = [lw.in_window], lw.out_window, lw.pads
                acts = [t for t in op.inputs if not graph.tensor(t).is_const]
                ins = [_crop(cur[t][0], w, cur[t][1]) for t, w in zip(acts, reads)]
                oh, ow = out_w.hw

                def call(o, ins=ins, pads=pads, t_out=t_out, step=step, oh=oh, ow=ow, out_w=out_w, cur=cur,
                         acts=acts):
                    if t_out == plan.split_tensor or t_out in plan.stage_views:
                        # a stage view (the project conv before a stage-ending ADD) is written into the
                        # stage output too; the ADD then runs in place on the same view
                        dst = _crop(split_full, out_w, Window(0, sh, 0, sw))
                        if step.in_place == 'elementwise' and ins[acts.index(step.in_place_of)] != dst:
                            raise GraphError(f'{o.label()}: in-place step does not write its input\'s view')
                    elif step.in_place == 'depthwise':
                        # dense at the start of the input's tile buffer, whatever crop of it is read
                        dst = _dense(ARENA, bufs[t_out].offset, (1, oh, ow, graph.tensor(t_out).shape[3]))
                        if cur[acts[0]][0].offset != dst.offset or ins[0].offset < dst.offset:
                            raise GraphError(f'{o.label()}: in-place step does not start at its input buffer')
                        emit_depthwise_inplace(prog, graph, o, ins[0], (oh, ow), pads, out=dst)
                        cur[t_out] = (dst, out_w)
                        return
                    else:
                        dst = _dense(ARENA, bufs[t_out].offset, (1, oh, ow, graph.tensor(t_out).shape[3]))
                    emit_op(prog, graph, o, ins, dst, pads=pads)
                    cur[t_out] = (dst, out_w)
                record(step, f'{op.name} ({op.kind}), tile {ti} rows {out_w.r0}:{out_w.r1} cols '
                             f'{out_w.c0}:{out_w.c1}', call)
    # the rest, per layer
    for step in plan.steps[n_stage:]:
        op = graph.op(step.op)
        if step.in_place == 'reshape':
            if bufs[op.outputs[0]].offset != bufs[op.inputs[0]].offset:
                raise GraphError(f'{op.label()}: in-place RESHAPE at a different offset')
            blocks.append((f'{op.name} (reshape): aliases its input, no call', step.index, []))
            continue

        def call(o, step=step):
            acts = [t for t in o.inputs if not graph.tensor(t).is_const]
            ins = [full_view(t) for t in acts]
            if step.in_place == 'depthwise':
                out = full_view(o.outputs[0])
                emit_depthwise_inplace(prog, graph, o, ins[0], (out.h, out.w), out=out)
            else:
                emit_op(prog, graph, o, ins, full_view(o.outputs[0]))
        record(step, f'{op.name} ({op.kind})', call)

    # ------------------------------------------------------------------ print
    p = _Printer(prog)
    body: list[str] = []
    macs = 0
    if plan.input_resident:
        v = full_view(frame)
        body += ['    { /* resident input frame: copy it into the arena */',
                 f'        const mcu_src_t in = {{input, {v.h}, {v.w}, {v.c}, {v.w * v.c}, {v.c}}};',
                 f'        const mcu_dst_t out = {p.view(v.args(), 0)};',
                 '        CHECK(mcu_copy_s8(&in, &out));', '    }']
    for comment, si, calls in blocks:
        step = plan.steps[si]
        body.append(f'    /* step {si}: {comment} */')
        for name, args in calls:
            need = _needed_scratch(name, args)
            if need > step.scratch_bytes:
                raise GraphError(f'{step.op}: the call needs {need} B of scratch, the plan has '
                                 f'{step.scratch_bytes}')
            scratch = f'A + {step.scratch_offset}' if need else 'NULL'
            lines, m = _c_call(p, name, args, scratch)
            macs += m
            body += ['    {'] + ['        ' + ln for ln in lines] + ['    }']
    params = ', '.join(f'int8_t *output{k}' for k in range(len(outputs)))
    for k, t in enumerate(outputs):
        v = full_view(t)
        h, w, c = nhwc(graph.tensor(t).shape)
        body += [f'    {{ /* output {k}: {t} */', f'        const mcu_src_t in = {p.view(v.args(), 0)};',
                 f'        const mcu_dst_t out = {{output{k}, {h}, {w}, {c}, {w * c}, {c}}};',
                 '        CHECK(mcu_copy_s8(&in, &out));', '    }']

    weights = []
    weights_bytes = 0
    for name, data in prog.consts.values():
        ctype = _CTYPES[data.dtype]
        flat = data.reshape(-1).tolist()
        weights_bytes += data.nbytes
        rows = [', '.join(map(str, flat[i:i + 24])) for i in range(0, len(flat), 24)]
        weights.append(f'static const {ctype} {name}[{len(flat)}] = {{\n    ' + ',\n    '.join(rows) + '\n};')

    guard = prefix.upper()
    in_t = graph.tensor(frame)
    ih, iw, ic = nhwc(in_t.shape)
    scale = float(in_t.scale) if in_t.scale is not None else 1.0
    hdr = [f'/* {prefix}.h: generated by mcudet.deploy.codegen from {graph.name!r}. Do not edit. */',
           f'#ifndef {guard}_H', f'#define {guard}_H', '', '#include <stdint.h>', '',
           f'#define {guard}_ARENA_BYTES {plan.arena_bytes} /* one static arena: activations + scratch */',
           f'#define {guard}_SCRATCH_BYTES {plan.scratch_bytes} /* largest kernel scratch, in the arena */',
           f'#define {guard}_WEIGHTS_BYTES {weights_bytes} /* const arrays in flash */',
           f'#define {guard}_INPUT_RESIDENT {int(plan.input_resident)} '
           '/* 0: input is read in place (streamed), 1: copied into the arena */',
           f'#define {guard}_INPUT_BYTES {in_t.nbytes}', f'#define {guard}_INPUT_H {ih}',
           f'#define {guard}_INPUT_W {iw}', f'#define {guard}_INPUT_C {ic}',
           f'#define {guard}_INPUT_SCALE {scale!r}f', f'#define {guard}_INPUT_ZERO_POINT {in_t.zero_point}',
           f'#define {guard}_NUM_OUTPUTS {len(outputs)}']
    for k, t in enumerate(outputs):
        ot = graph.tensor(t)
        hdr += [f'#define {guard}_OUTPUT{k}_BYTES {ot.nbytes} /* {t}: shape {tuple(ot.shape)} */',
                f'#define {guard}_OUTPUT{k}_SCALE {float(ot.scale)!r}f',
                f'#define {guard}_OUTPUT{k}_ZERO_POINT {ot.zero_point}']
    spec = yolo_spec(graph)
    det = detect_code(graph, spec, prefix) if spec is not None else None
    hdr += ['', '/*', ' * Runs the model: input is the int8 NHWC frame (INPUT_BYTES; a float model input is',
            ' * quantized by the caller with INPUT_SCALE / INPUT_ZERO_POINT), outputK receives OUTPUTK_BYTES',
            ' * int8 values (a DEQUANTIZE at the graph output is left to the caller). Returns 0 or the',
            ' * first failing kernel\'s negative mcu_status_t. Not re-entrant (one static arena).', ' */',
            f'int {prefix}_invoke(const int8_t *input, {params});', *(det.header if det else []), '',
            f'#endif /* {guard}_H */', '']
    src = [f'/* {prefix}.c: generated by mcudet.deploy.codegen from {graph.name!r}. Do not edit. */',
           '#include <stddef.h>', '', '#include "mcu_rt.h"', f'#include "{prefix}.h"', '',
           '#define CHECK(x) do { const mcu_status_t st_ = (x); if (st_ != MCU_RT_OK) return (int)st_; } '
           'while (0)', '',
           f'static union {{ int32_t align; int8_t bytes[{max(plan.arena_bytes, 4)}]; }} arena;', '',
           *weights, '', f'int {prefix}_invoke(const int8_t *input, {params})', '{',
           '    int8_t *const A = arena.bytes;', '    (void)input;', *body, '    return 0;', '}',
           *(det.source if det else []), '']
    outs = ''.join(f'    static int8_t out{k}[{guard}_OUTPUT{k}_BYTES];\n' for k in range(len(outputs)))
    out_args = ', '.join(f'out{k}' for k in range(len(outputs)))
    writes = ''.join(f'    if (fwrite(out{k}, 1, sizeof out{k}, f) != sizeof out{k}) return 1;\n'
                     for k in range(len(outputs)))
    main = (f'/* Host harness: {prefix}_host IN OUT [BOXES] reads the int8 frame, runs {prefix}_invoke, '
            'writes the outputs (and, for a detector, the boxes of {prefix}_detect). */\n'
            '#include <stdio.h>\n\n'
            f'#include "{prefix}.h"\n\n'
            'int main(int argc, char **argv)\n{\n'
            f'    static int8_t in[{guard}_INPUT_BYTES];\n{outs}'
            '    FILE *f;\n    int st;\n'
            '    if (argc != 3 && argc != 4) return 2;\n'
            '    f = fopen(argv[1], "rb");\n'
            '    if (f == NULL || fread(in, 1, sizeof in, f) != sizeof in) return 1;\n'
            '    fclose(f);\n'
            f'    st = {prefix}_invoke(in, {out_args});\n'
            '    if (st != 0) { fprintf(stderr, "invoke failed: %d\\n", st); return 3; }\n'
            '    f = fopen(argv[2], "wb");\n    if (f == NULL) return 1;\n'
            f'{writes}'
            '    if (fclose(f) != 0) return 1;\n'
            f'{_host_detect(prefix) if det else ""}'
            '    return 0;\n}\n')
    return Generated('\n'.join(hdr), '\n'.join(src), main, weights_bytes, macs,
                     sum(len(c) for _, _, c in blocks), frame, outputs, det)


def _host_detect(prefix: str) -> str:
    """Host harness lines: run ``{prefix}_detect`` and write the count and the boxes to argv[3]."""
    guard = prefix.upper()
    return ('    if (argc == 4) {\n'
            f'        static mcu_box_t boxes[{guard}_MAX_DETECTIONS];\n'
            '        int32_t n = 0;\n'
            f'        st = {prefix}_detect(in, boxes, &n);\n'
            '        if (st != 0) { fprintf(stderr, "detect failed: %d\\n", st); return 3; }\n'
            '        f = fopen(argv[3], "wb");\n'
            '        if (f == NULL || fwrite(&n, sizeof n, 1, f) != 1) return 1;\n'
            '        if (fwrite(boxes, sizeof boxes[0], (size_t)n, f) != (size_t)n) return 1;\n'
            '        if (fclose(f) != 0) return 1;\n'
            '    }\n')
