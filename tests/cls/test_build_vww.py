"""tools/dataset_converters/build_vww.py on a small COCO-format JSON written here."""
import importlib.util
import json
import sys

import numpy as np
import pytest
from PIL import Image

from mcudet.datasets import VisualWakeWords
from tests.conftest import REPO, run_tool

TOOL = REPO / 'tools' / 'dataset_converters' / 'build_vww.py'
CATS = [dict(id=1, name='person', supercategory='person'), dict(id=18, name='dog', supercategory='animal')]


def load_tool():
    spec = importlib.util.spec_from_file_location('build_vww', TOOL)
    module = importlib.util.module_from_spec(spec)
    sys.modules['build_vww'] = module  # its dataclass looks its module up
    spec.loader.exec_module(module)
    return module


def ann(i, image_id, cat, w, h, crowd=0):
    return dict(id=i, image_id=image_id, category_id=cat, bbox=[1.0, 2.0, w, h], area=w * h * 0.6,
                iscrowd=crowd, segmentation=[])


def write_coco(root):
    """train2014: ids 1-3; val2014: ids 10-13 (10 and 12 are minival). Images are 100 x 100 = 10000 px."""
    train_imgs = [dict(id=i, file_name=f'COCO_train2014_{i:012d}.jpg', width=100, height=100)
                  for i in (1, 2, 3)]
    val_imgs = [dict(id=i, file_name=f'COCO_val2014_{i:012d}.jpg', width=100, height=100)
                for i in (10, 11, 12, 13)]
    train_anns = [ann(1, 1, 1, 10, 5),    # person box of exactly 0.5 %: person
                  ann(2, 2, 1, 7, 7),     # 49 px < 50 px: too small, no person
                  ann(3, 2, 18, 90, 90),  # a big dog: no person
                  ann(4, 3, 1, 40, 40, crowd=1)]  # a crowd of people counts
    val_anns = [ann(5, 10, 1, 30, 60), ann(6, 12, 18, 20, 20), ann(7, 13, 1, 50, 2)]
    (root / 'annotations').mkdir(parents=True)
    for name, imgs, anns in (('train2014', train_imgs, train_anns), ('val2014', val_imgs, val_anns)):
        (root / 'annotations' / f'instances_{name}.json').write_text(json.dumps(
            dict(images=imgs, annotations=anns, categories=CATS)))
        for img in imgs:
            path = root / name / img['file_name']
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.full((100, 100, 3), img['id'], dtype=np.uint8)).save(path, format='JPEG')
    (root / 'minival_ids.txt').write_text('10\n12\n999\n')


@pytest.fixture
def coco(tmp_path):
    root = tmp_path / 'coco'
    write_coco(root)
    return root


def lines(path):
    return path.read_text().splitlines()


def test_standard_split_labels_and_layout(coco, tmp_path, capsys):
    out = tmp_path / 'vww'
    assert load_tool().main([str(coco), str(out), '--minival-ids', str(coco / 'minival_ids.txt')]) == 0
    assert lines(out / 'meta' / 'train.txt') == [
        'train2014/COCO_train2014_000000000001.jpg 1', 'train2014/COCO_train2014_000000000002.jpg 0',
        'train2014/COCO_train2014_000000000003.jpg 1', 'val2014/COCO_val2014_000000000011.jpg 0',
        'val2014/COCO_val2014_000000000013.jpg 1']
    assert lines(out / 'meta' / 'val.txt') == ['val2014/COCO_val2014_000000000010.jpg 1',
                                               'val2014/COCO_val2014_000000000012.jpg 0']
    assert lines(out / 'meta' / 'classes.txt') == ['no_person', 'person']
    assert (out / 'images').is_symlink()
    printed = capsys.readouterr().out
    assert 'train: 5 images, 3 person, 2 no_person' in printed and '1 of the 3 minival ids' in printed
    ds = VisualWakeWords(data_root=str(out), split='val',
                         pipeline=[dict(type='LoadImageFromFile'), dict(type='PackInputs')])
    sample = ds[0]
    assert sample['inputs'].shape == (3, 100, 100) and sample['data_samples'].gt_label.tolist() == [1]


def test_without_minival_ids_the_val_json_is_the_val_set_and_images_can_be_copied(coco, tmp_path):
    out = tmp_path / 'vww'
    proc = run_tool(['python', str(TOOL), str(coco), str(out), '--images', 'copy', '--threshold', '0.1'])
    assert 'not the standard minival split' in proc.stdout
    assert len(lines(out / 'meta' / 'train.txt')) == 3 and len(lines(out / 'meta' / 'val.txt')) == 4
    # threshold 10 %: only the 40 x 40 crowd (16 %) and the 30 x 60 box (18 %) are persons
    assert [ln[-1] for ln in lines(out / 'meta' / 'train.txt')] == ['0', '0', '1']
    assert [ln[-1] for ln in lines(out / 'meta' / 'val.txt')] == ['1', '0', '0', '0']
    assert not (out / 'images').is_symlink()
    assert (out / 'images' / 'val2014' / 'COCO_val2014_000000000013.jpg').is_file()
    with pytest.raises(AssertionError, match='--overwrite'):
        run_tool(['python', str(TOOL), str(coco), str(out)])


def test_errors_are_actionable(coco, tmp_path):
    tool = load_tool()
    with pytest.raises(SystemExit, match="no category named 'cat'"):
        tool.main([str(coco), str(tmp_path / 'a'), '--foreground-class', 'cat'])
    with pytest.raises(SystemExit, match='appears twice'):
        tool.main([str(coco), str(tmp_path / 'b'), '--val-ann', 'annotations/instances_train2014.json'])
    with pytest.raises(SystemExit, match='no such annotation file'):
        tool.main([str(coco), str(tmp_path / 'c'), '--train-ann', 'missing.json'])
    assert tool.image_folder('COCO_val2014_000000000042.jpg', 'x') == 'val2014/COCO_val2014_000000000042.jpg'
    assert tool.image_folder('000000000042.jpg', 'val2017') == 'val2017/000000000042.jpg'
