"""MCUVOCDataset: every broken-annotation case gives an error or a warning naming the file and the
line or object, where mmdet's VOCDataset crashes with a bare parser error or stays silent."""
import warnings
import xml.etree.ElementTree as ET

import pytest
from mmdet.datasets import VOCDataset
from PIL import Image

from mcudet.datasets import SHAPE_CLASSES, AnnotationError, AnnotationWarning, MCUVOCDataset, ShapeObject
from mcudet.datasets.synthetic import voc_xml


def _voc(tmp_path, xmls: dict[str, str], images=None, size=(64, 48), ids=None):
    """A VOC2007 folder with the given XML texts and grey JPEGs (for ``images``, default all ids)."""
    root = tmp_path / 'VOCdevkit' / 'VOC2007'
    for sub in ('Annotations', 'JPEGImages', 'ImageSets/Main'):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for img_id, text in xmls.items():
        (root / 'Annotations' / f'{img_id}.xml').write_text(text)
    for img_id in (xmls if images is None else images):
        Image.new('RGB', size, (100, 100, 100)).save(root / 'JPEGImages' / f'{img_id}.jpg')
    (root / 'ImageSets' / 'Main' / 'trainval.txt').write_text(''.join(f'{i}\n' for i in (ids or xmls)))
    return tmp_path / 'VOCdevkit'


def _ds(data_root, cls=MCUVOCDataset, **kwargs):
    kwargs.setdefault('metainfo', dict(classes=SHAPE_CLASSES))
    return cls(data_root=str(data_root), ann_file='VOC2007/ImageSets/Main/trainval.txt',
               data_prefix=dict(sub_data_root='VOC2007/'), pipeline=[], **kwargs)


def _xml(*objects, width=64, height=48) -> str:
    return voc_xml('x.jpg', width, height, [ShapeObject(n, b) for n, b in objects])


GOOD = _xml(('circle', (5, 6, 20, 30)))


def test_valid_set_matches_mmdet(tmp_path):
    two = _xml(('cross', (1, 1, 64, 48)), ('square', (3, 3, 9, 9)))
    root = _voc(tmp_path, {'000001': GOOD, '000002': two})
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        ours = _ds(root)
    theirs = _ds(root, cls=VOCDataset)
    for a, b in zip(ours, theirs):
        assert {k: a[k] for k in b} == b


def test_corrupt_xml_names_file_line_and_column(tmp_path):
    root = _voc(tmp_path, {'000001': GOOD, '000002': GOOD[:200]})
    with pytest.raises(ET.ParseError):  # what mmdet says: no file name
        _ds(root, cls=VOCDataset)
    with pytest.raises(AnnotationError, match=r'Annotations/000002\.xml:\d+:\d+: malformed XML'):
        _ds(root)


def test_empty_xml_file(tmp_path):
    root = _voc(tmp_path, {'000001': GOOD, '000002': ''})
    with pytest.raises(AnnotationError, match=r"000002\.xml: the annotation file is empty .*trainval\.txt:2"):
        _ds(root)


def test_missing_xml_names_the_image_set_line(tmp_path):
    root = _voc(tmp_path, {'000001': GOOD}, ids=['000001', '000007'])
    with pytest.raises(AnnotationError,
                       match=r"trainval\.txt:2: image '000007' has no annotation file .*000007\.xml"):
        _ds(root)


def test_empty_image_set_file(tmp_path):
    root = _voc(tmp_path, {'000001': GOOD})
    (root / 'VOC2007' / 'ImageSets' / 'Main' / 'trainval.txt').write_text('\n')
    with pytest.raises(AnnotationError, match=r'trainval\.txt: the image-set file is empty'):
        _ds(root)


def test_missing_image_error_or_skip(tmp_path):
    root = _voc(tmp_path, {'000001': GOOD, '000002': GOOD, '000003': GOOD}, images=['000001'])
    with pytest.raises(AnnotationError, match=r'2 of 3 images are missing .*000002\.jpg \(.*trainval\.txt:2'):
        _ds(root)
    with pytest.warns(AnnotationWarning, match=r'2 missing or unreadable images, left out: .*000003\.jpg'):
        ds = _ds(root, skip_missing_images=True)
    assert [d['img_id'] for d in ds] == ['000001']
    assert len(_ds(root, cls=VOCDataset)) == 3  # mmdet finds out in a data-loader worker, mid-epoch


def test_box_outside_the_image_is_clipped_with_a_warning(tmp_path):
    root = _voc(tmp_path, {'000001': _xml(('circle', (0, 5, 70, 30)), ('cross', (2, 2, 9, 9)))})
    with pytest.warns(AnnotationWarning, match=r'1 boxes outside their image, clipped: .*000001\.xml: '
                                               r'object 1 \(circle\) \(0,5,70,30\) in 64x48'):
        ds = _ds(root)
    assert [i['bbox'] for i in ds[0]['instances']] == [[0, 4, 63, 29], [1, 1, 8, 8]]


def test_inverted_box_is_kept_as_ignored(tmp_path):
    root = _voc(tmp_path, {'000001': _xml(('square', (20, 5, 10, 30)), ('cross', (2, 2, 9, 9)))})
    with pytest.warns(AnnotationWarning, match=r'empty boxes .*000001\.xml: object 1 \(square\)'):
        ds = _ds(root)
    assert [i['ignore_flag'] for i in ds[0]['instances']] == [1, 0]


def test_unknown_class_warns_but_a_voc_class_outside_a_subset_is_silent(tmp_path):
    root = _voc(tmp_path, {'000001': _xml(('circel', (2, 2, 9, 9)), ('circle', (2, 2, 9, 9)),
                                          ('person', (2, 2, 9, 9)))})
    with pytest.warns(AnnotationWarning) as record:
        ds = _ds(root)
    assert len(record) == 1
    assert "1 objects of class 'circel'" in str(record[0].message)
    assert '000001.xml: object 1' in str(record[0].message)
    assert [i['bbox_label'] for i in ds[0]['instances']] == [SHAPE_CLASSES.index('circle')]


@pytest.mark.parametrize('old,new,expected', [
    ('<xmin>5</xmin>', '<xmin>five</xmin>',
     r"000001\.xml: object 1 \(circle\): <xmin> is 'five', not a number"),
    ('<name>circle</name>', '<name></name>', r'000001\.xml: object 1: no <name>'),
    ('<width>64</width>', '<width>wide</width>', r"000001\.xml: <size><width> is 'wide', not a number"),
    ('<difficult>0</difficult>', '<difficult>maybe</difficult>',
     r"object 1 \(circle\): <difficult> is 'maybe'"),
    ('<annotation>', '<annotations>', None),
])
def test_malformed_fields_name_the_object_and_field(tmp_path, old, new, expected):
    text = GOOD.replace(old, new)
    if old == '<annotation>':
        text = text.replace('</annotation>', '</annotations>')
        expected = r'000001\.xml: the root element is <annotations>'
    assert text != GOOD
    root = _voc(tmp_path, {'000001': text})
    with pytest.raises(AnnotationError, match=expected):
        _ds(root)


def test_missing_bndbox(tmp_path):
    text = GOOD[:GOOD.index('<bndbox>')] + GOOD[GOOD.index('</bndbox>') + len('</bndbox>'):]
    root = _voc(tmp_path, {'000001': text})
    with pytest.raises(AnnotationError, match=r'000001\.xml: object 1 \(circle\): no <bndbox>'):
        _ds(root)


def test_size_from_the_image_header(tmp_path):
    no_size = GOOD[:GOOD.index('<size>')] + GOOD[GOOD.index('</size>') + len('</size>'):]
    root = _voc(tmp_path, {'000001': no_size, '000002': _xml(('circle', (5, 6, 20, 30)), width=80)})
    with pytest.warns(AnnotationWarning,
                      match=r'1 images whose size differs .*000002\.xml: <size> 80x48, image 64x48'):
        ds = _ds(root)
    assert [(d['width'], d['height']) for d in ds] == [(64, 48), (64, 48)]


def test_filter_cfg_is_mmdets(tmp_path):
    root = _voc(tmp_path, {'000001': GOOD, '000002': _xml(), '000003': _xml(('cross', (2, 2, 40, 5)))})
    cfg = dict(filter_empty_gt=True, bbox_min_size=8)
    ours, theirs = _ds(root, filter_cfg=cfg), _ds(root, cls=VOCDataset, filter_cfg=cfg)
    assert [d['img_id'] for d in ours] == [d['img_id'] for d in theirs] == ['000001', '000003']
    assert [d['instances'] for d in ours] == [d['instances'] for d in theirs]
    assert ours[1]['instances'][0]['ignore_flag'] == 1  # 3 px high < bbox_min_size
    with pytest.raises(ValueError, match='bbox_min_size ignores small boxes'):
        _ds(root, filter_cfg=cfg, test_mode=True)
    with pytest.raises(ValueError, match='removed all 3 images'):
        _ds(root, filter_cfg=dict(min_size=100))


def test_registered_in_mcudet_scope():
    from mcudet.registry import DATASETS
    assert DATASETS.get('MCUVOCDataset') is MCUVOCDataset
    assert DATASETS.get('WIDERFaceTxtDataset').__module__ == 'mcudet.datasets.wider_face'
