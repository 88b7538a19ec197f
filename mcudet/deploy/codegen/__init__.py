"""C code generation (``model.h`` / ``model.c``) from an IR graph and its memory plan.

    from mcudet.deploy.codegen import export
    ex = export(graph, 'out/vww', patches=(2, 2), split='...')
    print(ex.report['memory'])

:mod:`.emit` describes the generated interface (``model_invoke``).
"""
from .build import (
           Export,
           export,
           host_build,
           layer_split,
           make_plan,
           memory_line,
           reference_io,
           run_host,
           sample_input,
)
from .emit import CProgram, Generated, generate, strip_output_dequantize

__all__ = ['CProgram', 'Export', 'Generated', 'export', 'generate', 'host_build', 'layer_split', 'make_plan',
           'memory_line', 'reference_io', 'run_host', 'sample_input', 'strip_output_dequantize']
