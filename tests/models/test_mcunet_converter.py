"""Official MCUNet / ProxylessNAS checkpoints -> MCUNetV2Backbone, checked against the official maths."""
from __future__ import annotations

import argparse
import copy
import importlib.util

import pytest
import torch
import torch.nn.functional as F

from mcudet.models.backbones import CheckpointMismatchError, MCUNetV2Backbone, convert_mcunet_state_dict
from mcudet.models.backbones.convert import official_block_indices
from tests.conftest import REPO, run_tool

TOOL = REPO / 'tools' / 'model_converters' / 'mcunet_to_mcudet.py'
# mid_channels and no feature mix / ZeroLayer skip blocks / MobileNetV2 with BN eps 1e-3 /
# blocks without act_func and a forced no-skip block
FILES = ['mcunet-10fps_imagenet', 'proxyless-w0.3-r176_imagenet', 'mbv2-w0.35-r144_imagenet',
         'proxyless-w0.25-r112_imagenet']


def with_se(net: dict) -> dict:
    """The same network with squeeze-excite in every other block (no zoo file has SE)."""
    net = copy.deepcopy(net)
    for j, block in enumerate(net['blocks']):
        if j % 2 and block['mobile_inverted_conv']['name'] != 'ZeroLayer':
            block['mobile_inverted_conv']['use_se'] = True
    return net


def assert_same_as_official(net, arch, sd, backbone_sd, head_sd, run_official, hw=(64, 64)):
    model = MCUNetV2Backbone(arch).eval()
    model.load_state_dict(backbone_sd, strict=True)
    x = torch.randn(2, 3, *hw, generator=torch.Generator().manual_seed(1))
    feats, logits = run_official(net, sd, x)
    with torch.no_grad():
        ours = model(x)[-1]
    torch.testing.assert_close(ours, feats, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(F.linear(ours.mean((2, 3)), head_sd['fc.weight'], head_sd['fc.bias']),
                               logits, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize('stem', FILES)
def test_converted_checkpoint_computes_the_official_network(stem, zoo_dir, load_zoo_json,
                                                            make_official_state_dict, run_official):
    net = load_zoo_json(stem)
    sd = make_official_state_dict(net)
    backbone_sd, head_sd = convert_mcunet_state_dict(sd, zoo_dir / f'{stem}.json')
    assert set(head_sd) == {'fc.weight', 'fc.bias'}
    assert_same_as_official(net, zoo_dir / f'{stem}.json', sd, backbone_sd, head_sd, run_official)


def test_squeeze_excite_weights_map_to_se(load_zoo_json, make_official_state_dict, run_official):
    net = with_se(load_zoo_json('mcunet-10fps_imagenet'))
    sd = make_official_state_dict(net)
    assert any('.se.fc.reduce.' in k for k in sd)
    backbone_sd, head_sd = convert_mcunet_state_dict(sd, net)
    assert 'blocks.1.se.reduce.weight' in backbone_sd and 'blocks.2.se.reduce.weight' not in backbone_sd
    assert_same_as_official(net, net, sd, backbone_sd, head_sd, run_official, hw=(48, 40))


def test_skip_blocks_shift_block_indices(zoo_dir, load_zoo_json, make_official_state_dict):
    net = load_zoo_json('proxyless-w0.3-r176_imagenet')
    zero = [j for j, b in enumerate(net['blocks']) if b['mobile_inverted_conv']['name'] == 'ZeroLayer']
    assert zero == [3, 4]
    sd = make_official_state_dict(net)
    backbone_sd, _ = convert_mcunet_state_dict(sd, net)
    torch.testing.assert_close(backbone_sd['blocks.3.dw.conv.weight'],
                               sd['blocks.5.mobile_inverted_conv.depth_conv.conv.weight'])
    indices = official_block_indices(net, sd)
    assert indices[:5] == [0, 1, 2, 5, 6] and len(indices) == len(net['blocks']) - 2
    # A zoo name carries no JSON: the renumbering is read from the checkpoint and agrees.
    by_name, _ = convert_mcunet_state_dict(sd, 'proxyless-w0.3-r176')
    assert by_name.keys() == backbone_sd.keys()
    assert all(torch.equal(by_name[k], backbone_sd[k]) for k in by_name)


def test_wrappers_and_old_checkpoints_without_num_batches_tracked(load_zoo_json, make_official_state_dict):
    net = load_zoo_json('mbv2-w0.35-r144_imagenet')
    sd = make_official_state_dict(net)
    old = {f'module.{k}': v for k, v in sd.items() if not k.endswith('num_batches_tracked')}
    backbone_sd, _ = convert_mcunet_state_dict({'state_dict': old}, net)
    assert backbone_sd['stem.bn.num_batches_tracked'].item() == 0
    MCUNetV2Backbone(net).load_state_dict(backbone_sd, strict=True)


def test_mismatches_name_the_official_and_the_mcudet_keys(load_zoo_json, make_official_state_dict):
    net = load_zoo_json('proxyless-w0.3-r176_imagenet')
    sd = make_official_state_dict(net)
    broken = dict(sd)
    del broken['blocks.5.mobile_inverted_conv.point_linear.bn.running_var']
    broken['blocks.3.mobile_inverted_conv.depth_conv.conv.weight'] = torch.zeros(48, 1, 3, 3)  # a skip block
    broken['first_conv.conv.weight'] = torch.zeros(16, 3, 5, 5)
    broken['aux_head.weight'] = torch.zeros(1)
    with pytest.raises(CheckpointMismatchError) as err:
        convert_mcunet_state_dict(broken, net)
    msg = str(err.value)
    assert ('blocks.5.mobile_inverted_conv.point_linear.bn.running_var '
            '(for blocks.3.project.bn.running_var)') in msg
    assert 'blocks.3.mobile_inverted_conv.depth_conv.conv.weight' in msg and 'aux_head.weight' in msg
    assert ('first_conv.conv.weight -> stem.conv.weight: '
            'checkpoint (16, 3, 5, 5), architecture (16, 3, 3, 3)') in msg
    # A checkpoint of another network: the block count gives it away before any key.
    with pytest.raises(CheckpointMismatchError, match='has 17 blocks but the checkpoint has 20'):
        convert_mcunet_state_dict(sd, 'mbv2-w0.35-r144')
    bad_head = dict(sd, **{'classifier.linear.weight': torch.zeros(10, 7)})
    with pytest.raises(CheckpointMismatchError, match=r'classifier.linear.weight: checkpoint \(10, 7\)'):
        convert_mcunet_state_dict(bad_head, net)


def _tool_main():
    spec = importlib.util.spec_from_file_location('mcunet_to_mcudet', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


def test_cli_end_to_end(tmp_path, zoo_dir, load_zoo_json, make_official_state_dict, run_official):
    stem = 'proxyless-w0.3-r176_imagenet'
    net = load_zoo_json(stem)
    sd = make_official_state_dict(net)
    src, dst = tmp_path / 'official.pth', tmp_path / 'out' / 'converted.pth'
    torch.save({'state_dict': sd}, src)
    out = run_tool(['python', str(TOOL), str(src), str(dst), '--arch', str(zoo_dir / f'{stem}.json')])
    assert 'proxyless-w0.3-r176_imagenet' in out.stdout
    assert [p.name for p in dst.parent.iterdir()] == ['converted.pth']  # no temporary left behind
    ckpt = torch.load(dst, weights_only=True)
    assert ckpt['meta']['official_blocks'][:4] == [0, 1, 2, 5]
    assert ckpt['state_dict']['head.fc.weight'].shape == (1000, 384)
    model = MCUNetV2Backbone(ckpt['meta']['arch'],
                             init_cfg=dict(type='Pretrained', checkpoint=str(dst), prefix='backbone.')).eval()
    model.init_weights()
    x = torch.randn(1, 3, 48, 48)
    with torch.no_grad():
        torch.testing.assert_close(model(x)[-1], run_official(net, sd, x)[0], rtol=1e-4, atol=1e-4)


def test_cli_refuses_pickles_and_mismatches(tmp_path, load_zoo_json, make_official_state_dict):
    main = _tool_main()
    sd = make_official_state_dict(load_zoo_json('proxyless-w0.3-r176_imagenet'))
    src, dst = tmp_path / 'official.pth.tar', tmp_path / 'converted.pth'
    # Files holding more than tensors are refused unless the user trusts them.
    torch.save({'state_dict': sd, 'args': argparse.Namespace(lr=0.1)}, src)
    with pytest.raises(SystemExit, match='(?s)argparse.Namespace.*--allow-pickle'):
        main([str(src), str(dst), '--arch', 'proxyless-w0.3-r176'])
    assert not dst.exists()
    assert main([str(src), str(dst), '--arch', 'proxyless-w0.3-r176', '--allow-pickle']) == 0
    # A wrong --arch fails with the mismatch report and leaves the old output alone.
    before = dst.stat().st_mtime_ns
    with pytest.raises(SystemExit, match='mcunet-in0.*has 15 blocks but the checkpoint has 20'):
        main([str(src), str(dst), '--arch', 'mcunet-in0', '--allow-pickle'])
    assert dst.stat().st_mtime_ns == before
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([src.name, dst.name])
    with pytest.raises(SystemExit, match='does not exist'):
        main([str(tmp_path / 'nope.pth'), str(dst), '--arch', 'proxyless-w0.3-r176'])
    src.write_bytes(b'not a checkpoint')
    with pytest.raises(SystemExit, match='cannot read .* as a PyTorch checkpoint'):
        main([str(src), str(dst), '--arch', 'proxyless-w0.3-r176', '--allow-pickle'])
    torch.save({'weights': [1, 2]}, src)
    with pytest.raises(SystemExit, match='not a state dict of tensors'):
        main([str(src), str(dst), '--arch', 'proxyless-w0.3-r176'])
