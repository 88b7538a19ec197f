"""The classification transforms mmcv lacks: shapes, ranges, determinism, packing."""
import numpy as np
import pytest
import torch
from mmcv.transforms import Compose

from mcudet.datasets.transforms import ColorJitter, PackInputs, RandomResizedCrop, ResizeEdge
from mcudet.models.classifiers import ClsDataSample


def image(h=60, w=90, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(h, w, 3), dtype=np.uint8)


def test_random_resized_crop_gives_the_scale_and_a_crop_inside_the_image():
    t = RandomResizedCrop(scale=(32, 48))
    np.random.seed(0)
    for _ in range(20):
        img = image()
        top, left, ch, cw = t.crop_params(*img.shape[:2])
        assert 0 <= top and top + ch <= 60 and 0 <= left and left + cw <= 90
        out = t({'img': img})
        assert out['img'].shape == (32, 48, 3) and out['img_shape'] == (32, 48)


def test_random_resized_crop_falls_back_to_the_centre_crop():
    t = RandomResizedCrop(scale=16, max_attempts=0, aspect_ratio_range=(1.0, 1.0))
    assert t.crop_params(60, 90) == (0, 15, 60, 60)
    whole = RandomResizedCrop(scale=16, max_attempts=0)
    assert whole.crop_params(60, 70) == (0, 0, 60, 70)


def test_random_resized_crop_rejects_bad_ranges():
    with pytest.raises(ValueError, match='crop_ratio_range'):
        RandomResizedCrop(scale=10, crop_ratio_range=(0.9, 0.1))
    with pytest.raises(ValueError, match='scale'):
        RandomResizedCrop(scale=0)
    with pytest.raises(ValueError, match='interpolation'):
        RandomResizedCrop(scale=8, interpolation='cubic-ish')


@pytest.mark.parametrize('edge,hw,expected', [
    ('short', (60, 90), (40, 60)), ('short', (90, 60), (60, 40)), ('long', (60, 90), (26, 40)),
    ('width', (60, 90), (26, 40)), ('height', (60, 90), (40, 60)),
])
def test_resize_edge(edge, hw, expected):
    out = ResizeEdge(scale=40, edge=edge)({'img': image(*hw)})
    assert out['img'].shape[:2] == expected and out['img_shape'] == expected


def test_resize_edge_truncates_like_torchvision():
    # MCUNet's evaluation: Resize(int(160 * 256 / 224)) = 182 on a 375 x 500 photo -> 182 x 242
    out = ResizeEdge(scale=int(160 * 256 / 224), backend='pillow')({'img': image(375, 500)})
    assert out['img'].shape[:2] == (182, 242)


def test_color_jitter_keeps_the_image_and_is_the_identity_without_amounts():
    img = image()
    assert np.array_equal(ColorJitter()({'img': img.copy()})['img'], img)
    np.random.seed(1)
    out = ColorJitter(brightness=0.5, contrast=0.5, saturation=0.5, hue=0.1)({'img': img.copy()})['img']
    assert out.shape == img.shape and out.dtype == np.uint8 and not np.array_equal(out, img)
    # Saturation 0 turns the image grey: all channels equal.
    t = ColorJitter(saturation=1.0)
    t.draw = lambda: [('saturation', 0.0)]
    grey = t({'img': img.copy()})['img'].astype(int)
    assert np.abs(grey[..., 0] - grey[..., 1]).max() <= 1 and np.abs(grey[..., 1] - grey[..., 2]).max() <= 1


def test_color_jitter_hue_of_a_full_turn_is_the_identity():
    t = ColorJitter(hue=0.5)
    t.draw = lambda: [('hue', 0.5)]
    once = t({'img': t({'img': image()})['img']})['img']
    assert np.abs(once.astype(int) - image().astype(int)).max() <= 2


def test_pack_inputs_gives_a_chw_tensor_and_a_labelled_sample():
    results = dict(img=image(10, 12), gt_label=1, img_path='a.png', ori_shape=(10, 12), img_shape=(10, 12))
    packed = PackInputs()(results)
    assert packed['inputs'].shape == (3, 10, 12) and packed['inputs'].dtype == torch.uint8
    assert torch.equal(packed['inputs'][1], torch.from_numpy(results['img'][..., 1]))
    sample = packed['data_samples']
    assert isinstance(sample, ClsDataSample)
    assert sample.gt_label.tolist() == [1] and sample.img_path == 'a.png'
    unlabelled = PackInputs()(dict(img=image(4, 4)))['data_samples']
    assert 'gt_label' not in unlabelled


def test_pipeline_builds_from_config_names(tiny_vww):
    pipeline = Compose([
        dict(type='LoadImageFromFile'),
        dict(type='RandomResizedCrop', scale=32),
        dict(type='RandomFlip', prob=1.0, direction='horizontal'),
        dict(type='ColorJitter', brightness=32. / 255., saturation=0.5),
        dict(type='ResizeEdge', scale=36),
        dict(type='CenterCrop', crop_size=32),
        dict(type='PackClsInputs'),
    ])
    out = pipeline(dict(img_path=str(tiny_vww / 'images' / 'train' / '000001.png'), gt_label=0))
    assert out['inputs'].shape == (3, 32, 32)
    assert out['data_samples'].flip is True
