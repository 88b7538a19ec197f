"""mcudet.patch needs no training stack: the C generator and analysis tools use it without torch."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_import_patch_does_not_import_torch() -> None:
    heavy = ('torch', 'mmengine', 'mmdet', 'mmcv')
    code = ('import sys, mcudet.patch, mcudet.patch.receptive, mcudet.patch.plan, mcudet.patch.memory, '
            'mcudet.patch.search; '
            f'bad = sorted(m for m in sys.modules if m.split(".")[0] in {heavy!r}); '
            'assert not bad, bad')
    result = subprocess.run([sys.executable, '-c', code], cwd=REPO_ROOT, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, f'importing mcudet.patch pulled in heavy modules:\n{result.stderr}'
