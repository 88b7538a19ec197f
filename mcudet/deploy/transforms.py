"""Exact graph rewrites (the int8 result never changes, bit for bit)."""
from __future__ import annotations

from dataclasses import replace

from .ir import Graph, Op
from .ops import Padding


def fold_pads(graph: Graph) -> Graph:
    """Merge every spatial PAD into the conv / depthwise that is its only consumer.

    A PAD fills with the input zero point, and a convolution skips out-of-image taps,
    which is the same as reading the zero point (``design/int8.md``); so PAD + conv with
    padding p equals the conv with padding p + pad. The padded buffer disappears (less
    SRAM for the C runtime; the writer re-inserts a PAD only where TFLite needs one).
    Pools are left alone: average pooling counts the taps and max pooling would see the
    zero point. Returns a new finalized graph; ``graph`` is not modified.
    """
    drop: set[str] = set()
    rewritten: dict[str, Op] = {}
    for op in graph.ops:
        if op.kind != 'pad' or op.outputs[0] in graph.outputs:
            continue
        pads = op.attrs.pads
        users = graph.consumers(op.outputs[0])
        spatial_only = len(pads) == 4 and pads[0] == (0, 0) and pads[3] == (0, 0)
        if not (spatial_only and len(users) == 1 and users[0].kind in ('conv2d', 'depthwise_conv2d')
                and users[0].inputs[0] == op.outputs[0]):
            continue
        conv = users[0]
        p, extra = conv.attrs.padding, op.attrs.spatial
        padding = Padding(p.top + extra.top, p.bottom + extra.bottom, p.left + extra.left,
                          p.right + extra.right)
        rewritten[conv.name] = Op(conv.kind, conv.name, (op.inputs[0],) + conv.inputs[1:], conv.outputs,
                                  replace(conv.attrs, padding=padding), conv.group)
        drop.add(op.name)
    out = Graph(graph.name, dict(graph.tensors), [], list(graph.inputs), list(graph.outputs),
                dict(graph.metadata))
    for op in graph.ops:
        if op.name in drop:
            del out.tensors[op.outputs[0]]
            continue
        src = rewritten.get(op.name, op)
        out.ops.append(Op(src.kind, src.name, src.inputs, src.outputs, src.attrs, src.group))
    return out.finalize()
