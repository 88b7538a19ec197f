"""Classification datasets: annotation lists, class folders, ImageNet and VWW layouts, the synthetic set."""
import numpy as np
import pytest
from PIL import Image

from mcudet.datasets import CustomDataset, ImageNet, VisualWakeWords, generate_synthetic_cls
from mcudet.datasets.classification import render_person_image
from mcudet.datasets.report import AnnotationError
from mcudet.registry import DATASETS


def write_png(path, value=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((8, 8, 3), value, dtype=np.uint8)).save(path)


def test_vww_split_reads_the_synthetic_layout(tiny_vww):
    ds = VisualWakeWords(data_root=str(tiny_vww), split='train')
    assert len(ds) == 8 and ds.metainfo['classes'] == ('no_person', 'person')
    assert ds.ann_file.endswith('meta/train.txt')
    first = ds[0]
    assert first['img_path'].endswith('images/train/000001.png') and first['gt_label'] == 0
    assert ds.get_gt_labels().tolist() == [0, 1] * 4 and ds.get_cat_ids(1) == [1]
    val = DATASETS.build(dict(type='VisualWakeWords', data_root=str(tiny_vww), split='val',
                              pipeline=[dict(type='LoadImageFromFile'), dict(type='PackInputs')]))
    sample = val[1]
    assert sample['inputs'].shape == (3, 48, 48) and sample['data_samples'].gt_label.tolist() == [1]


def test_class_folders_sorted_or_in_the_given_order(tmp_path):
    for cls, n in (('cat', 2), ('dog', 1)):
        for i in range(n):
            write_png(tmp_path / 'train' / cls / f'{i}.PNG')
    (tmp_path / 'train' / 'dog' / 'notes.txt').write_text('not an image')
    ds = ImageNet(data_root=str(tmp_path), split='train')
    assert ds.metainfo['classes'] == ('cat', 'dog') and ds.get_gt_labels().tolist() == [0, 0, 1]
    ordered = CustomDataset(data_root=str(tmp_path), data_prefix='train', classes=['dog', 'bird', 'cat'])
    assert ordered.get_gt_labels().tolist() == [2, 2, 0]
    with pytest.raises(AnnotationError, match=r"folders \['dog'\] are not among the classes"):
        CustomDataset(data_root=str(tmp_path), data_prefix='train', classes=['cat'])


def test_annotation_list_with_classes_file(tmp_path):
    (tmp_path / 'meta').mkdir()
    (tmp_path / 'meta' / 'val.txt').write_text('a/x.jpg 1\n\nb c/y.jpg 0\n')
    (tmp_path / 'meta' / 'classes.txt').write_text('zero\none\n')
    ds = ImageNet(data_root=str(tmp_path), split='val', classes='meta/classes.txt')
    assert [d['img_path'] for d in ds] == [str(tmp_path / 'val' / 'a/x.jpg'),
                                           str(tmp_path / 'val' / 'b c/y.jpg')]
    assert ds.get_gt_labels().tolist() == [1, 0] and ds.CLASSES == ('zero', 'one')
    paths_only = CustomDataset(data_root=str(tmp_path), ann_file='meta/classes.txt', with_label=False)
    assert 'gt_label' not in paths_only[0]


@pytest.mark.parametrize('line,match', [('a.jpg', r'val.txt:1: expected'), ('a.jpg x', 'expected'),
                                        ('a.jpg 2', 'label 2 is outside the 2 classes')])
def test_bad_annotation_lines_name_file_and_line(tmp_path, line, match):
    (tmp_path / 'val.txt').write_text(line + '\n')
    with pytest.raises(AnnotationError, match=match):
        VisualWakeWords(data_root=str(tmp_path), ann_file='val.txt')


def test_missing_folders_and_splits_are_reported(tmp_path):
    with pytest.raises(FileNotFoundError, match='does not exist'):
        CustomDataset(data_root=str(tmp_path), data_prefix='nowhere')
    (tmp_path / 'empty').mkdir()
    with pytest.raises(AnnotationError, match='no class sub-folders'):
        CustomDataset(data_root=str(tmp_path), data_prefix='empty')
    with pytest.raises(ValueError, match="split='minival'"):
        VisualWakeWords(data_root=str(tmp_path), split='minival')


def test_synthetic_set_is_reproducible_balanced_and_refuses_to_overwrite(tmp_path, tiny_vww):
    again = tmp_path / 'again'
    summary = generate_synthetic_cls(str(again), num_train=8, num_val=4, img_size=48, seed=1)
    assert summary.images == {'train': 8, 'val': 4} and summary.objects == {'no_person': 6, 'person': 6}
    for rel in ('train/000003.png', 'val/000010.png'):
        assert (again / 'images' / rel).read_bytes() == (tiny_vww / 'images' / rel).read_bytes()
    assert (again / 'meta' / 'classes.txt').read_text() == 'no_person\nperson\n'
    with pytest.raises(FileExistsError, match='overwrite'):
        generate_synthetic_cls(str(again), num_train=2, num_val=0, img_size=48)
    # The figure changes the image; the background and distractors are the same for both labels.
    a, b = render_person_image(0, 5, 0, 64), render_person_image(0, 5, 1, 64)
    assert a.shape == (64, 64, 3) and 0.03 < (np.abs(a.astype(int) - b).sum(-1) > 30).mean() < 0.6
