"""Draw the ground truth of a config's training pipeline, image by image (as mmdet's tool).

    python tools/analysis_tools/browse_dataset.py CONFIG --output-dir DIR [--not-show] [--max-images N]

What is drawn is what the model trains on: the images and boxes after the training pipeline
(resize, flip, crop, ...), so it also checks the augmentations.
"""
import argparse
import os.path as osp

from mmengine.config import Config, DictAction
from mmengine.registry import init_default_scope
from mmengine.utils import ProgressBar

import mcudet  # noqa: F401  (installs the compat shims before mmengine loads anything)
from mcudet.utils import register_all_modules


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Browse the training set of a config')
    parser.add_argument('config', help='config file path')
    parser.add_argument('--output-dir', default=None,
                        help='save the drawings here (needed without a display)')
    parser.add_argument('--not-show', action='store_true', help='do not open a window')
    parser.add_argument('--show-interval', type=float, default=2, help='seconds per image when showing')
    parser.add_argument('--max-images', type=int, default=None, help='stop after N images')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override settings in the config, key=value pairs (e.g. train_dataloader.dataset.data_root=DIR)')
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.not_show and args.output_dir is None:
        raise SystemExit('browse_dataset: --not-show without --output-dir would draw nothing; '
                         'add --output-dir')
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    register_all_modules(init_default_scope=False)
    init_default_scope(cfg.get('default_scope', 'mcudet'))

    # Built through mcudet's registries, which fall back to mmdet's for mmdet names.
    from mmdet.models.utils import mask2ndarray
    from mmdet.structures.bbox import BaseBoxes

    from mcudet.registry import DATASETS, VISUALIZERS
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    vis_cfg = cfg.get('visualizer', None) or dict(type='DetLocalVisualizer', name='visualizer')
    visualizer = VISUALIZERS.build(vis_cfg)
    visualizer.dataset_meta = dataset.metainfo

    total = len(dataset) if args.max_images is None else min(args.max_images, len(dataset))
    progress = ProgressBar(total)
    used: set[str] = set()
    for index in range(total):
        item = dataset[index]
        img = item['inputs'].permute(1, 2, 0).numpy()[..., [2, 1, 0]]  # BGR to RGB
        data_sample = item['data_samples'].numpy()
        gt_instances = data_sample.gt_instances
        bboxes = gt_instances.get('bboxes', None)
        if bboxes is not None and isinstance(bboxes, BaseBoxes):
            gt_instances.bboxes = bboxes.tensor
        masks = gt_instances.get('masks', None)
        if masks is not None:
            gt_instances.masks = mask2ndarray(masks).astype(bool)
        data_sample.gt_instances = gt_instances
        name = osp.basename(item['data_samples'].img_path)
        if name in used:  # e.g. VOC2007 and VOC2012 both have 000001.jpg
            name = f'{index:06d}_{name}'
        used.add(name)
        visualizer.add_datasample(
            name, img, data_sample, draw_pred=False, show=not args.not_show, wait_time=args.show_interval,
            out_file=osp.join(args.output_dir, name) if args.output_dir is not None else None)
        progress.update()


if __name__ == '__main__':
    main()
