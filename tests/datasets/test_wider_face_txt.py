"""The official WIDER FACE txt format: round trip, the 0-face quirk, every malformed-file error,
and WIDERFaceTxtDataset's handling of missing images and boxes outside their image."""
import re
import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from mcudet.datasets import (
    AnnotationError,
    AnnotationWarning,
    WiderFaceBox,
    WIDERFaceTxtDataset,
    WiderImageAnn,
    iter_bbx_gt,
    write_bbx_gt,
)
from mcudet.datasets.wider_face_format import format_bbx_gt

boxes = st.builds(WiderFaceBox, st.integers(0, 2000), st.integers(0, 2000), st.integers(0, 500),
                  st.integers(0, 500), st.integers(0, 2), st.integers(0, 1), st.integers(0, 1),
                  st.integers(0, 1), st.integers(0, 2), st.integers(0, 1))
names = st.from_regex(r'[0-9]{1,2}--[A-Za-z_]{1,8}/[A-Za-z0-9_]{1,12}\.jpg', fullmatch=True)
images = st.lists(st.tuples(names, st.lists(boxes, max_size=4)), min_size=1, max_size=6,
                  unique_by=lambda t: t[0])


def _parse(text: str, name: str = 'gt.txt') -> list[WiderImageAnn]:
    return list(iter_bbx_gt(name, text.splitlines(keepends=True)))


@settings(max_examples=60, deadline=None)
@given(images, st.booleans())
def test_round_trip(items, drop_quirk_line):
    anns = [WiderImageAnn(path, bs) for path, bs in items]
    lines = list(format_bbx_gt(anns))
    if drop_quirk_line:  # files written by other tools often omit the all-zero line
        lines = [ln for i, ln in enumerate(lines)
                 if not (i and lines[i - 1] == '0' and set(ln) <= {'0', ' '})]
    parsed = _parse('\n'.join(lines) + '\n')
    assert [(a.path, a.boxes) for a in parsed] == [(a.path, a.boxes) for a in anns]
    # Line numbers point at the path line and at each face line.
    for ann in parsed:
        assert lines[ann.line - 1] == ann.path
        for box in ann.boxes:
            assert [float(v) for v in lines[box.line - 1].split()] == [float(v) for v in box.as_row()]


def test_writer_emits_the_official_zero_face_line(tmp_path):
    path = tmp_path / 'gt.txt'
    write_bbx_gt(str(path), [WiderImageAnn('0--Parade/a.jpg', []),
                             WiderImageAnn('0--Parade/b.jpg', [WiderFaceBox(449, 330, 122, 149, blur=1)])])
    assert path.read_text() == ('0--Parade/a.jpg\n0\n0 0 0 0 0 0 0 0 0 0 \n'
                                '0--Parade/b.jpg\n1\n449 330 122 149 1 0 0 0 0 0 \n')
    assert [len(a.boxes) for a in iter_bbx_gt(str(path))] == [0, 1]


def test_float_coordinates_and_crlf_are_read():
    ann, = _parse('1--Hand/x.jpg\r\n1\r\n10.5 20 30 40.25 0 0 0 0 0 0\r\n')
    assert ann.boxes[0].xyxy == (10.5, 20, 40.5, 60.25)


GOOD = '0--Parade/a.jpg\n2\n1 2 3 4 0 0 0 0 0 0 \n5 6 7 8 0 0 0 0 0 0 \n'
MALFORMED = [
    ('', r'gt\.txt: the file is empty'),
    ('\n\n  \n', r'gt\.txt: the file is empty'),
    # count too large: the next image's path shows up where a face line is expected
    ('0--P/a.jpg\n3\n1 2 3 4 0 0 0 0 0 0\n2 2 3 4 0 0 0 0 0 0\n0--P/b.jpg\n0\n0 0 0 0 0 0 0 0 0 0\n',
     r'gt\.txt:5: expected face 3 of 3 .*count is too large'),
    # count too small: a face line shows up where a path is expected
    ('0--P/a.jpg\n1\n1 2 3 4 0 0 0 0 0 0\n2 2 3 4 0 0 0 0 0 0\n', r'gt\.txt:4: expected an image path'),
    ('0--P/a.jpg\n2\n1 2 3 4 0 0 0 0 0 0\n', r'gt\.txt:2: .*declares 2 faces but the file ends after 1'),
    ('0--P/a.jpg\n', r'gt\.txt:1: the file ends after the path'),
    ('0--P/a.jpg\nabc\n', r"gt\.txt:2: expected the number of faces of '0--P/a.jpg'.*'abc'"),
    ('0--P/a.jpg\n-1\n', r'gt\.txt:2: expected the number of faces'),
    ('0--P/a.jpg\n1.5\n', r'gt\.txt:2: expected the number of faces'),
    ('0--P/a.jpg\n1\n1 2 x 4 0 0 0 0 0 0\n', r"gt\.txt:3 .*field 'w' is 'x', not a number"),
    ('0--P/a.jpg\n1\n1 2 3 nan 0 0 0 0 0 0\n', r"gt\.txt:3 .*field 'h' is 'nan', not a number"),
    ('0--P/a.jpg\n1\n1 2 3 4 0 0\n', r'gt\.txt:3 .*expected 10 numbers .* got 6'),
    ('0--P/a.jpg\n1\n1 2 3 4 3 0 0 0 0 0\n', r"gt\.txt:3 .*field 'blur' is 3"),
    ('0--P/a.jpg\n1\n1 2 3 4 0 0 0 0 0 1.5\n', r"gt\.txt:3 .*field 'pose' is 1\.5"),
    ('0--P/a.jpg\n0\n1 2 3 4 0 0 0 0 0 0\n',
     r'gt\.txt:3: .*declares 0 faces \(line 2\) but a face line follows'),
    (GOOD + GOOD, r"gt\.txt:5: image '0--Parade/a.jpg' is listed again \(first on line 1\)"),
    ('hello world\n', r'gt\.txt:1: expected an image path'),
]


@pytest.mark.parametrize('text,message', MALFORMED)
def test_malformed_files_name_the_file_and_line(text, message):
    with pytest.raises(AnnotationError, match=message):
        _parse(text)


# --- the dataset --------------------------------------------------------------------------------


def _wider_root(tmp_path, text: str, images=('0--P/a.jpg',), size=(64, 48)):
    (tmp_path / 'wider_face_split').mkdir(exist_ok=True)
    (tmp_path / 'wider_face_split' / 'gt.txt').write_text(text)
    for rel in images:
        path = tmp_path / 'WIDER_train' / 'images' / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new('RGB', size, (90, 90, 90)).save(path)
    return tmp_path


def _dataset(root, **kwargs):
    kwargs.setdefault('pipeline', [])
    return WIDERFaceTxtDataset(data_root=str(root), ann_file='wider_face_split/gt.txt',
                               data_prefix=dict(img='WIDER_train/images/'), **kwargs)


def test_missing_image_is_an_error_naming_file_and_line(tmp_path):
    text = '0--P/a.jpg\n0\n0 0 0 0 0 0 0 0 0 0\n0--P/gone.jpg\n1\n1 1 5 5 0 0 0 0 0 0\n'
    root = _wider_root(tmp_path, text)
    with pytest.raises(AnnotationError,
                       match=r'gt\.txt: 1 missing or unreadable images .*gone\.jpg \(line 4'):
        _dataset(root)
    with pytest.warns(AnnotationWarning,
                      match=r'missing or unreadable images, left out: .*gone\.jpg \(line 4'):
        ds = _dataset(root, skip_missing_images=True)
    assert [d['img_id'] for d in ds] == ['0--P/a']


def test_corrupt_image_is_reported_like_a_missing_one(tmp_path):
    root = _wider_root(tmp_path, '0--P/a.jpg\n0\n0 0 0 0 0 0 0 0 0 0\n')
    (root / 'WIDER_train' / 'images' / '0--P' / 'a.jpg').write_bytes(b'not a jpeg')
    with pytest.raises(AnnotationError, match=r'a\.jpg \(line 1: cannot identify image'):
        _dataset(root)


def test_boxes_outside_the_image_are_clipped_with_a_warning(tmp_path):
    text = ('0--P/a.jpg\n4\n'
            '-5 10 20 20 0 0 0 0 0 0\n'     # left edge outside
            '50 40 30 30 0 0 0 0 0 0\n'     # right/bottom outside (image 64x48)
            '70 10 5 5 0 0 0 0 0 0\n'       # entirely outside: nothing left -> ignored
            '10 10 5 5 0 0 0 0 0 0\n')
    root = _wider_root(tmp_path, text)
    with pytest.warns(AnnotationWarning) as record:
        ds = _dataset(root)
    msg = str(record[0].message)
    assert re.search(r'3 boxes outside their image, clipped: line 3 .*line 4 .*line 5 ', msg), msg
    inst = ds[0]['instances']
    assert [i['bbox'] for i in inst] == [[0, 10, 15, 30], [50, 40, 64, 48], [64, 10, 64, 15],
                                         [10, 10, 15, 15]]
    assert [i['ignore_flag'] for i in inst] == [0, 0, 1, 0]


def test_invalid_and_empty_boxes_are_ignored_and_keep_their_attributes(tmp_path):
    text = ('0--P/a.jpg\n4\n'
            '1 1 10 10 2 1 1 0 2 1\n'
            '20 1 10 10 0 0 0 1 0 0\n'      # invalid
            '30 1 0 10 0 0 0 0 0 0\n'       # zero width (the official files have a few)
            '40 1 3 3 0 0 0 0 0 0\n')       # below bbox_min_size
    root = _wider_root(tmp_path, text)
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        ds = _dataset(root, filter_cfg=dict(bbox_min_size=4))
    inst = ds[0]['instances']
    assert [i['ignore_flag'] for i in inst] == [0, 1, 1, 1]
    attrs = ('blur', 'expression', 'illumination', 'invalid', 'occlusion', 'pose')
    assert {k: inst[0][k] for k in attrs} == dict(blur=2, expression=1, illumination=1, invalid=0,
                                                  occlusion=2, pose=1)
    assert inst[1]['invalid'] == 1 and [i['ann_line'] for i in inst] == [3, 4, 5, 6]


def test_without_image_checks_sizes_are_unknown_and_boxes_untouched(tmp_path):
    root = _wider_root(tmp_path, '0--P/gone.jpg\n1\n-5 1 500 5 0 0 0 0 0 0\n', images=())
    ds = _dataset(root, check_images=False)
    assert ds[0]['width'] is None and ds[0]['instances'][0]['bbox'] == [-5, 1, 495, 6]
    with pytest.raises(ValueError, match='min_size=32 needs the image sizes'):
        _dataset(root, check_images=False, filter_cfg=dict(min_size=32))


def test_min_size_filter(tmp_path):
    root = _wider_root(tmp_path, '0--P/a.jpg\n1\n1 1 5 5 0 0 0 0 0 0\n')
    assert len(_dataset(root, filter_cfg=dict(min_size=32))) == 1
    with pytest.raises(ValueError, match=r"filter_cfg=\{'min_size': 64\} removed all 1 images"):
        _dataset(root, filter_cfg=dict(min_size=64))       # a 64x48 image
    assert len(_dataset(root, filter_cfg=dict(min_size=64), test_mode=True)) == 1


def test_malformed_txt_fails_when_the_dataset_is_built(tmp_path):
    root = _wider_root(tmp_path, '0--P/a.jpg\n2\n1 1 5 5 0 0 0 0 0 0\n')
    with pytest.raises(AnnotationError, match=r'wider_face_split/gt\.txt:2: .*declares 2 faces'):
        _dataset(root)
    (root / 'wider_face_split' / 'gt.txt').write_text('')
    with pytest.raises(AnnotationError, match=r'gt\.txt: the file is empty'):
        _dataset(root)
