"""The synthetic generators: determinism, the VOC and WIDER FACE layouts, and loading them."""
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from mmdet.datasets import VOCDataset
from PIL import Image
from scipy.io import loadmat

from mcudet.datasets import (
    SHAPE_CLASSES,
    MCUVOCDataset,
    WIDERFaceTxtDataset,
    generate_synthetic_voc,
    read_bbx_gt,
    render_faces_image,
    render_shapes_image,
    setting_keep,
)
from mcudet.datasets.synthetic_faces import EVENTS
from tests.conftest import run_tool
from tests.datasets.helpers import VOC_TEST, VOC_TRAINVAL, WIDER_TRAIN, WIDER_VAL, load_tool


def test_shapes_are_deterministic_and_independent_of_the_set_size():
    img_a, objs_a = render_shapes_image(7, 3)
    img_b, objs_b = render_shapes_image(7, 3)
    np.testing.assert_array_equal(img_a, img_b)
    assert objs_a == objs_b
    img_c, _ = render_shapes_image(8, 3)
    assert not np.array_equal(img_a, img_c)


def test_shape_boxes_are_the_extent_of_the_visible_pixels():
    for index in range(20):
        img, objs, owner = render_shapes_image(0, index, (192, 128), max_objects=5, return_owner=True)
        assert img.shape == (128, 192, 3) and img.dtype == np.uint8
        assert 1 <= len(objs) <= 5 and set(np.unique(owner)) <= set(range(-1, len(objs)))
        for k, obj in enumerate(objs):
            rows, cols = np.nonzero(owner == k)
            # VOC: 1-based inclusive corners of the visible pixels.
            assert obj.bbox == (cols.min() + 1, rows.min() + 1, cols.max() + 1, rows.max() + 1)
            assert obj.name in SHAPE_CLASSES and obj.difficult == 0
            assert min(obj.bbox[2] - obj.bbox[0], obj.bbox[3] - obj.bbox[1]) + 1 >= 4
            if obj.truncated:
                x1, y1, x2, y2 = obj.bbox
                assert x1 == 1 or y1 == 1 or x2 == 192 or y2 == 128


def test_voc_layout_and_xml(synthetic_voc):
    root = synthetic_voc.root / 'VOCdevkit' / 'VOC2007'
    sets = root / 'ImageSets' / 'Main'
    trainval = sets.joinpath('trainval.txt').read_text().split()
    test = sets.joinpath('test.txt').read_text().split()
    assert trainval == [f'{i:06d}' for i in range(1, VOC_TRAINVAL + 1)]
    assert test == [f'{i:06d}' for i in range(VOC_TRAINVAL + 1, VOC_TRAINVAL + VOC_TEST + 1)]
    for index, img_id in enumerate(trainval + test):
        with Image.open(root / 'JPEGImages' / f'{img_id}.jpg') as img:
            assert img.size == (synthetic_voc.img_size,) * 2 and img.mode == 'RGB'
        xml = ET.parse(root / 'Annotations' / f'{img_id}.xml').getroot()
        assert xml.findtext('filename') == f'{img_id}.jpg' and xml.findtext('folder') == 'VOC2007'
        assert [xml.find('size').findtext(t) for t in ('width', 'height', 'depth')] == ['160', '160', '3']
        _, objs = render_shapes_image(synthetic_voc.seed, index, synthetic_voc.img_size)
        corners = ('xmin', 'ymin', 'xmax', 'ymax')
        got = [(o.findtext('name'), tuple(int(o.find('bndbox').findtext(t)) for t in corners),
                int(o.findtext('truncated')), int(o.findtext('difficult'))) for o in xml.findall('object')]
        assert got == [(o.name, o.bbox, o.truncated, 0) for o in objs]
    assert not list(root.rglob('*.tmp')), 'atomic writes left temporary files'


@pytest.mark.parametrize('cls', [VOCDataset, MCUVOCDataset])
def test_synthetic_voc_loads_with_the_exact_generated_boxes(synthetic_voc, cls):
    ds = cls(data_root=str(synthetic_voc.root / 'VOCdevkit'), ann_file='VOC2007/ImageSets/Main/trainval.txt',
             data_prefix=dict(sub_data_root='VOC2007/'), metainfo=dict(classes=SHAPE_CLASSES), pipeline=[])
    assert len(ds) == VOC_TRAINVAL
    # mmdet's VOCMetric would print VOC class names in its table for 'VOC2007'.
    assert ds.metainfo['dataset_type'] == ('VOC2007' if cls is VOCDataset else None)
    for index in range(len(ds)):
        _, objs = render_shapes_image(synthetic_voc.seed, index, synthetic_voc.img_size)
        info = ds[index]
        assert [i['bbox'] for i in info['instances']] == [[v - 1 for v in o.bbox] for o in objs]
        assert [i['bbox_label'] for i in info['instances']] == [SHAPE_CLASSES.index(o.name) for o in objs]


def test_growing_a_set_keeps_its_first_images(tmp_path):
    generate_synthetic_voc(str(tmp_path / 'a'), 2, 0, 64, seed=5)
    generate_synthetic_voc(str(tmp_path / 'b'), 3, 1, 64, seed=5)
    for img_id in ('000001', '000002'):
        for sub, ext in (('JPEGImages', 'jpg'), ('Annotations', 'xml')):
            a = tmp_path / 'a' / 'VOCdevkit' / 'VOC2007' / sub / f'{img_id}.{ext}'
            b = tmp_path / 'b' / 'VOCdevkit' / 'VOC2007' / sub / f'{img_id}.{ext}'
            assert a.read_bytes() == b.read_bytes()
    with pytest.raises(FileExistsError, match='overwrite'):
        generate_synthetic_voc(str(tmp_path / 'a'), 2, 0, 64, seed=5)


def test_wider_layout_txt_and_mats(synthetic_wider):
    root = synthetic_wider.root
    for split, count in (('train', WIDER_TRAIN), ('val', WIDER_VAL)):
        anns = read_bbx_gt(str(root / 'wider_face_split' / f'wider_face_{split}_bbx_gt.txt'))
        assert len(anns) == count
        for ann in anns:
            index = int(ann.name.rsplit('_', 1)[1])
            assert ann.event == EVENTS[index % len(EVENTS)]
            assert (root / f'WIDER_{split}' / 'images' / ann.path).is_file()
            _, boxes = render_faces_image(synthetic_wider.seed, split, index, synthetic_wider.img_size)
            assert ann.boxes == boxes
    text = (root / 'wider_face_split' / 'wider_face_val_bbx_gt.txt').read_text().splitlines()
    zero = [i for i, line in enumerate(text) if line == '0']
    assert zero, 'the fixture set should contain an image without faces'
    assert all(text[i + 1] == '0 0 0 0 0 0 0 0 0 0 ' for i in zero)  # the official quirk

    # The official Python evaluation's indexing, verbatim, on the files we wrote.
    gt_dir = root / 'ground_truth'
    face = loadmat(str(gt_dir / 'wider_face_val.mat'))
    assert {'event_list', 'file_list', 'face_bbx_list', 'blur_label_list', 'expression_label_list',
            'illumination_label_list', 'invalid_label_list', 'occlusion_label_list',
            'pose_label_list'} <= set(face)
    by_name = {ann.name: ann for ann in anns}
    seen = 0
    for setting in ('easy', 'medium', 'hard'):
        gt_list = loadmat(str(gt_dir / f'wider_{setting}_val.mat'))['gt_list']
        for i in range(len(face['event_list'])):
            event_name = str(face['event_list'][i][0][0])
            img_list = face['file_list'][i][0]
            for j in range(len(img_list)):
                ann = by_name[str(img_list[j][0][0])]
                assert ann.event == event_name
                gt_boxes = face['face_bbx_list'][i][0][j][0].astype('float')
                expected = [[b.x, b.y, b.w, b.h] for b in ann.boxes] or np.zeros((0, 4))
                np.testing.assert_array_equal(gt_boxes.reshape(-1, 4), expected)
                keep_index = gt_list[i][0][j][0]
                np.testing.assert_array_equal(np.asarray(keep_index).ravel() - 1,
                                              setting_keep(ann.boxes)[setting])
                blur = face['blur_label_list'][i][0][j][0].ravel()
                assert blur.tolist() == [b.blur for b in ann.boxes]
                seen += 1
    assert seen == 3 * WIDER_VAL


def test_setting_keep_nests_easy_in_medium_in_hard():
    for index in range(30):
        _, boxes = render_faces_image(1, 'train', index)
        keep = {k: set(v.tolist()) for k, v in setting_keep(boxes).items()}
        assert keep['easy'] <= keep['medium'] <= keep['hard']
        assert keep['hard'] == {i for i, b in enumerate(boxes) if not b.invalid}


def test_wider_txt_dataset_on_the_generated_set(synthetic_wider):
    root = synthetic_wider.root
    ds = WIDERFaceTxtDataset(data_root=str(root), ann_file='wider_face_split/wider_face_val_bbx_gt.txt',
                             data_prefix=dict(img='WIDER_val/images/'), test_mode=True, pipeline=[])
    anns = read_bbx_gt(str(root / 'wider_face_split' / 'wider_face_val_bbx_gt.txt'))
    assert len(ds) == len(anns) == WIDER_VAL and ds.metainfo['classes'] == ('face',)
    for index, ann in enumerate(anns):
        info = ds[index]
        assert info['img_path'] == str(root / 'WIDER_val' / 'images' / ann.path)
        assert (info['width'], info['height']) == (synthetic_wider.img_size,) * 2
        assert info['img_id'] == ann.path[:-4] and info['event'] == ann.event
        assert [i['bbox'] for i in info['instances']] == [list(map(float, b.xyxy)) for b in ann.boxes]
        assert [i['ignore_flag'] for i in info['instances']] == [b.invalid for b in ann.boxes]
        assert [i['blur'] for i in info['instances']] == [b.blur for b in ann.boxes]
        assert [i['ann_line'] for i in info['instances']] == [b.line for b in ann.boxes]
    # Training drops the images without faces when asked to.
    train = WIDERFaceTxtDataset(data_root=str(root), ann_file='wider_face_split/wider_face_val_bbx_gt.txt',
                                data_prefix=dict(img='WIDER_val/images/'),
                                filter_cfg=dict(filter_empty_gt=True), pipeline=[])
    assert len(train) == sum(1 for a in anns if a.boxes) < len(anns)


def test_wider_txt_dataset_runs_the_training_pipeline(synthetic_wider):
    pipeline = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', with_bbox=True),
                dict(type='Resize', scale=(128, 128), keep_ratio=True), dict(type='PackDetInputs')]
    ds = WIDERFaceTxtDataset(data_root=str(synthetic_wider.root),
                             ann_file='wider_face_split/wider_face_train_bbx_gt.txt',
                             data_prefix=dict(img='WIDER_train/images/'),
                             filter_cfg=dict(filter_empty_gt=True), pipeline=pipeline)
    item = ds[0]
    assert tuple(item['inputs'].shape) == (3, 128, 128)
    n = len(ds.get_data_info(0)['instances'])
    assert len(item['data_samples'].gt_instances) + len(item['data_samples'].ignored_instances) == n


def test_make_synthetic_tool(tmp_path, capsys):
    # Once as a script (the command line works from a checkout) ...
    proc = run_tool(['python', 'tools/dataset_converters/make_synthetic.py', 'voc', str(tmp_path / 'v'),
                     '--num-trainval', '2', '--num-test', '1', '--img-size', '96', '--seed', '4'])
    assert 'trainval: 2 images' in proc.stdout
    assert (tmp_path / 'v' / 'VOCdevkit' / 'VOC2007' / 'Annotations' / '000003.xml').is_file()
    # ... then in-process (no second interpreter start-up).
    tool = load_tool('tools/dataset_converters/make_synthetic.py')
    assert tool.main(['wider', str(tmp_path / 'w'), '--num-train', '1', '--num-val', '2',
                      '--img-size', '96', '64']) == 0
    assert 'WIDER_val: 2 images' in capsys.readouterr().out
    assert (tmp_path / 'w' / 'ground_truth' / 'wider_hard_val.mat').is_file()
    with Image.open(next((tmp_path / 'w' / 'WIDER_val' / 'images').rglob('*.jpg'))) as img:
        assert img.size == (96, 64)
    with pytest.raises(SystemExit, match='already holds a set; pass overwrite'):
        tool.main(['wider', str(tmp_path / 'w')])
    with pytest.raises(SystemExit, match='--img-size 1 2 3: give N or WIDTH HEIGHT'):
        tool.main(['voc', str(tmp_path / 'x'), '--img-size', '1', '2', '3'])
