"""What the ``.tflite`` writer and reader share: the schema module and the name tables.

The flatbuffer schema comes from the ``tflite-micro`` wheel (object API: ModelT,
SubGraphT, TensorT, OperatorT, BufferT); it is imported lazily so that the rest of
:mod:`mcudet.deploy` needs only NumPy.
"""
from __future__ import annotations

from types import ModuleType

_SCHEMA: list[ModuleType] = []


def schema() -> ModuleType:
    """``tflite_micro``'s generated schema module (ImportError with the install command if absent)."""
    if not _SCHEMA:
        try:
            from tflite_micro.tensorflow.lite.micro.python import schema_py_generated
        except ImportError as e:  # pragma: no cover - depends on the environment
            raise ImportError('reading or writing .tflite needs the tflite-micro wheel: '
                              'pip install --pre tflite-micro') from e
        _SCHEMA.append(schema_py_generated)
    return _SCHEMA[0]


# our kind -> (TFLite builtin operator name, options class name or None, op version written)
KIND_TO_BUILTIN: dict[str, tuple[str, str | None, int]] = {
    'conv2d': ('CONV_2D', 'Conv2DOptions', 3),
    'depthwise_conv2d': ('DEPTHWISE_CONV_2D', 'DepthwiseConv2DOptions', 3),
    'average_pool2d': ('AVERAGE_POOL_2D', 'Pool2DOptions', 2),
    'max_pool2d': ('MAX_POOL_2D', 'Pool2DOptions', 2),
    'add': ('ADD', 'AddOptions', 2),
    'mul': ('MUL', 'MulOptions', 2),
    'mean': ('MEAN', 'ReducerOptions', 2),
    'fully_connected': ('FULLY_CONNECTED', 'FullyConnectedOptions', 4),
    'pad': ('PAD', 'PadOptions', 2),
    'resize_nearest': ('RESIZE_NEAREST_NEIGHBOR', 'ResizeNearestNeighborOptions', 3),
    'concat': ('CONCATENATION', 'ConcatenationOptions', 2),
    'reshape': ('RESHAPE', 'ReshapeOptions', 1),
    'transpose': ('TRANSPOSE', 'TransposeOptions', 2),
    'quantize': ('QUANTIZE', 'QuantizeOptions', 1),
    'dequantize': ('DEQUANTIZE', 'DequantizeOptions', 2),
}

ACTIVATION_TO_TFLITE = {'none': 'NONE', 'relu': 'RELU', 'relu6': 'RELU6'}
DTYPE_TO_TFLITE = {'int8': 'INT8', 'int32': 'INT32', 'float32': 'FLOAT32'}


def builtin_code(name: str) -> int:
    return getattr(schema().BuiltinOperator, name)


def builtin_name(code: int) -> str:
    for k, v in vars(schema().BuiltinOperator).items():
        if not k.startswith('_') and v == code:
            return k
    return f'builtin #{code}'


def enum_value(enum: str, name: str) -> int:
    return getattr(getattr(schema(), enum), name)


def enum_name(enum: str, value: int) -> str:
    for k, v in vars(getattr(schema(), enum)).items():
        if not k.startswith('_') and v == value:
            return k
    return f'{enum} #{value}'
