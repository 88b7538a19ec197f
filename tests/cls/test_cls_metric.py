"""Accuracy: top-k in percent under mmpretrain's keys."""
import pytest
import torch
from mmengine.evaluator import Evaluator

from mcudet.evaluation import Accuracy
from mcudet.models.classifiers import ClsDataSample

SCORES = torch.tensor([[0.1, 0.2, 0.3, 0.4],    # label 3: top-1 hit
                       [0.4, 0.3, 0.2, 0.1],    # label 1: top-2 hit
                       [0.1, 0.2, 0.4, 0.3],    # label 0: top-4 hit only
                       [0.2, 0.5, 0.2, 0.1]])   # label 1: top-1 hit
LABELS = [3, 1, 0, 1]


def samples():
    return [ClsDataSample().set_gt_label(y).set_pred_score(s).set_pred_label(s.argmax())
            for s, y in zip(SCORES, LABELS)]


def test_topk_through_an_mmengine_evaluator():
    evaluator = Evaluator(Accuracy(topk=(1, 2, 4)))
    evaluator.process(samples())
    assert evaluator.evaluate(4) == {'accuracy/top1': 50.0, 'accuracy/top2': 75.0, 'accuracy/top4': 100.0}


def test_thresholds_and_labels_only():
    table = Accuracy.calculate(SCORES, torch.tensor(LABELS), topk=(1,), thrs=(0.0, 0.45))
    assert table == [[50.0, 25.0]]
    metric = Accuracy(thrs=(0.0, 0.45))
    metric.process(None, [s.to_dict() for s in samples()])
    assert metric.compute_metrics(metric.results) == {'top1_thr-0.00': 50.0, 'top1_thr-0.45': 25.0}
    only_labels = Accuracy()
    only_labels.process(None, [dict(gt_label=torch.tensor([y]), pred_label=torch.tensor([p]))
                               for y, p in zip(LABELS, [3, 0, 2, 1])])
    assert only_labels.compute_metrics(only_labels.results) == {'top1': 50.0}


def test_errors_name_the_fix():
    with pytest.raises(ValueError, match='topk=.*2 classes'):
        Accuracy.calculate(torch.rand(3, 2), torch.tensor([0, 1, 1]), topk=(1, 5))
    with pytest.raises(KeyError, match='gt_label'):
        Accuracy().process(None, [dict(pred_score=torch.rand(3))])
    with pytest.raises(ValueError, match='topk'):
        Accuracy(topk=(0,))
