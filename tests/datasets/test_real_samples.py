"""The real VOC and WIDER FACE samples in ../shared load through mmdet's own datasets (and ours).

Expected boxes are read from the XML files here, independently of the dataset code.
"""
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from mmdet.datasets import VOCDataset, WIDERFaceDataset

from mcudet.datasets import MCUVOCDataset

VOC_CLASSES = VOCDataset.METAINFO['classes']


def _xml_objects(path):
    root = ET.parse(path).getroot()
    size = root.find('size')
    corners = ('xmin', 'ymin', 'xmax', 'ymax')
    objs = [(o.findtext('name'), [int(o.find('bndbox').findtext(t)) for t in corners])
            for o in root.findall('object')]
    return int(size.find('width').text), int(size.find('height').text), objs


@pytest.mark.parametrize('year', ['VOC2007', 'VOC2012'])
@pytest.mark.parametrize('cls', [VOCDataset, MCUVOCDataset])
def test_real_voc_sample(shared, year, cls):
    root = shared / 'data' / 'voc_sample' / 'VOCdevkit'
    ds = cls(data_root=str(root), ann_file=f'{year}/ImageSets/Main/trainval.txt',
             data_prefix=dict(sub_data_root=f'{year}/'), pipeline=[])
    assert len(ds) == 1 and ds.metainfo['dataset_type'] == year
    info = ds[0]
    width, height, objs = _xml_objects(root / year / 'Annotations' / '000001.xml')
    assert (info['width'], info['height']) == (width, height)
    assert info['img_path'] == str(root / year / 'JPEGImages' / '000001.jpg')
    # mmdet's VOC convention: 1-based XML corners minus one.
    assert [i['bbox'] for i in info['instances']] == [[v - 1 for v in box] for _, box in objs]
    assert [i['bbox_label'] for i in info['instances']] == [VOC_CLASSES.index(n) for n, _ in objs]
    assert all(i['ignore_flag'] == 0 for i in info['instances'])


def test_real_voc_sample_through_the_pipeline(shared):
    root = shared / 'data' / 'voc_sample' / 'VOCdevkit'
    pipeline = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', with_bbox=True)]
    ds = MCUVOCDataset(data_root=str(root), ann_file='VOC2007/ImageSets/Main/trainval.txt',
                       data_prefix=dict(sub_data_root='VOC2007/'), pipeline=pipeline)
    out = ds[0]
    assert out['img'].shape == (500, 353, 3)
    np.testing.assert_array_equal(out['gt_bboxes'].tensor.numpy(), [[47, 239, 194, 370], [7, 11, 351, 497]])
    assert out['gt_bboxes_labels'].tolist() == [VOC_CLASSES.index('dog'), VOC_CLASSES.index('person')]


def test_real_wider_sample_through_mmdet_widerfacedataset(shared):
    root = shared / 'data' / 'wider_sample' / 'WIDERFace'
    pipeline = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', with_bbox=True)]
    ds = WIDERFaceDataset(data_root=str(root), ann_file='train.txt', data_prefix=dict(img='WIDER_train'),
                          pipeline=pipeline)
    assert len(ds) == 1
    info = ds.get_data_info(0)
    width, height, objs = _xml_objects(root / 'WIDER_train' / 'Annotations' / '0_Parade_marchingband_1_5.xml')
    assert (info['width'], info['height']) == (width, height) == (1024, 683)
    assert info['img_path'] == str(root / 'WIDER_train' / '0--Parade' / '0_Parade_marchingband_1_5.jpg')
    assert len(info['instances']) == 10
    # WIDERFaceDataset keeps the XML corners (minus_one=False).
    assert [i['bbox'] for i in info['instances']] == [box for _, box in objs]
    assert {i['bbox_label'] for i in info['instances']} == {0}
    out = ds[0]
    assert out['img'].shape == (683, 1024, 3) and len(out['gt_bboxes']) == 10
