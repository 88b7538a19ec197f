"""The .tflite writer and reader: padding decisions, inline aligned weights, round trips, refusals."""
from __future__ import annotations

import zlib

import numpy as np
import pytest

from mcudet.deploy import GraphError, Padding
from mcudet.deploy.builder import GraphBuilder
from mcudet.deploy.ops import Pool2D
from mcudet.deploy.reference import run
from mcudet.deploy.synthetic import OP_CASE_KINDS, random_op_graph

from .conftest import needs_tflm

pytestmark = needs_tflm


def _schema():
    from mcudet.deploy.tflite_schema import schema

    return schema()


def _builtins(model: bytes) -> list[str]:
    from mcudet.deploy.tflite_schema import builtin_name

    s = _schema()
    m = s.ModelT.InitFromObj(s.Model.GetRootAsModel(model, 0))
    codes = [max(c.builtinCode, c.deprecatedBuiltinCode) for c in m.operatorCodes]
    return [builtin_name(codes[o.opcodeIndex]) for o in m.subgraphs[0].operators]


def _conv_graph(hw: int, stride: int, padding: Padding):
    rng = np.random.default_rng(hw)
    b = GraphBuilder('conv')
    x = b.input('x', (1, hw, hw, 3), 0.05, 4)
    y = b.conv2d('conv', x, rng.integers(-127, 128, (8, 3, 3, 3)).astype(np.int8),
                 rng.integers(-999, 999, 8).astype(np.int32), np.full(8, 0.01, np.float32), 0.1, -2,
                 (stride, stride), padding, activation='relu6')
    b.output(y)
    return b.build(), [rng.integers(-128, 128, (1, hw, hw, 3)).astype(np.int8)]


@pytest.mark.parametrize('hw, stride, padding, ops, flag', [
    (80, 2, Padding(1, 1, 1, 1), ['PAD', 'CONV_2D'], 'VALID'),  # PyTorch padding on an even map
    (81, 2, Padding(1, 1, 1, 1), ['CONV_2D'], 'SAME'),
    (80, 2, Padding(0, 1, 0, 1), ['CONV_2D'], 'SAME'),  # TFLite SAME written as explicit numbers
    (20, 1, Padding(), ['CONV_2D'], 'VALID'),
])
def test_writer_uses_same_valid_or_an_explicit_pad(hw, stride, padding, ops, flag) -> None:
    from mcudet.deploy.tflite_schema import enum_name
    from mcudet.deploy.tflite_writer import write_tflite
    from mcudet.deploy.tflm import run_tflm

    graph, inputs = _conv_graph(hw, stride, padding)
    model = write_tflite(graph)
    assert _builtins(model) == ops
    s = _schema()
    conv = s.ModelT.InitFromObj(s.Model.GetRootAsModel(model, 0)).subgraphs[0].operators[-1]
    assert enum_name('Padding', conv.builtinOptions.padding) == flag
    assert np.array_equal(run_tflm(model, inputs)[0], run(graph, inputs)[0])


def test_writer_weights_are_inline_per_channel_and_aligned() -> None:
    from mcudet.deploy.tflite_writer import write_tflite

    graph, _ = _conv_graph(9, 1, Padding(1, 1, 1, 1))
    model = write_tflite(graph)
    s = _schema()
    root = s.Model.GetRootAsModel(model, 0)
    m = s.ModelT.InitFromObj(root)
    sub = m.subgraphs[0]
    weights = next(t for t in sub.tensors if t.name == b'conv.weight')
    assert weights.quantization.quantizedDimension == 0 and len(weights.quantization.scale) == 8
    bias = next(t for t in sub.tensors if t.name == b'conv.bias')
    assert np.allclose(bias.quantization.scale, np.float32(0.05) * np.float32(0.01))
    for i in range(root.BuffersLength()):
        b = root.Buffers(i)
        assert b.Offset() == 0  # inline, never an offset buffer
        if b.DataLength():
            start = b._tab.Vector(b._tab.Offset(4))
            assert start % 16 == 0, f'buffer {i} starts at byte {start}'


def test_writer_refuses_a_pool_it_cannot_express() -> None:
    from mcudet.deploy.tflite_writer import write_tflite

    b = GraphBuilder()
    x = b.input('x', (1, 8, 8, 2), 0.1, 0)
    b.output(b.op('average_pool2d', 'pool', [x], Pool2D((3, 3), (2, 2), Padding(1, 1, 1, 1)), 0.1, 0))
    with pytest.raises(GraphError, match=r"op 'pool' \(average_pool2d\): padding .* neither TFLite SAME"):
        write_tflite(b.build())


@pytest.mark.parametrize('kind', OP_CASE_KINDS)
def test_round_trip_write_read(kind: str) -> None:
    from mcudet.deploy.tflite_reader import read_tflite
    from mcudet.deploy.tflite_writer import write_tflite

    for seed in range(10):
        graph, inputs = random_op_graph(kind, np.random.default_rng([zlib.crc32(kind.encode()), seed]))
        again = read_tflite(write_tflite(graph))
        kinds = [op.kind for op in again.ops]
        assert kinds in ([graph.ops[0].kind], ['pad', graph.ops[0].kind]), f'{kind} seed {seed}: {kinds}'
        assert np.array_equal(run(again, inputs)[0], run(graph, inputs)[0]), f'{kind} seed {seed}'


def _replace_opcode(model: bytes, builtin: str) -> bytes:
    """The same model with its first operator code swapped (a converter's op we do not support)."""
    import flatbuffers

    from mcudet.deploy.tflite_schema import builtin_code

    s = _schema()
    m = s.ModelT.InitFromObj(s.Model.GetRootAsModel(model, 0))
    code = builtin_code(builtin)
    m.operatorCodes[0].builtinCode, m.operatorCodes[0].deprecatedBuiltinCode = code, min(code, 127)
    m.subgraphs[0].operators[0].builtinOptionsType = 0
    m.subgraphs[0].operators[0].builtinOptions = None
    builder = flatbuffers.Builder(1024)
    builder.Finish(m.Pack(builder), file_identifier=b'TFL3')
    return bytes(builder.Output())


@pytest.mark.parametrize('builtin, message', [
    ('TANH', r'operator 0 \(TANH\) is not supported by the integer IR; supported: CONV_2D'),
    ('SOFTMAX', r'operator 0 \(SOFTMAX\): SOFTMAX is not part of the integer IR'),
    ('LOGISTIC', r'operator 0 \(LOGISTIC\) is not supported'),
])
def test_reader_refuses_unsupported_ops_by_name(builtin: str, message: str) -> None:
    from mcudet.deploy.tflite_reader import read_tflite
    from mcudet.deploy.tflite_writer import write_tflite

    graph, _ = random_op_graph('requantize', np.random.default_rng(0))
    with pytest.raises(GraphError, match=message):
        read_tflite(_replace_opcode(write_tflite(graph), builtin), source='model.tflite')


def test_reader_refuses_garbage() -> None:
    from mcudet.deploy.tflite_reader import read_tflite

    with pytest.raises(GraphError, match='not a .tflite flatbuffer'):
        read_tflite(b'\0' * 64)


def test_round_trip_keeps_op_names_and_groups() -> None:
    from mcudet.arch import zoo
    from mcudet.deploy.patch_exec import plan_from_graph
    from mcudet.deploy.synthetic import graph_from_spec
    from mcudet.deploy.tflite_reader import read_tflite
    from mcudet.deploy.tflite_writer import write_tflite
    from mcudet.deploy.transforms import fold_pads

    graph = graph_from_spec(zoo.get_spec('mbv2-w0.35'), (32, 32), seed=0)
    # PyTorch padding on even maps comes back as explicit PADs named after their conv ...
    again = read_tflite(write_tflite(graph))
    assert again.op('stem/pad').kind == 'pad' and again.op('stem/pad').group == 'stem'
    # ... which fold_pads merges again: the same op names, groups and patch plans.
    again = fold_pads(again)
    assert [(op.name, op.group) for op in again.ops] == [(op.name, op.group) for op in graph.ops]
    split = graph.op('blocks.3.project').outputs[0]
    assert plan_from_graph(again, split, 2) == plan_from_graph(graph, split, 2)


def test_reader_reads_offset_buffers_stored_after_the_flatbuffer() -> None:
    """Large models keep weights outside the flatbuffer (offset buffers): read them from the file."""
    import flatbuffers

    from mcudet.deploy.tflite_reader import read_tflite
    from mcudet.deploy.tflite_writer import write_tflite

    graph, inputs = _conv_graph(9, 1, Padding(1, 1, 1, 1))
    s = _schema()
    m = s.ModelT.InitFromObj(s.Model.GetRootAsModel(write_tflite(graph), 0))
    moved = {i: bytes(np.asarray(b.data, np.uint8)) for i, b in enumerate(m.buffers)
             if b.data is not None and len(b.data) and i != len(m.buffers) - 1}  # keep the metadata inline

    def pack(base: int) -> bytes:
        pos = base
        for i, payload in moved.items():
            m.buffers[i].data, m.buffers[i].offset, m.buffers[i].size = None, pos, len(payload)
            pos += -(-len(payload) // 16) * 16
        builder = flatbuffers.Builder(1024)
        builder.Finish(m.Pack(builder), file_identifier=b'TFL3')
        return bytes(builder.Output())

    size = len(pack(1 << 40))  # the offsets are fixed-width: the final size does not depend on them
    base = -(-size // 16) * 16
    head = pack(base)
    assert len(head) == size
    tail = b''.join(p + b'\0' * (-len(p) % 16) for p in moved.values())
    again = read_tflite(head + b'\0' * (base - size) + tail)
    assert np.array_equal(again.tensor('conv.weight').data, graph.tensor('conv.weight').data)
    assert np.array_equal(run(again, inputs)[0], run(graph, inputs)[0])
