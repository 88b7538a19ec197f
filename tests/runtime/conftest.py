"""Fixtures of the C-runtime tests: the host builds, compiled once per session (and cached on disk)."""
from __future__ import annotations

import shutil

import pytest

from mcudet.deploy.cbuild import HOST_CONFIGS, BuildConfig, Runtime, build_runtimes

needs_gcc = pytest.mark.skipif(shutil.which('gcc') is None, reason='no host C compiler (gcc)')
needs_arm_gcc = pytest.mark.skipif(
    shutil.which('arm-none-eabi-gcc') is None,
    reason='arm-none-eabi-gcc is not installed (apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi)')

CONFIG_IDS = [c.name for c in HOST_CONFIGS]


@pytest.fixture(scope='session')
def runtimes() -> dict[str, Runtime]:
    """Every host configuration (portable, DSP-emulated, each with and without ASan + UBSan)."""
    if shutil.which('gcc') is None:
        pytest.skip('no host C compiler (gcc)')
    return build_runtimes(HOST_CONFIGS, jobs=2)


@pytest.fixture(params=HOST_CONFIGS, ids=CONFIG_IDS)
def runtime(request, runtimes) -> Runtime:
    config: BuildConfig = request.param
    return runtimes[config.name]
