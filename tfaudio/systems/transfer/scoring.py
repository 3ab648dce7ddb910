"""Scores of one trained model (and of the simple baseline rows) on its dev and test sets.

* ASR: FER = frame error over the 144 state classes; PER = edit distance of the
  decoded 39-phone string to the 39-phone reference over the reference length, with
  the acoustic scale and the insertion penalty chosen on dev (applied unchanged to
  test).
* SER (one LOSO fold): frame-level E (1 - accuracy) and UE (1 - unweighted average
  recall) over the five classes; utterance-level E and UE over the four emotions,
  an utterance's decision being the majority of its frame decisions with silence
  frames left out (all-silent: the emotion of the highest mean posterior).
"""
from __future__ import annotations

import logging
from typing import Dict, List, Sequence

import numpy as np
from sklearn.metrics import recall_score

from tfaudio.systems.transfer import data as D
from tfaudio.systems.transfer.decode import HybridDecoder, phone_error_rate

log = logging.getLogger(__name__)


def error(pred: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(np.asarray(pred) != np.asarray(labels))) if len(labels) else float("nan")


def unweighted_error(pred: np.ndarray, labels: np.ndarray) -> float:
    """1 - mean recall over the classes present in ``labels`` (scikit-learn)."""
    if not len(labels):
        return float("nan")
    return float(1.0 - recall_score(labels, pred, labels=np.unique(labels), average="macro", zero_division=0))


def utterance_decisions(post: np.ndarray, frames: D.Frames, silence: int = D.SILENCE) -> np.ndarray:
    out = np.zeros(frames.num_utterances, np.int64)
    for i in range(frames.num_utterances):
        p = post[frames.utterance(i)]
        dec = np.argmax(p, -1)
        votes = np.bincount(dec[dec != silence], minlength=silence)[:silence]
        out[i] = int(np.argmax(votes)) if votes.sum() else int(np.argmax(p[:, :silence].mean(0)))
    return out


def decode_all(decoder: HybridDecoder, post: np.ndarray, frames: D.Frames, scale: float, penalty: float) -> List[List[str]]:
    return [decoder.to39(decoder.decode(post[frames.utterance(i)], scale, penalty))
            for i in range(frames.num_utterances)]


def tune_decoder(decoder: HybridDecoder, post: np.ndarray, frames: D.Frames, scales: Sequence[float],
                 penalties: Sequence[float]) -> tuple:
    """``(scale, penalty, dev PER)`` with the lowest dev PER (first in grid order on ties)."""
    best = None
    for s in scales:
        for p in penalties:
            per = phone_error_rate(frames.extra["ref39"], decode_all(decoder, post, frames, s, p))
            if best is None or per < best[2]:
                best = (float(s), float(p), per)
    return best


def asr_scores(post: Dict[str, np.ndarray], sets: Dict[str, D.Frames], decoder: HybridDecoder, dcfg) -> dict:
    scale, penalty, per_dev = tune_decoder(decoder, post["dev"], sets["dev"], dcfg.acoustic_scales,
                                           dcfg.insertion_penalties)
    per_test = phone_error_rate(sets["test"].extra["ref39"], decode_all(decoder, post["test"], sets["test"], scale,
                                                                        penalty))
    out = {"fer_dev": error(np.argmax(post["dev"], -1), sets["dev"].labels),
           "fer_test": error(np.argmax(post["test"], -1), sets["test"].labels),
           "per_dev": per_dev, "per_test": per_test, "acoustic_scale": scale, "insertion_penalty": penalty}
    for k in ("dev", "test"):
        out[f"n_{k}_frames"] = int(len(sets[k].labels))
        out[f"n_{k}_utterances"] = int(sets[k].num_utterances)
        out[f"n_{k}_phones"] = int(sum(len(r) for r in sets[k].extra["ref39"]))
    return out


def ser_scores(post: Dict[str, np.ndarray], sets: Dict[str, D.Frames]) -> dict:
    out = {}
    for k in ("dev", "test"):
        f = sets[k]
        pred = np.argmax(post[k], -1)
        out[f"e_{k}"] = error(pred, f.labels)
        out[f"ue_{k}"] = unweighted_error(pred, f.labels)
        utt = utterance_decisions(post[k], f)
        ref = np.asarray(f.extra["emotion"])
        out[f"utt_e_{k}"] = error(utt, ref)
        out[f"utt_ue_{k}"] = unweighted_error(utt, ref)
        out[f"n_{k}_frames"] = int(len(f.labels))
        out[f"n_{k}_utterances"] = int(f.num_utterances)
    return out


# ----------------------------------------------------------------------------------
# simple baseline rows (same splits)
# ----------------------------------------------------------------------------------
def majority_posteriors(train: D.Frames, frames: D.Frames, k: int) -> np.ndarray:
    cls = int(np.argmax(np.bincount(train.labels, minlength=k)))
    p = np.full((len(frames.labels), k), 1e-6)
    p[:, cls] = 1.0
    return p / p.sum(1, keepdims=True)


def logreg_frame_posteriors(train: D.Frames, sets: Dict[str, D.Frames], k: int, seed: int = 0,
                            max_frames: int = 20000, max_iter: int = 400, tol: float = 1e-3) -> Dict[str, np.ndarray]:
    """Multinomial logistic regression on single standardised log-mel frames (no
    context), trained on at most ``max_frames`` evenly spaced training frames with
    L-BFGS (at most ``max_iter`` iterations, stopping at gradient tolerance ``tol``),
    which bounds its time. Should it stop before converging, one log line says so."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    step = max(1, -(-len(train.labels) // max_frames))
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=max_iter, tol=tol, random_state=seed))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        clf.fit(train.feats[::step], train.labels[::step])
    others = [w for w in caught if not issubclass(w.category, ConvergenceWarning)]
    for w in others:  # anything else is passed on unchanged
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if len(others) < len(caught):
        log.warning("frame logistic-regression baseline: stopped after %d L-BFGS iterations before converging "
                    "(tolerance %g); its row is that model's", max_iter, tol)
    out = {}
    for name, f in sets.items():
        p = np.full((len(f.labels), k), 1e-6)
        p[:, clf.classes_] = clf.predict_proba(f.feats)
        out[name] = p / p.sum(1, keepdims=True)
    return out


def utterance_logreg_scores(sets: Dict[str, D.Frames], seed: int = 0) -> dict:
    """The project's baseline (:class:`MelStatsLogReg`: logistic regression on each
    utterance's log-mel mean and std per band) for the four emotions at utterance level."""
    from tfaudio.evaluation.baselines import MelStatsLogReg

    def clips(f: D.Frames):
        return [f.feats[f.utterance(i)] for i in range(f.num_utterances)]

    clf = MelStatsLogReg(seed=seed).fit(clips(sets["train"]), np.asarray(sets["train"].extra["emotion"]))
    out = {}
    for k in ("dev", "test"):
        pred = clf.predict(clips(sets[k]))
        ref = np.asarray(sets[k].extra["emotion"])
        out[f"utt_e_{k}"], out[f"utt_ue_{k}"] = error(pred, ref), unweighted_error(pred, ref)
    return out
