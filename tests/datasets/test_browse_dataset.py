"""tools/analysis_tools/browse_dataset.py draws the training pipeline's ground truth."""
import numpy as np
import pytest
from PIL import Image

from mcudet.datasets import render_shapes_image
from tests.conftest import REPO, run_tool
from tests.datasets.helpers import load_tool

CONFIG = str(REPO / 'tests/data/configs/synthetic_voc_browse.py')


def _edge_change(drawing: np.ndarray, source: np.ndarray, box) -> float:
    """Median colour change along the outline of ``box`` (0-based inclusive corners)."""
    x1, y1, x2, y2 = box
    diff = np.abs(drawing.astype(int) - source.astype(int)).sum(-1)
    edge = np.concatenate([diff[y1, x1:x2 + 1], diff[y2, x1:x2 + 1],
                           diff[y1:y2 + 1, x1], diff[y1:y2 + 1, x2]])
    return float(np.median(edge))


def test_browse_synthetic_voc(synthetic_voc, tmp_path):
    out = tmp_path / 'browse'
    run_tool(['python', 'tools/analysis_tools/browse_dataset.py', CONFIG, '--output-dir', str(out),
              '--not-show', '--max-images', '3', '--cfg-options',
              f'train_dataloader.dataset.data_root={synthetic_voc.root / "VOCdevkit"}/'])
    drawn = sorted(p.name for p in out.iterdir())
    assert len(drawn) == 3
    for name in drawn:
        with Image.open(out / name) as img:
            drawing = np.asarray(img)
        source, objs = render_shapes_image(synthetic_voc.seed, int(name[:6]) - 1, synthetic_voc.img_size)
        assert drawing.shape == source.shape  # the pipeline keeps 160 px
        # RandomFlip may have flipped it: compare with whichever source it is.
        drawing_int = drawing.astype(int)
        flipped = np.abs(drawing_int - source[:, ::-1]).mean() < np.abs(drawing_int - source).mean()
        width = source.shape[1]
        for obj in objs:
            x1, y1, x2, y2 = (v - 1 for v in obj.bbox)
            if flipped:
                x1, x2 = width - 1 - x2, width - 1 - x1
            assert _edge_change(drawing, source[:, ::-1] if flipped else source, (x1, y1, x2, y2)) > 60, \
                f'{name}: no box drawn around {obj}'


def test_not_show_needs_an_output_dir():
    tool = load_tool('tools/analysis_tools/browse_dataset.py')
    with pytest.raises(SystemExit, match='add --output-dir'):
        tool.main([CONFIG, '--not-show'])
