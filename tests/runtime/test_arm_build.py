"""The runtime cross-compiles for Cortex-M4 and Cortex-M7, with and without the DSP path, with
-Wall -Wextra -Werror; the DSP objects use the SIMD instructions; and no integer kernel uses
float (compiled for a core without FPU, only the boundary / post-processing files call the
soft-float helpers)."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from mcudet.deploy.cbuild import ARM_CPUS, FLOAT_SOURCES, compile_arm, float_helpers, runtime_sources

from .conftest import needs_arm_gcc

pytestmark = needs_arm_gcc


@pytest.mark.parametrize('dsp', [False, True], ids=['portable', 'dsp'])
@pytest.mark.parametrize('cpu', sorted(ARM_CPUS))
def test_cross_compiles_warning_free(tmp_path: Path, cpu: str, dsp: bool) -> None:
    objs = compile_arm(cpu, dsp, tmp_path)
    assert all(o.is_file() for o in objs)
    if dsp:
        text = subprocess.run(['arm-none-eabi-objdump', '-d', *map(str, objs)], capture_output=True,
                              text=True, check=True).stdout
        for insn in ('smlad', 'sxtb16', 'sadd16', 'smlabb', 'smlatt'):
            assert f'\t{insn}' in text, f'{cpu} DSP build emits no {insn}'


def test_integer_kernels_use_no_float(tmp_path: Path) -> None:
    for dsp in (False, True):
        objs = compile_arm('cortex-m4', dsp, tmp_path / f'dsp{int(dsp)}', float_abi='soft')
        for obj in objs:
            helpers = float_helpers(obj)
            if obj.stem + '.c' in FLOAT_SOURCES:
                assert helpers, f'{obj.name}: expected float use (the check would be blind otherwise)'
            else:
                assert not helpers, f'{obj.name} (dsp={dsp}) uses float: {helpers}'
    assert len(runtime_sources()) > len(FLOAT_SOURCES) + 10
