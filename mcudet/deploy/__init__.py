"""Deployment: the integer graph IR, its NumPy reference executor, .tflite I/O, patch execution.

Layers (each imports only those above it):
    quant_math      TFLite int8 fixed-point arithmetic (multipliers, MBQM, ranges)
    ops, ir, params the graph: typed op attributes, tensors, validation, precomputed parameters
    reference       the NumPy reference executor: the specification for the C runtime
    builder         build graphs op by op; synthetic: random graphs for tests
    transforms      exact rewrites (fold PAD into convolutions)
    patch_exec      patch plans traced from the graph and tile-by-tile execution
    tflite_*, tflm  .tflite writer / reader and TFLite Micro from Python (tflite-micro, lazily)

NumPy only; never imports torch or the training stack.
"""
from .builder import GraphBuilder
from .ir import Graph, GraphError, Op, Tensor
from .ops import Padding
from .reference import run

__all__ = ['Graph', 'GraphBuilder', 'GraphError', 'Op', 'Padding', 'Tensor', 'run']
