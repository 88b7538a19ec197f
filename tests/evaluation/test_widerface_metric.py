"""WIDERFaceMetric end to end on a synthetic set written in the official formats."""
import numpy as np
import pytest
import torch

from mcudet.datasets import WIDERFaceTxtDataset, read_bbx_gt, setting_keep
from mcudet.evaluation import WIDERFaceMetric, evaluate_widerface, image_key
from mcudet.registry import METRICS


def _val_anns(synthetic_wider):
    return read_bbx_gt(str(synthetic_wider.root / 'wider_face_split' / 'wider_face_val_bbx_gt.txt'))


def _pred_from(anns, keep_face):
    """Predictions equal to the ground-truth boxes for which ``keep_face(image_no, face_no)``;
    distinct scores so that the normalisation is well defined."""
    rng = np.random.default_rng(0)
    pred = {}
    for n, ann in enumerate(anns):
        rows = [[b.x, b.y, b.w, b.h, rng.uniform(0.05, 1)]
                for k, b in enumerate(ann.boxes) if keep_face(n, k)]
        pred.setdefault(ann.event, {})[ann.name] = np.array(rows).reshape(-1, 5)
    return pred


def test_perfect_predictions_give_ap_one(synthetic_wider):
    anns = _val_anns(synthetic_wider)
    aps = evaluate_widerface(_pred_from(anns, lambda n, k: True), str(synthetic_wider.root / 'ground_truth'))
    assert aps == pytest.approx(dict(easy=1.0, medium=1.0, hard=1.0))


def test_dropping_half_the_faces(synthetic_wider):
    """Every other face predicted, perfectly. No prediction is a false positive and those on faces
    a setting does not keep are ignored, so precision is 1 up to the recall of the predicted faces:
    AP = (kept faces predicted) / (kept faces), per setting."""
    anns = _val_anns(synthetic_wider)
    faces = [(n, k) for n, a in enumerate(anns) for k in range(len(a.boxes))]
    chosen = set(faces[::2])
    aps = evaluate_widerface(_pred_from(anns, lambda n, k: (n, k) in chosen),
                             str(synthetic_wider.root / 'ground_truth'))
    expected = {}
    for setting in ('easy', 'medium', 'hard'):
        kept = [(n, int(k)) for n, a in enumerate(anns) for k in setting_keep(a.boxes)[setting]]
        expected[setting] = sum(key in chosen for key in kept) / len(kept)
    assert aps == pytest.approx(expected)
    assert all(0 < v < 1 for v in aps.values())
    # The fixture set (seed 5, 12 val images): 2 easy, 13 medium, 27 hard faces.
    assert aps == pytest.approx(dict(easy=1 / 2, medium=6 / 13, hard=14 / 27))


def _samples(dataset, shift=0.0, score=None):
    """Data samples as a detector's test step returns them: corner boxes in the original image."""
    out = []
    for i in range(len(dataset)):
        info = dataset[i]
        boxes = torch.tensor([inst['bbox'] for inst in info['instances']], dtype=torch.float32).reshape(-1, 4)
        scores = torch.linspace(1.0, 0.5, len(boxes)) if score is None else torch.full((len(boxes),), score)
        out.append(dict(img_path=info['img_path'],
                        pred_instances=dict(bboxes=boxes + shift, scores=scores,
                                            labels=torch.zeros(len(boxes), dtype=torch.long))))
    return out


def test_metric_on_the_txt_dataset(synthetic_wider, tmp_path):
    root = synthetic_wider.root
    dataset = WIDERFaceTxtDataset(data_root=str(root), ann_file='wider_face_split/wider_face_val_bbx_gt.txt',
                                  data_prefix=dict(img='WIDER_val/images/'), test_mode=True, pipeline=[])
    metric = METRICS.build(dict(type='WIDERFaceMetric', gt_dir=str(root / 'ground_truth'),
                                outfile_prefix=str(tmp_path / 'pred')))
    samples = _samples(dataset)
    metric.process({}, samples[:5])
    metric.process({}, samples[5:])
    result = metric.evaluate(len(dataset))
    assert result == pytest.approx({'widerface/easy': 1.0, 'widerface/medium': 1.0, 'widerface/hard': 1.0})
    # Official per-image prediction files, readable by the official tools.
    files = sorted((tmp_path / 'pred').rglob('*.txt'))
    assert len(files) == len(dataset)
    first = dataset[0]
    name = first['img_id'].split('/')[1]
    lines = (tmp_path / 'pred' / first['event'] / f'{name}.txt').read_text().splitlines()
    assert lines[0] == name and int(lines[1]) == len(first['instances']) == len(lines) - 2

    # Boxes shifted by 40 px miss everything.
    metric = WIDERFaceMetric(gt_dir=str(root / 'ground_truth'))
    metric.process({}, _samples(dataset, shift=40.0))
    assert metric.evaluate(len(dataset)) == pytest.approx({'widerface/easy': 0.0, 'widerface/medium': 0.0,
                                                           'widerface/hard': 0.0})


def test_score_threshold_and_wrong_images(synthetic_wider):
    root = synthetic_wider.root
    metric = WIDERFaceMetric(gt_dir=str(root / 'ground_truth'), score_thr=0.5, prefix='wf')
    sample = dict(img_path='/data/WIDER_val/images/9--Other/unknown.jpg',
                  pred_instances=dict(bboxes=torch.tensor([[0.0, 0, 10, 10], [5, 5, 20, 20]]),
                                      scores=torch.tensor([0.9, 0.1])))
    metric.process({}, [sample])
    assert metric.results[0][2].tolist() == [[0.0, 0.0, 10.0, 10.0, pytest.approx(0.9)]]
    with pytest.warns(UserWarning, match=r'1 of 1 evaluated images are not in .*9--Other/unknown'):
        result = metric.evaluate(1)
    assert result == {'wf/easy': 0.0, 'wf/medium': 0.0, 'wf/hard': 0.0}


def test_wrong_gt_dir_fails_when_the_metric_is_built(tmp_path):
    with pytest.raises(FileNotFoundError, match=r'wider_face_val\.mat: not found'):
        WIDERFaceMetric(gt_dir=str(tmp_path))


@pytest.mark.parametrize('path,key', [
    ('data/WIDERFace/WIDER_val/images/0--Parade/0_Parade_marchingband_1_465.jpg',
     ('0--Parade', '0_Parade_marchingband_1_465')),
    ('data/WIDERFace/WIDER_val/0--Parade/0_Parade_marchingband_1_465.jpg',  # mmdet's XML layout
     ('0--Parade', '0_Parade_marchingband_1_465')),
])
def test_image_key(path, key):
    assert image_key(path) == key
