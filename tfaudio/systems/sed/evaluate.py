"""SED evaluation with the field's libraries, the paper's Table 1 and per-clip plots.

* Event-based macro F1 — ``sed_eval.sound_event.EventBasedMetrics`` with the DCASE
  collars: onset 200 ms, offset max(200 ms, 20 % of the event)
  (``t_collar=0.2, percentage_of_length=0.2``; the library's default 0.5 is not DCASE's).
* Segment-based macro F1 — ``sed_eval.sound_event.SegmentBasedMetrics`` over 1 s segments.
* PSDS1 / PSDS2 — ``sed_scores_eval.intersection_based.psds`` on the raw frame scores
  with the DCASE settings (:data:`PSDS1`, :data:`PSDS2`).

Only clips present on disk are scored; every result records how many were (``n clips``).
"""
from __future__ import annotations

import logging
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence

import numpy as np
import pandas as pd

from tfaudio.config import merge
from tfaudio.datasets.dcase import write_missing
from tfaudio.evaluation.tables import write_table
from tfaudio.systems.sed import postprocess as P
from tfaudio.systems.sed import run as R
from tfaudio.systems.sed.config import METHOD_NAMES, RUNS
from tfaudio.training import core
from tfaudio.systems.sed.config import SEDPostConfig
from tfaudio.systems.sed.data import Part, SEDData, eval_batches
from tfaudio.systems.sed.plots import plot_clip

log = logging.getLogger(__name__)

PSDS1 = dict(dtc_threshold=0.7, gtc_threshold=0.7, cttc_threshold=None, alpha_ct=0.0, alpha_st=1.0, max_efpr=100.0)
PSDS2 = dict(dtc_threshold=0.1, gtc_threshold=0.1, cttc_threshold=0.3, alpha_ct=0.5, alpha_st=1.0, max_efpr=100.0)
#: the paper's Table 1 (event-based, segment-based macro F1 %, DCASE 2019 validation)
PAPER = {"baseline": (24.15, 57.70), "adv-whole": (30.65, 59.06), "adv-time": (31.33, 59.26),
         "tri": (30.23, 62.86), "tri-adv-whole": (32.64, 60.48), "tri-adv-time": (35.10, 60.67)}
DCASE2019_BASELINE = (23.7, 55.2)


def _container(events: Mapping[str, Sequence[P.Event]], files: Sequence[str]):
    import dcase_util

    return dcase_util.containers.MetaDataContainer(
        [{"filename": f, "onset": float(on), "offset": float(off), "event_label": lab}
         for f in files for on, off, lab in events.get(f, [])])


def sed_eval_f1(reference: Mapping[str, Sequence[P.Event]], estimated: Mapping[str, Sequence[P.Event]],
                classes: Sequence[str], durations: Mapping[str, float]) -> Dict[str, float]:
    """Event-based (DCASE collars) and segment-based (1 s) macro F1 with sed_eval, per file."""
    import sed_eval

    files = list(durations)
    ref, est = _container(reference, files), _container(estimated, files)
    event = sed_eval.sound_event.EventBasedMetrics(event_label_list=list(classes), t_collar=0.2,
                                                   percentage_of_length=0.2)
    segment = sed_eval.sound_event.SegmentBasedMetrics(event_label_list=list(classes), time_resolution=1.0)
    for f in files:
        r, e = ref.filter(filename=f), est.filter(filename=f)
        event.evaluate(reference_event_list=r, estimated_event_list=e)
        segment.evaluate(reference_event_list=r, estimated_event_list=e, evaluated_length_seconds=durations[f])
    with warnings.catch_warnings():
        # no class with a reference or detected event: the macro F1 is NaN (the table says nan)
        warnings.filterwarnings("ignore", "Mean of empty slice", RuntimeWarning)
        ev = event.results_class_wise_average_metrics()["f_measure"]["f_measure"]
        seg = segment.results_class_wise_average_metrics()["f_measure"]["f_measure"]
    return {"event_f1": float(ev), "segment_f1": float(seg)}


def merge_connected(events: Sequence[P.Event]) -> List[P.Event]:
    """Same-class events that touch or overlap as one event (what PSDS requires)."""
    out: List[P.Event] = []
    for on, off, lab in sorted(events, key=lambda e: (e[2], e[0])):
        if out and out[-1][2] == lab and on <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], off), lab)
        else:
            out.append((on, off, lab))
    return sorted(out)


@contextmanager
def _writable_arrays():
    """sed_scores_eval 0.0.4 passes ``DataFrame.to_numpy()`` results to a Cython
    function that needs writable buffers; under pandas >= 3 (copy-on-write) those
    arrays are read-only. Copy them for the duration of the call."""
    from sed_scores_eval.base_modules import statistics

    original = statistics.onset_offset_curves

    def copied(*args, **kwargs):
        args = [np.array(a) if isinstance(a, np.ndarray) else a for a in args]
        return original(*args, **kwargs)

    statistics.onset_offset_curves = copied
    try:
        yield
    finally:
        statistics.onset_offset_curves = original


def psds(frame_scores: Mapping[str, np.ndarray], hop: float, classes: Sequence[str],
         reference: Mapping[str, Sequence[P.Event]], durations: Mapping[str, float]) -> Dict[str, float]:
    """PSDS1 and PSDS2 with sed_scores_eval from frame scores ``[T, K]`` per file."""
    from sed_scores_eval.base_modules.scores import create_score_dataframe
    from sed_scores_eval.intersection_based import psds as psds_fn

    present = sorted({e[2] for f in frame_scores for e in reference.get(f, [])}, key=list(classes).index)
    if not present:
        return {"psds1": float("nan"), "psds2": float("nan")}
    if len(present) < len(classes):  # PSDS is defined over classes with reference events
        log.warning("PSDS over the %d of %d classes with reference events (absent: %s)", len(present),
                    len(classes), sorted(set(classes) - set(present)))
    cols = [list(classes).index(c) for c in present]
    scores = {f: create_score_dataframe(np.asarray(s, np.float64)[:, cols], np.arange(len(s) + 1) * hop, present)
              for f, s in frame_scores.items()}
    gt = {f: merge_connected(reference.get(f, [])) for f in scores}
    durs = {f: max(float(durations[f]), len(frame_scores[f]) * hop) for f in scores}
    with _writable_arrays():
        return {"psds1": float(psds_fn(scores, gt, durs, **PSDS1)[0]),
                "psds2": float(psds_fn(scores, gt, durs, **PSDS2)[0])}


def score_part(frame_probs: np.ndarray, part: Part, classes: Sequence[str], hop: float, clip_seconds: float,
               post: SEDPostConfig) -> Dict[str, float]:
    """Every metric of a set of clips from their frame probabilities ``[N, T, K]``."""
    durations = {f: clip_seconds for f in part.files}
    reference = {f: part.events.get(f, []) for f in part.files}
    estimated = {f: P.decode(frame_probs[i], classes, hop, post.threshold, post.median_frames,
                             post.min_event_seconds) for i, f in enumerate(part.files)}
    out = {"n_clips": len(part.files)}
    if not part.files:
        return {**out, "event_f1": float("nan"), "segment_f1": float("nan"), "psds1": float("nan"), "psds2": float("nan")}
    out.update(sed_eval_f1(reference, estimated, classes, durations))
    out.update(psds({f: frame_probs[i] for i, f in enumerate(part.files)}, hop, classes, reference, durations))
    return out


def predict_frames(detector, part: Part, batch_size: int = 32) -> np.ndarray:
    """Frame probabilities ``[N, T', K]``; one graph per detector (any batch size)."""
    import tensorflow as tf

    from tfaudio.data.pipeline import graph_fn

    spec = tf.TensorSpec([None, *part.arrays["features"].shape[1:]], tf.float32)
    fn = graph_fn(detector, lambda x: detector(x, training=False)["frame"], input_signature=[spec],
                  name=f"frames{tuple(spec.shape[1:])}")
    out = [fn(b["features"]).numpy() for b in eval_batches(part, batch_size)]
    return np.concatenate(out) if out else np.zeros((0,), np.float32)


def evaluate_run(run_dir, data_dir: Optional[str] = None, runs: Optional[Sequence[str]] = None, out_dir=None,
                 table: Optional[int] = 1, plots: Optional[int] = None, progress: bool = True,
                 say=print, skip_bad_files: bool = False) -> Dict[str, Path]:
    """Score every trained run of ``run_dir`` on the validation set (and the held-out
    synthetic clips, for the domain gap); write Table 1, the domain-gap table and one
    plot per validation clip (``plots`` limits how many; None: all)."""
    run_dir = Path(run_dir)
    cfg, classes = R.load_run_config(run_dir)
    if data_dir:
        cfg = merge(cfg, {"data": {"data_dir": str(data_dir)}})
    cfg = merge(cfg, {"data": {"skip_bad_files": bool(skip_bad_files)}})
    trained = R.trained_runs(run_dir)
    runs = [r for r in (runs or RUNS) if r in trained]
    if not runs:
        raise core.RunDirError(f"{run_dir}: no trained run to evaluate (train one first)")
    data = SEDData(cfg, progress=progress)
    if data.classes != list(classes):
        raise core.RunDirError(f"{run_dir} was trained on classes {classes}, the data has {data.classes}")
    sets = data.sets()
    out_dir = Path(out_dir) if out_dir else run_dir / "eval"
    written: Dict[str, Path] = {}
    rows, gap, frames_by_run = {}, {}, {}
    from tqdm.auto import tqdm

    for run in tqdm(runs, desc="score runs", disable=not progress, leave=False):
        det = R.load_detector(run_dir, run, cfg, data.num_frames)
        probs = predict_frames(det, sets["validation"], cfg.train.batch_size)
        frames_by_run[run] = probs
        m = score_part(probs, sets["validation"], classes, data.hop, cfg.data.clip_seconds, cfg.post)
        syn = score_part(predict_frames(det, sets["synthetic_dev"], cfg.train.batch_size), sets["synthetic_dev"],
                         classes, data.hop, cfg.data.clip_seconds, cfg.post)
        pe, ps = PAPER[run]
        rows[METHOD_NAMES[run]] = {"Event F1 (%)": 100 * m["event_f1"], "Segment F1 (%)": 100 * m["segment_f1"],
                                     "PSDS1": m["psds1"], "PSDS2": m["psds2"], "n clips": m["n_clips"],
                                     "Paper event F1 (%)": pe, "Paper segment F1 (%)": ps}
        gap[METHOD_NAMES[run]] = {"Synthetic event F1 (%)": 100 * syn["event_f1"],
                                    "Real event F1 (%)": 100 * m["event_f1"],
                                    "Synthetic segment F1 (%)": 100 * syn["segment_f1"],
                                    "Real segment F1 (%)": 100 * m["segment_f1"],
                                    "n synthetic": syn["n_clips"], "n real": m["n_clips"]}
    # the non-neural reference: frame-level logistic regression on the same features,
    # the same training split, post-processing and scorers
    import time

    from tfaudio.systems.sed import baseline as B
    from tfaudio.systems.sed import model as M

    start = time.perf_counter()
    lr = B.fit([sets["S"], sets["W"]], M.time_pool(cfg.model), data.out_frames, seed=cfg.data.seed)
    m = score_part(lr.predict(sets["validation"]), sets["validation"], classes, data.hop, cfg.data.clip_seconds,
                   cfg.post)
    syn = score_part(lr.predict(sets["synthetic_dev"]), sets["synthetic_dev"], classes, data.hop,
                     cfg.data.clip_seconds, cfg.post)
    say(f"{B.NAME}: fit on {lr.n_frames} of {lr.n_available} training frames (S strong, W weak labels "
        f"broadcast to frames) and scored in {time.perf_counter() - start:.1f} s")
    rows[B.NAME] = {"Event F1 (%)": 100 * m["event_f1"], "Segment F1 (%)": 100 * m["segment_f1"],
                    "PSDS1": m["psds1"], "PSDS2": m["psds2"], "n clips": m["n_clips"],
                    "Paper event F1 (%)": float("nan"), "Paper segment F1 (%)": float("nan")}
    gap[B.NAME] = {"Synthetic event F1 (%)": 100 * syn["event_f1"], "Real event F1 (%)": 100 * m["event_f1"],
                   "Synthetic segment F1 (%)": 100 * syn["segment_f1"], "Real segment F1 (%)": 100 * m["segment_f1"],
                   "n synthetic": syn["n_clips"], "n real": m["n_clips"]}
    lr_note = (f" {B.NAME}: one logistic regression per class on the log-mel features mean-pooled to the "
               f"CRNN's output frames and standardised, fit on {lr.n_frames} training frames (drawn from the "
               f"{lr.n_available} of the strongly labelled synthetic clips and the weakly labelled clips, clip "
               f"labels broadcast to frames; at most {B.MAX_FRAMES}); the same post-processing and scorers.")
    vsub = data.ds.subsets["validation"]
    listed = len(vsub.files) + len(vsub.missing) + len(vsub.skipped)
    t1 = pd.DataFrame(rows).T
    t1["n clips"] = t1["n clips"].astype(int)
    t1.index.name = "Model"
    note = (f"Scored on {len(sets['validation'])} of {listed} validation clips listed in the metadata (the others are "
            f"missing, unreadable or with bad labels; listed in skipped_files.tsv). Event F1: sed_eval, collars 200 ms / 20 %; "
            f"segment F1: 1 s; PSDS: sed_scores_eval, DCASE settings. Paper columns: the paper's Table 1 on the "
            f"full DCASE 2019 validation set, where the official DCASE 2019 baseline scores "
            f"{DCASE2019_BASELINE[0]} % event F1 and {DCASE2019_BASELINE[1]} % segment F1." + lr_note
            + f" Data: {data.root}.")
    written["skipped_files.tsv"] = write_missing(out_dir / "skipped_files.tsv", data.skipped)
    if table == 1:
        written.update(write_table(t1, out_dir, "table1", note=note, decimals=2))
    g = pd.DataFrame(gap).T
    g[["n synthetic", "n real"]] = g[["n synthetic", "n real"]].astype(int)
    g.index.name = "Model"
    written.update(write_table(g, out_dir, "domain_gap", decimals=2,
                               note="Held-out synthetic clips (strong labels, never trained on) vs the real-domain "
                                    "validation set." + lr_note))
    if plots is None or plots > 0:
        best = max(runs, key=lambda r: rows[METHOD_NAMES[r]]["Event F1 (%)"])
        part = sets["validation"]
        chosen = part.files if plots is None else part.files[:plots]
        for i, f in enumerate(tqdm(chosen, desc="plots", disable=not progress, leave=False)):
            det_ev = P.decode(frames_by_run[best][i], classes, data.hop, cfg.post.threshold, cfg.post.median_frames,
                              cfg.post.min_event_seconds)
            written[f"plots/{Path(f).stem}.png"] = plot_clip(out_dir / "plots" / f"{Path(f).stem}.png",
                                                            frames_by_run[best][i], part.events.get(f, []), det_ev,
                                                            classes, data.hop, f"{f} — {METHOD_NAMES[best]}")
    say(f"scored {len(sets['validation'])} of {listed} validation clips listed in the metadata "
        f"({listed - len(sets['validation'])} missing, unreadable or with bad labels)")
    if "table1.md" in written:
        say("Table 1 (validation):\n" + written["table1.md"].read_text())
    say("Domain gap:\n" + written["domain_gap.md"].read_text())
    return written
