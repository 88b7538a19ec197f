"""The instruction-counting QEMU plugin (``deploy/boards/qemu/insn_count.c``): find its header,
build it, and say why it is unavailable.

QEMU counts instructions, not cycles (it has no timing model). The plugin gives exact,
repeatable counts between the firmware's two marker functions. It needs ``qemu-plugin.h`` of the
installed QEMU's version, which Debian ships only in the qemu *source* package;
``tools/install.sh`` (``install_qemu_plugin_header``) fetches it with ``apt-get source
--download-only qemu=<installed version>`` into :data:`HEADER_DIR` and writes the QEMU version
it matches to ``qemu-version.txt`` beside it. Without the header, runs fall back to
``-icount shift=0`` and SysTick (about +-40 instructions on the MPS2 machines), see
:mod:`mcudet.deploy.firmware`.

Header search order: ``$MCUDET_QEMU_PLUGIN_H`` (the file or its folder), :data:`HEADER_DIR`,
``/usr/include/qemu/qemu-plugin.h``. The plugin is compiled once with the host C compiler
into ``work_dirs/cbuild/qemu-plugin-<hash>/`` (keyed by its source, the header and the compiler).
"""
from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Optional

from .cbuild import DEFAULT_BUILD_DIR, REPO, CBuildError, _compile, _compiler_version, _digest

PLUGIN_SOURCE = REPO / 'deploy' / 'boards' / 'qemu' / 'insn_count.c'
HEADER_DIR = Path(sys.prefix) / 'share' / 'mcudet' / 'qemu-plugin'
PLUGIN_FLAGS = ('-std=c11', '-O2', '-Wall', '-Wextra', '-Werror', '-pedantic', '-fPIC', '-shared')
QEMU = 'qemu-system-arm'


def qemu_version() -> Optional[str]:
    """First line of ``qemu-system-arm --version``, or None when QEMU is not installed."""
    if shutil.which(QEMU) is None:
        return None
    proc = subprocess.run([QEMU, '--version'], capture_output=True, text=True)
    return proc.stdout.splitlines()[0].strip() if proc.returncode == 0 and proc.stdout else None


def find_header() -> tuple[Optional[Path], str]:
    """``(path of qemu-plugin.h, '')`` or ``(None, why not)``."""
    env = os.environ.get('MCUDET_QEMU_PLUGIN_H')
    if env:
        p = Path(env)
        p = p / 'qemu-plugin.h' if p.is_dir() else p
        return (p, '') if p.is_file() else (None, f'MCUDET_QEMU_PLUGIN_H={env} holds no qemu-plugin.h')
    local = HEADER_DIR / 'qemu-plugin.h'
    if local.is_file():
        stamp = HEADER_DIR / 'qemu-version.txt'
        have, want = (stamp.read_text().strip() if stamp.is_file() else '?'), qemu_version()
        if want is not None and have != want:
            return None, (f'{local} is from {have!r} but {QEMU} is {want!r}: rerun tools/install.sh to '
                          f'fetch the matching header')
        return local, ''
    system = Path('/usr/include/qemu/qemu-plugin.h')
    if system.is_file():
        return system, ''
    return None, (f'no qemu-plugin.h (Debian ships it only in the qemu source package): run '
                  f'tools/install.sh, which fetches it into {HEADER_DIR}, or set MCUDET_QEMU_PLUGIN_H')


@functools.cache
def _build(header: Path, cc: str) -> Path:
    key = _digest([PLUGIN_SOURCE, header], [*PLUGIN_FLAGS, _compiler_version(cc)])
    out = DEFAULT_BUILD_DIR / f'qemu-plugin-{key}'
    lib = out / 'libinsn_count.so'
    if lib.is_file():
        return lib
    DEFAULT_BUILD_DIR.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix='.qemu-plugin-', dir=DEFAULT_BUILD_DIR))
    try:
        _compile([cc, *PLUGIN_FLAGS, '-I', str(header.parent), str(PLUGIN_SOURCE), '-o', str(tmp / lib.name)],
                 tmp)
        try:
            tmp.rename(out)
        except OSError:  # built concurrently by another process
            if not lib.is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return lib


def plugin_library(cc: str = 'gcc') -> tuple[Optional[Path], str]:
    """``(path of libinsn_count.so, '')``, built on first use, or ``(None, why it is unavailable)``."""
    if shutil.which(QEMU) is None:
        return None, f'{QEMU} is not installed'
    header, why = find_header()
    if header is None:
        return None, why
    if shutil.which(cc) is None:
        return None, f'no host C compiler {cc!r} to build the QEMU plugin'
    try:
        return _build(header, cc), ''
    except CBuildError as e:
        return None, f'building the QEMU plugin against {header} failed: {e}'


__all__ = ['HEADER_DIR', 'PLUGIN_SOURCE', 'find_header', 'plugin_library', 'qemu_version']
