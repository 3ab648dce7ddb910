"""Metrics agree with sed_eval and sed_scores_eval called directly; post-processing."""
import dcase_util
import numpy as np
import pytest
import sed_eval
from sed_scores_eval.base_modules.scores import create_score_dataframe
from sed_scores_eval.intersection_based import psds as psds_direct

from tfaudio.systems.sed import evaluate as E
from tfaudio.systems.sed import postprocess as P
from tfaudio.systems.sed.config import SEDPostConfig
from tfaudio.systems.sed.data import Part

CLASSES = ["Dog", "Speech", "Cat"]
HOP = 0.1
REFERENCE = {
    "a.wav": [(1.0, 3.0, "Dog"), (2.0, 6.0, "Speech")],
    "b.wav": [(0.5, 1.5, "Cat"), (4.0, 9.0, "Speech")],
    "c.wav": [],
}
# detections: a close Dog, a late Speech onset, a false Cat, a missed Cat in b, a split Speech
SCORES = {}
_rng = np.random.default_rng(0)
for f, spans in {"a.wav": [(1.1, 3.1, 0), (2.6, 6.0, 1), (7.0, 8.0, 2)],
                 "b.wav": [(4.0, 6.0, 1), (6.3, 9.0, 1)], "c.wav": [(2.0, 2.5, 0)]}.items():
    s = 0.3 * _rng.random((100, 3))
    for on, off, k in spans:
        s[int(round(on / HOP)) : int(round(off / HOP)), k] = 0.6 + 0.3 * _rng.random()
    SCORES[f] = s


def _direct_sed_eval(estimated):
    def cont(ev):
        return dcase_util.containers.MetaDataContainer(
            [{"filename": f, "onset": on, "offset": off, "event_label": lab} for f in ev for on, off, lab in ev[f]])

    ref, est = cont(REFERENCE), cont(estimated)
    event = sed_eval.sound_event.EventBasedMetrics(event_label_list=CLASSES, t_collar=0.2, percentage_of_length=0.2)
    seg = sed_eval.sound_event.SegmentBasedMetrics(event_label_list=CLASSES, time_resolution=1.0)
    for f in REFERENCE:
        event.evaluate(ref.filter(filename=f), est.filter(filename=f))
        seg.evaluate(ref.filter(filename=f), est.filter(filename=f), evaluated_length_seconds=10.0)
    return (event.results_class_wise_average_metrics()["f_measure"]["f_measure"],
            seg.results_class_wise_average_metrics()["f_measure"]["f_measure"])


def test_f1_agrees_with_sed_eval_called_directly():
    estimated = {f: P.decode(s, CLASSES, HOP, 0.5, 1) for f, s in SCORES.items()}
    assert estimated["a.wav"][0] == (1.1, 3.1, "Dog")
    ours = E.sed_eval_f1(REFERENCE, estimated, CLASSES, {f: 10.0 for f in REFERENCE})
    ev, seg = _direct_sed_eval(estimated)
    assert ours["event_f1"] == pytest.approx(ev, abs=1e-12)
    assert ours["segment_f1"] == pytest.approx(seg, abs=1e-12)
    assert 0 < ours["event_f1"] < 1 and 0 < ours["segment_f1"] < 1


def test_dcase_collar_not_the_library_default():
    """A 2 s event detected 0.35 s late: outside DCASE's 200 ms onset collar, inside 0.5 x length
    for the offset; our event F1 must count it as a miss."""
    ref = {"x.wav": [(1.0, 3.0, "Dog")]}
    est = {"x.wav": [(1.35, 3.0, "Dog")]}
    assert E.sed_eval_f1(ref, est, ["Dog"], {"x.wav": 10.0})["event_f1"] == 0.0
    assert E.sed_eval_f1(ref, {"x.wav": [(1.15, 3.35, "Dog")]}, ["Dog"], {"x.wav": 10.0})["event_f1"] == 1.0


def test_psds_agrees_with_sed_scores_eval_called_directly():
    ours = E.psds(SCORES, HOP, CLASSES, REFERENCE, {f: 10.0 for f in SCORES})
    frames = {f: create_score_dataframe(s, np.arange(101) * HOP, CLASSES) for f, s in SCORES.items()}
    with E._writable_arrays():
        p1 = psds_direct(frames, REFERENCE, {f: 10.0 for f in SCORES}, dtc_threshold=0.7, gtc_threshold=0.7,
                         cttc_threshold=None, alpha_ct=0.0, alpha_st=1.0, max_efpr=100.0)[0]
        p2 = psds_direct(frames, REFERENCE, {f: 10.0 for f in SCORES}, dtc_threshold=0.1, gtc_threshold=0.1,
                         cttc_threshold=0.3, alpha_ct=0.5, alpha_st=1.0, max_efpr=100.0)[0]
    assert ours["psds1"] == pytest.approx(p1, abs=1e-12)
    assert ours["psds2"] == pytest.approx(p2, abs=1e-12)
    assert 0 < ours["psds1"] <= 1 and 0 < ours["psds2"] <= 1


def test_score_part_counts_present_clips():
    part = Part("validation", list(SCORES), {}, REFERENCE)
    probs = np.stack([SCORES[f] for f in part.files])
    m = E.score_part(probs, part, CLASSES, HOP, 10.0, SEDPostConfig(0.5, 1))
    assert m["n_clips"] == 3
    assert m["event_f1"] == pytest.approx(_direct_sed_eval({f: P.decode(SCORES[f], CLASSES, HOP) for f in SCORES})[0])


def test_median_filter_removes_short_gaps_and_blips():
    p = np.zeros((20, 1))
    p[3:12] = 0.9
    p[7] = 0.1  # a one-frame gap
    p[16] = 0.9  # a one-frame blip
    assert P.decode(p, ["x"], 0.5, 0.5, 1) == [(1.5, 3.5, "x"), (4.0, 6.0, "x"), (8.0, 8.5, "x")]
    assert P.decode(p, ["x"], 0.5, 0.5, 3) == [(1.5, 6.0, "x")]


def test_connected_reference_events_are_merged_for_psds():
    assert E.merge_connected([(1.0, 2.0, "a"), (1.5, 3.0, "a"), (1.0, 2.0, "b")]) == [(1.0, 2.0, "b"), (1.0, 3.0, "a")]


def test_psds_over_classes_with_reference_events_only():
    """A class without reference events is left out of PSDS (sed_scores_eval refuses it)."""
    ref = {f: [e for e in evs if e[2] != "Cat"] for f, evs in REFERENCE.items()}
    ours = E.psds(SCORES, HOP, CLASSES, ref, {f: 10.0 for f in SCORES})
    frames = {f: create_score_dataframe(s[:, :2], np.arange(101) * HOP, CLASSES[:2]) for f, s in SCORES.items()}
    with E._writable_arrays():
        p1 = psds_direct(frames, ref, {f: 10.0 for f in SCORES}, dtc_threshold=0.7, gtc_threshold=0.7,
                         cttc_threshold=None, alpha_ct=0.0, alpha_st=1.0, max_efpr=100.0)[0]
    assert ours["psds1"] == pytest.approx(p1, abs=1e-12)
