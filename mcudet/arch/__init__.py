"""Architecture descriptions (no torch): ArchSpec, builders, zoo, counters."""
from .blockstr import (
    decode_block,
    decode_blocks,
    decode_conv,
    encode_block,
    encode_blocks,
    encode_conv,
    spec_from_strings,
    spec_to_strings,
)
from .builders import mobilenet_v2, mobilenet_v2_rd
from .counters import SummaryRow, count_macs, count_params, format_summary, summary
from .graph import Layer, Unit, build_units
from .proxyless import dump_proxyless, load_proxyless, save_proxyless
from .spec import ArchSpec, BlockSpec, ClassifierSpec, ConvSpec, SpecError, make_divisible
from .zoo import ZooEntry, get_entry, get_spec, list_specs, load_spec, register_spec

__all__ = ['ArchSpec', 'BlockSpec', 'ClassifierSpec', 'ConvSpec', 'SpecError', 'make_divisible',
           'Layer', 'Unit', 'build_units', 'mobilenet_v2', 'mobilenet_v2_rd',
           'decode_block', 'decode_blocks', 'decode_conv', 'encode_block', 'encode_blocks', 'encode_conv',
           'spec_from_strings', 'spec_to_strings', 'dump_proxyless', 'load_proxyless', 'save_proxyless',
           'ZooEntry', 'get_entry', 'get_spec', 'list_specs', 'load_spec', 'register_spec',
           'SummaryRow', 'count_macs', 'count_params', 'format_summary', 'summary']
