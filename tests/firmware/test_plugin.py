"""Locating the QEMU plugin header (mcudet.deploy.qemu_plugin): a header fetched for another QEMU
version, or a wrong $MCUDET_QEMU_PLUGIN_H, makes the plugin unavailable with a reason to act on."""
from __future__ import annotations

from pathlib import Path

import pytest

import mcudet.deploy.qemu_plugin as qp


def test_env_override_must_exist(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv('MCUDET_QEMU_PLUGIN_H', str(tmp_path / 'nowhere'))
    header, why = qp.find_header()
    assert header is None and 'MCUDET_QEMU_PLUGIN_H=' in why
    (tmp_path / 'qemu-plugin.h').write_text('#define QEMU_PLUGIN_VERSION 1\n')
    monkeypatch.setenv('MCUDET_QEMU_PLUGIN_H', str(tmp_path))
    assert qp.find_header() == (tmp_path / 'qemu-plugin.h', '')


def test_header_of_another_qemu_is_refused(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.delenv('MCUDET_QEMU_PLUGIN_H', raising=False)
    monkeypatch.setattr(qp, 'HEADER_DIR', tmp_path)
    monkeypatch.setattr(qp, 'qemu_version', lambda: 'QEMU emulator version 9.9.9')
    (tmp_path / 'qemu-plugin.h').write_text('#define QEMU_PLUGIN_VERSION 1\n')
    (tmp_path / 'qemu-version.txt').write_text('QEMU emulator version 7.2.22\n')
    header, why = qp.find_header()
    assert header is None and "is from 'QEMU emulator version 7.2.22'" in why
    assert 'rerun tools/install.sh' in why
    (tmp_path / 'qemu-version.txt').write_text('QEMU emulator version 9.9.9\n')
    assert qp.find_header() == (tmp_path / 'qemu-plugin.h', '')


def test_missing_header_says_how_to_get_it(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.delenv('MCUDET_QEMU_PLUGIN_H', raising=False)
    monkeypatch.setattr(qp, 'HEADER_DIR', tmp_path)
    if Path('/usr/include/qemu/qemu-plugin.h').is_file():
        pytest.skip('the system has a qemu-plugin.h')
    header, why = qp.find_header()
    assert header is None and 'tools/install.sh' in why and 'source package' in why
