"""int8 quantization: BN folding, observers, fake quantization (QAT), calibration (PTQ), export to the IR.

Layers (each imports only those above it):
    observers    range observers (min/max, percentile, EMA) and int8 (scale, zero point)
    fake_quant   activation / weight / bias fake quantization with straight-through gradients
    trace        recording a fake-quant forward pass as IR ops
    integer      the int8 kernels in torch (integer-exact evaluation)
    modules      fake-quant layers (conv + BN + act, linear, add, mul, mean, concat, upsample)
    input        the int8 input: preprocessor mean / std as one scale and zero point
    convert      prepare_model: replace a float model's layers in place
    ptq          calibrate / quantize_model and the switches (fake quant, observers, BN freezing)
    lowering     lower_to_ir: the quantized model as a mcudet.deploy Graph
    hooks        QuantizationHook: PTQ / QAT from a config (``quantization = dict(...)``)
    from_config  a config and a checkpoint to the integer graph (tools/export.py)

Typical use::

    quantize_model(model, val_loader, num_batches=32)          # PTQ
    graph = lower_to_ir(model, (160, 160))                      # -> mcudet.deploy.ir.Graph
    outputs = mcudet.deploy.run(graph, [image_int8_nhwc])
"""
from mcudet.deploy.yolo import YoloDecodeSpec, decode_yolo

from .convert import input_quant_of, is_prepared, prepare_model
from .fake_quant import ActQuant, quantized_input
from .hooks import QuantizationHook, build_quantized_model
from .input import InputQuant
from .lowering import lower_to_ir, quantized_outputs, split_tensor
from .modules import QConvBNAct
from .observers import EMAMinMaxObserver, MinMaxObserver, PercentileObserver, build_observer, choose_qparams
from .ptq import (
    calibrate,
    enable_fake_quant,
    enable_observers,
    freeze_bn,
    is_calibrated,
    quantize_model,
    set_integer_eval,
)

__all__ = [
    'ActQuant', 'EMAMinMaxObserver', 'InputQuant', 'MinMaxObserver', 'PercentileObserver', 'QConvBNAct',
    'QuantizationHook', 'YoloDecodeSpec', 'build_observer', 'build_quantized_model', 'calibrate',
    'choose_qparams', 'decode_yolo', 'enable_fake_quant', 'enable_observers', 'freeze_bn', 'input_quant_of',
    'is_calibrated', 'is_prepared', 'lower_to_ir', 'prepare_model', 'quantize_model', 'quantized_input',
    'quantized_outputs', 'set_integer_eval', 'split_tensor',
]
