"""The official WIDER FACE evaluation: hand-computed cases, a loop-for-loop reference of the
official code on random inputs, and the ground-truth .mat round trip."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mcudet.datasets import WiderEvalEvent, WiderEvalImage, load_widerface_gt, write_widerface_gt_mats
from mcudet.evaluation import evaluate_widerface, evaluate_widerface_events, voc_ap
from mcudet.evaluation.widerface_eval import bbox_overlaps, thresholds

ALL = ('easy', 'medium', 'hard')


def _img(name, boxes, **keep):
    """An image whose faces count in every setting unless ``keep`` says otherwise."""
    boxes = np.array(boxes, dtype=np.float64).reshape(-1, 4)
    full = np.arange(len(boxes))
    return WiderEvalImage(name, boxes, {s: np.array(keep.get(s, full), dtype=np.int64) for s in ALL})


def test_iou_uses_the_official_plus_one_convention():
    a = np.array([[0, 0, 9, 9]])                       # 10 x 10 pixels
    b = np.array([[5, 0, 14, 9], [0, 0, 9, 9], [10, 0, 19, 9], [9, 9, 20, 20]])
    # overlap 5x10=50, union 150; identical; touching (no shared pixel); one shared pixel of 100 + 144
    np.testing.assert_allclose(bbox_overlaps(a, b), [[1 / 3, 1, 0, 1 / 243]])


def test_thresholds_are_the_official_ones():
    t = thresholds()
    assert len(t) == 1000 and t[0] == 1 - 1 / 1000 and t[-1] == 0.0


def test_voc_ap_envelope():
    # Recall 0.5 at precision 1, then recall 1 at precision 0.5: 0.5 * 1 + 0.5 * 0.5.
    assert voc_ap(np.array([0.5, 1.0]), np.array([1.0, 0.5])) == 0.75
    # A dip is filled by the envelope: precision at recall 0.5 becomes max(0.25, 1.0).
    assert voc_ap(np.array([0.5, 0.5, 1.0]), np.array([1.0, 0.25, 1.0])) == 1.0


def test_one_true_and_one_false_positive():
    """Two faces; a hit scored 0.9 and a miss scored 0.3 (normalised to 1 and 0).

    Thresholds 0.999..0.001 see the hit alone: precision 1, recall 1/2. Threshold 0 adds the
    miss: precision 1/2, recall 1/2. Recall never passes 1/2, so AP = 1/2 * 1 = 0.5.
    """
    events = [WiderEvalEvent('0--P', [_img('a', [[10, 10, 20, 20], [60, 60, 20, 20]])])]
    pred = {'0--P': {'a': np.array([[10, 10, 20, 20, 0.9], [200, 200, 5, 5, 0.3]])}}
    assert evaluate_widerface_events(pred, events) == pytest.approx(dict(easy=0.5, medium=0.5, hard=0.5))


def test_ignored_faces_and_score_order():
    """Face A counts everywhere, face B in medium and hard only (easy ignores it).

    Predictions: p1 on B (0.9), p3 a miss (0.7), p2 on A (0.5); normalised 1, 0.5, 0.

    hard/medium (2 faces): t = 1..499 see p1: P 1, R 1/2; t = 500..999 see p1, p3: P 1/2, R 1/2;
    t = 1000 sees all: P 2/3, R 1. Envelope: 1 up to R 1/2, then 2/3. AP = 1/2 + 1/2 * 2/3 = 5/6.

    easy (1 face): p1 hits an ignored face, so it is no proposal. t = 1..999: P 0, R 0 (p3 is a
    false positive); t = 1000: p3 and p2 are proposals, p2 recalls A: P 1/2, R 1. AP = 1/2.
    Were p1 counted as a false positive, easy AP would be 1/3.
    """
    a, b = [10, 10, 20, 20], [60, 60, 20, 20]
    events = [WiderEvalEvent('0--P', [_img('x', [a, b], easy=[0])])]
    pred = {'0--P': {'x.jpg': np.array([b + [0.9], [200, 10, 20, 20, 0.7], a + [0.5]])}}
    expected = dict(easy=1 / 2, medium=5 / 6, hard=5 / 6)
    assert evaluate_widerface_events(pred, events) == pytest.approx(expected)


def test_a_second_hit_on_the_same_face_is_a_false_positive():
    """a1 on A (0.9), a2 on A again (0.6), b on B (0.3): same curve as above, AP = 5/6."""
    a, b = [10, 10, 20, 20], [60, 60, 20, 20]
    events = [WiderEvalEvent('0--P', [_img('x', [a, b])])]
    pred = {'0--P': {'x': np.array([a + [0.9], [11, 10, 20, 20, 0.6], b + [0.3]])}}
    assert evaluate_widerface_events(pred, events)['hard'] == pytest.approx(5 / 6)


def test_images_without_predictions_count_their_faces_as_missed():
    """Two images with one face each, only the first predicted (perfectly): P 1 up to R 1/2."""
    events = [WiderEvalEvent('0--P', [_img('a', [[0, 0, 9, 9]]), _img('b', [[5, 5, 9, 9]])]),
              WiderEvalEvent('1--Q', [_img('c', [])])]
    pred = {'0--P': {'a': np.array([[0, 0, 9, 9, 0.8]])}}  # event 1--Q absent entirely
    assert evaluate_widerface_events(pred, events) == pytest.approx(dict(easy=0.5, medium=0.5, hard=0.5))


def test_scores_are_min_max_normalised():
    events = [WiderEvalEvent('0--P', [_img('a', [[0, 0, 20, 20], [40, 0, 20, 20], [80, 0, 20, 20]])])]
    boxes = np.array([[0, 0, 20, 20, 0.9], [300, 0, 20, 20, 0.8], [40, 0, 20, 20, 0.5], [80, 0, 20, 20, 0.1]])
    base = evaluate_widerface_events({'0--P': {'a': boxes}}, events)
    scaled = boxes.copy()
    scaled[:, 4] = scaled[:, 4] * 37 - 5  # logits-like range: same order, so the same AP
    assert evaluate_widerface_events({'0--P': {'a': scaled}}, events) == pytest.approx(base)
    shuffled = scaled[[2, 0, 3, 1]]       # input order does not matter: predictions are sorted
    assert evaluate_widerface_events({'0--P': {'a': shuffled}}, events) == pytest.approx(base)


def test_bad_prediction_arrays_are_rejected():
    events = [WiderEvalEvent('0--P', [_img('a', [[0, 0, 9, 9]])])]
    with pytest.raises(ValueError, match=r'0--P/a: expected a finite \(N, 5\)'):
        evaluate_widerface_events({'0--P': {'a': np.zeros((2, 4))}}, events)
    with pytest.raises(ValueError, match='finite'):
        evaluate_widerface_events({'0--P': {'a': np.array([[0, 0, 9, 9, np.nan]])}}, events)


def test_a_setting_without_faces_is_nan_with_a_warning():
    events = [WiderEvalEvent('0--P', [_img('a', [[0, 0, 9, 9]], easy=[])])]
    with pytest.warns(UserWarning, match='easy setting keeps no face'):
        aps = evaluate_widerface_events({'0--P': {'a': np.array([[0, 0, 9, 9, 1.0]])}}, events)
    assert np.isnan(aps['easy']) and aps['hard'] == pytest.approx(1.0)


# --- a loop-for-loop transcription of the official algorithm as the reference --------------------


def _reference(pred, events, iou_thresh=0.5, thresh_num=1000):
    """The official evaluation written as its loops (MATLAB norm_score/read_pred sorting)."""
    norm, lo, hi = {}, np.inf, -np.inf
    for ev in events:
        for img in ev.images:
            p = pred.get(ev.name, {}).get(img.name)
            if p is not None and len(p):
                p = p[np.argsort(-p[:, 4], kind='stable')].copy()
                norm[(ev.name, img.name)] = p
                lo, hi = min(lo, p[:, 4].min()), max(hi, p[:, 4].max())
    for p in norm.values():
        p[:, 4] = (p[:, 4] - lo) / (hi - lo) if hi > lo else 1.0
    aps = {}
    for setting in ALL:
        curve, count_face = np.zeros((thresh_num, 2)), 0
        for ev in events:
            for img in ev.images:
                keep_index = img.keep[setting]
                count_face += len(keep_index)
                p = norm.get((ev.name, img.name))
                if len(img.boxes) == 0 or p is None:
                    continue
                ignore = np.zeros(len(img.boxes))
                ignore[keep_index] = 1
                pr = p.copy()
                pr[:, 2:4] += pr[:, :2]
                gt = img.boxes.copy()
                gt[:, 2:4] += gt[:, :2]
                overlaps = bbox_overlaps(pr[:, :4], gt)
                recall_list, proposal_list = np.zeros(len(gt)), np.ones(len(pr))
                pred_recall = np.zeros(len(pr))
                for h in range(len(pr)):
                    idx = overlaps[h].argmax()
                    if overlaps[h, idx] >= iou_thresh:
                        if ignore[idx] == 0:
                            recall_list[idx] = -1
                            proposal_list[h] = -1
                        elif recall_list[idx] == 0:
                            recall_list[idx] = 1
                    pred_recall[h] = (recall_list == 1).sum()
                for t in range(thresh_num):
                    r = np.where(p[:, 4] >= 1 - (t + 1) / thresh_num)[0]
                    if len(r):
                        curve[t, 0] += (proposal_list[:r[-1] + 1] == 1).sum()
                        curve[t, 1] += pred_recall[r[-1]]
        precision = np.array([c[1] / c[0] if c[0] else 0.0 for c in curve])
        aps[setting] = voc_ap(curve[:, 1] / count_face, precision)
    return aps


@st.composite
def _cases(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    events, pred = [], {}
    for e in range(draw(st.integers(1, 3))):
        images = []
        for j in range(draw(st.integers(1, 3))):
            k = int(rng.integers(0, 6))
            gt = np.column_stack([rng.integers(0, 80, (k, 2)), rng.integers(1, 30, (k, 2))]).astype(float)
            hard = np.flatnonzero(rng.random(k) < 0.8)
            medium = hard[rng.random(len(hard)) < 0.7]
            easy = medium[rng.random(len(medium)) < 0.6]
            images.append(WiderEvalImage(f'i{j}', gt, dict(easy=easy, medium=medium, hard=hard)))
            n_hits, n_miss = int(rng.integers(0, k + 2)), int(rng.integers(0, 4))
            hits = (gt[rng.integers(0, k, n_hits)] + rng.normal(0, 3, (n_hits, 4))) if k else np.zeros((0, 4))
            miss = np.column_stack([rng.integers(0, 100, (n_miss, 2)), rng.integers(1, 30, (n_miss, 2))])
            boxes = np.concatenate([hits, miss]).reshape(-1, 4)
            scores = np.round(rng.random(len(boxes)), 2)  # rounding makes ties, which sort stably
            pred.setdefault(f'{e}--E', {})[f'i{j}'] = np.column_stack([boxes, scores])
        events.append(WiderEvalEvent(f'{e}--E', images))
    return pred, events


@settings(max_examples=40, deadline=None)
@given(_cases())
def test_matches_a_loop_transcription_of_the_official_code(case):
    pred, events = case
    if not all(sum(len(i.keep[s]) for e in events for i in e.images) for s in ALL):
        return  # a setting without faces has no AP (tested above)
    assert evaluate_widerface_events(pred, events) == pytest.approx(_reference(pred, events), abs=1e-12)


# --- the ground-truth files ---------------------------------------------------------------------


def test_mat_round_trip_and_evaluate_from_a_folder(tmp_path):
    events = [WiderEvalEvent('0--P', [_img('a', [[10, 10, 20, 20], [60, 60, 20, 20]], easy=[0]),
                                      _img('b', [])]),
              WiderEvalEvent('1--Q', [_img('c', [[5, 5, 30, 40]], easy=[], medium=[])])]
    write_widerface_gt_mats(str(tmp_path), events)
    back = load_widerface_gt(str(tmp_path))
    assert [e.name for e in back] == ['0--P', '1--Q']
    for e0, e1 in zip(events, back):
        assert [i.name for i in e1.images] == [i.name for i in e0.images]
        for i0, i1 in zip(e0.images, e1.images):
            np.testing.assert_array_equal(i1.boxes, i0.boxes)
            for s in ALL:
                np.testing.assert_array_equal(i1.keep[s], i0.keep[s])
    pred = {'0--P': {'a': np.array([[10, 10, 20, 20, 0.9]])}, '1--Q': {'c': np.array([[5, 5, 30, 40, 0.4]])}}
    # easy keeps 1 face (hit); medium 2 (a's first and second: one hit); hard 3 (two hits).
    assert evaluate_widerface(pred, str(tmp_path)) == pytest.approx(dict(easy=1.0, medium=0.5, hard=2 / 3))


def test_missing_ground_truth_folder_names_the_files(tmp_path):
    with pytest.raises(FileNotFoundError, match=r'wider_face_val\.mat: not found; .*wider_easy_val\.mat'):
        load_widerface_gt(str(tmp_path))
