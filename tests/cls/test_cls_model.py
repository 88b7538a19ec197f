"""ImageClassifier, head, loss and preprocessor; MCUNet zoo checkpoints; patch-based logits."""
import importlib.util
import json

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.runner import load_checkpoint

from mcudet.models import ClsDataPreprocessor, ClsDataSample, ImageClassifier, LabelSmoothLoss, LinearClsHead
from mcudet.registry import MODELS
from tests.conftest import REPO, shared_dir
from tests.models.conftest import official_forward, official_state_dict

TINY = dict(stem='conv_k3_c8_s2', blocks=['ir_k3_e1_c8', 'ir_k3_e3_c16_s2', 'ir_k3_e3_c24_s2'], num_classes=3)


def tiny_classifier(**head) -> ImageClassifier:
    return MODELS.build(dict(
        type='ImageClassifier',
        data_preprocessor=dict(mean=[127.5] * 3, std=[127.5] * 3, to_rgb=True),
        backbone=dict(type='MCUNetV2Backbone', arch=TINY),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=3, in_channels=24, **head)))


def batch(n=4, size=32):
    g = torch.Generator().manual_seed(0)
    inputs = [torch.randint(0, 256, (3, size, size), dtype=torch.uint8, generator=g) for _ in range(n)]
    return dict(inputs=inputs, data_samples=[ClsDataSample().set_gt_label(i % 3) for i in range(n)])


def test_forward_modes_and_a_training_step():
    model = tiny_classifier(loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1), topk=(1, 2),
                            cal_acc=True)
    assert isinstance(model.data_preprocessor, ClsDataPreprocessor) and model.head.fc.out_features == 3
    data = model.data_preprocessor(batch(), training=True)
    assert data['inputs'].dtype == torch.float32 and data['inputs'].abs().max() <= 1.0
    losses = model(**data, mode='loss')
    assert set(losses) == {'loss', 'accuracy_top-1', 'accuracy_top-2'} and torch.isfinite(losses['loss'])
    optim = torch.optim.SGD(model.parameters(), lr=0.1)
    from mmengine.optim import OptimWrapper
    log = model.train_step(batch(), OptimWrapper(optim))
    assert 'loss' in log
    model.eval()
    logits = model(data['inputs'], mode='tensor')
    assert logits.shape == (4, 3)
    preds = model.val_step(batch())
    assert len(preds) == 4 and torch.allclose(preds[0].pred_score.sum(), torch.tensor(1.0))
    assert preds[0].pred_label.item() == int(preds[0].pred_score.argmax())
    assert preds[0].gt_label.tolist() == [0]
    assert model.extract_feat(data['inputs'], stage='pre_logits').shape == (4, 24)
    assert len(model.extract_feat(data['inputs'], stage='backbone')) == 1


def test_data_preprocessor_converts_bgr_to_rgb_and_normalises():
    pre = ClsDataPreprocessor(mean=[0, 0, 0], std=[1, 2, 4], to_rgb=True)
    img = torch.stack([torch.full((2, 2), v, dtype=torch.uint8) for v in (10, 20, 40)])  # B, G, R
    out = pre(dict(inputs=[img], data_samples=[ClsDataSample()]))['inputs'][0]
    assert out[:, 0, 0].tolist() == [40.0, 10.0, 2.5]
    with pytest.raises(NotImplementedError, match='batch_augments'):
        ClsDataPreprocessor(batch_augments=dict(augments=[dict(type='Mixup', alpha=0.2)]))


def test_label_smoothing_matches_the_definitions():
    logits = torch.randn(5, 4, generator=torch.Generator().manual_seed(3))
    labels = torch.tensor([0, 3, 1, 1, 2])
    original = LabelSmoothLoss(label_smooth_val=0.1)
    torch.testing.assert_close(original(logits, labels), F.cross_entropy(logits, labels, label_smoothing=0.1))
    torch.testing.assert_close(LabelSmoothLoss(0.0)(logits, labels), F.cross_entropy(logits, labels))
    classy = LabelSmoothLoss(0.2, mode='classy_vision', reduction='none')
    target = (F.one_hot(labels, 4) + 0.2 / 4) / 1.2
    torch.testing.assert_close(classy(logits, labels), -(target * logits.log_softmax(-1)).sum(-1))
    weighted = LabelSmoothLoss(0.1, loss_weight=2.0)(logits, labels, weight=torch.tensor([1., 0, 0, 0, 0]),
                                                     avg_factor=1)
    torch.testing.assert_close(weighted, 2 * F.cross_entropy(logits[:1], labels[:1], label_smoothing=0.1))
    with pytest.raises(ValueError, match='label_smooth_val'):
        LabelSmoothLoss(1.5)
    with pytest.raises(ValueError, match='num_classes=10'):
        LabelSmoothLoss(0.1, num_classes=10)(logits, labels)


def test_head_errors_say_what_to_change():
    head = LinearClsHead(num_classes=2, in_channels=8)
    assert isinstance(head.dropout, torch.nn.Identity)
    with pytest.raises(ValueError, match='GlobalAveragePooling'):
        head((torch.randn(2, 8, 3, 3),))
    with pytest.raises(KeyError, match='gt_label'):
        head.loss((torch.randn(2, 8),), [ClsDataSample(), ClsDataSample()])
    with pytest.raises(ValueError, match='in_channels'):
        LinearClsHead(num_classes=2, in_channels=0)
    with pytest.raises(NotImplementedError, match='augments'):
        ImageClassifier(backbone=dict(type='MCUNetV2Backbone', arch=TINY),
                        train_cfg=dict(augments=dict(type='Mixup')))


def build_from_config(name: str, **changes) -> ImageClassifier:
    cfg = Config.fromfile(str(REPO / 'configs' / 'cls' / name))
    cfg.merge_from_dict(changes)
    return MODELS.build(cfg.model)


@pytest.mark.parametrize('config,size,grid', [('mcunetv2-vww_vww', 160, (4, 4)),
                                              ('mcunetv2-vww_synthetic', 80, (2, 2))])
def test_patch_based_config_gives_the_same_logits(config, size, grid):
    layer = build_from_config(f'{config}.py')
    patch = build_from_config(f'{config}_patch.py')
    with torch.no_grad():  # BN statistics that are not the identity, as after training
        for m in layer.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
    patch.load_state_dict(layer.state_dict(), strict=True)  # keys of the plain backbone load as they are
    layer.eval(), patch.eval()
    plan = patch.backbone.plan_for((size, size))
    assert plan is not None and plan.split == 4 and plan.grid == grid
    x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        a, b = layer(x), patch(x)
    assert (a - b).abs().max() < 1e-5


@pytest.fixture(scope='module')
def zoo_json():
    shared = shared_dir()
    path = shared / 'reference' / 'mcunet_zoo' / 'mcunet-10fps_imagenet.json' if shared else None
    if path is None or not path.is_file():
        pytest.skip('the MCUNet zoo JSON files are absent (set MCUDET_SHARED=/path/to/shared)')
    return json.loads(path.read_text())


def test_official_checkpoint_converts_into_the_classifier(zoo_json, tmp_path):
    """Official names -> converter -> configs/cls/mcunet-in0_in1k.py: the official logits, strict load."""
    sd = official_state_dict(zoo_json, seed=4)
    src, dst = tmp_path / 'official.pth', tmp_path / 'mcudet.pth'
    torch.save({'state_dict': sd}, src)
    spec = importlib.util.spec_from_file_location('mcunet_to_mcudet',
                                                  REPO / 'tools' / 'model_converters' / 'mcunet_to_mcudet.py')
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    assert tool.main([str(src), str(dst), '--arch', 'mcunet-in0']) == 0
    model = build_from_config('mcunet-in0_in1k.py').eval()
    load_checkpoint(model, str(dst), map_location='cpu', strict=True)
    x = torch.randn(2, 3, 48, 48, generator=torch.Generator().manual_seed(2))
    _, expected = official_forward(zoo_json, sd, x)
    with torch.no_grad():
        torch.testing.assert_close(model(x), expected, rtol=1e-4, atol=1e-4)
