"""Frame labels of TIMIT: 48 phones x 3 HMM states = 144 classes.

The phone of a frame is the ``.PHN`` segment holding the frame's centre sample
(``q`` segments are given to the phone before them). The state inside each phone
segment comes from

* ``gmm``: a monophone GMM-HMM — one three-state left-to-right HMM per phone with
  diagonal Gaussian states (hmmlearn ``GaussianHMM``, EM on every training segment
  of the phone, MFCC + delta features computed from the same log-mels), then a
  Viterbi state alignment of each segment that starts in the first state and ends
  in the last (segments shorter than three frames, and phones with too few
  training frames, fall back to equal thirds);
* ``equal``: equal thirds of the segment.
"""
from __future__ import annotations

import logging
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from scipy.fft import dct

from tfaudio.errors import ConfigError

log = logging.getLogger(__name__)

STATES = 3
ALIGNMENTS = ("gmm", "equal")
_MIN_FRAMES = 30  # training frames a phone needs for its own HMM


def frame_phone_index(segments: Sequence[Tuple[int, int, str]], num_frames: int, frame_length: int,
                      frame_step: int) -> np.ndarray:
    """Index into ``segments`` of each frame (the segment holding its centre sample;
    frames past the last segment take the last one)."""
    centres = np.arange(num_frames) * frame_step + frame_length // 2
    ends = np.array([e for _, e, _ in segments])
    return np.minimum(np.searchsorted(ends, centres, side="right"), len(segments) - 1)


def drop_q(segments: Sequence[Tuple[int, int, str]]) -> List[Tuple[int, int, str]]:
    """Remove glottal stops: a ``q`` segment's samples go to the phone before it
    (to the one after it at the very start)."""
    out: List[list] = []
    pending_start = None
    for s, e, lab in segments:
        if lab == "q":
            if out:
                out[-1][1] = e
            elif pending_start is None:
                pending_start = s
            continue
        if pending_start is not None:
            s, pending_start = pending_start, None
        out.append([s, e, lab])
    return [tuple(x) for x in out]


def equal_states(n: int) -> np.ndarray:
    """Equal thirds: state ``floor(3 t / n)`` of frame t of an ``n``-frame segment."""
    return np.minimum((STATES * np.arange(n)) // max(n, 1), STATES - 1).astype(np.int32)


def mfcc(logmel: np.ndarray, n: int) -> np.ndarray:
    """Cepstra (DCT-II of the log-mels, first ``n``) plus their deltas, ``[frames, 2 n]``."""
    c = dct(np.asarray(logmel, np.float64), type=2, norm="ortho", axis=-1)[:, :n]
    d = np.gradient(c, axis=0) if len(c) > 1 else np.zeros_like(c)
    return np.concatenate([c, d], axis=1)


def _diag_loglik(x: np.ndarray, means: np.ndarray, variances: np.ndarray) -> np.ndarray:
    """``[frames, states]`` log N(x; mean_s, diag(var_s))."""
    diff = x[:, None, :] - means[None]
    return -0.5 * (np.sum(diff * diff / variances[None], -1) + np.sum(np.log(2 * np.pi * variances), -1)[None])


def forced_states(loglik: np.ndarray, log_trans: np.ndarray) -> np.ndarray:
    """Viterbi state path through a left-to-right HMM that starts in state 0 and ends
    in the last state, for ``loglik [frames, states]``; needs frames >= states."""
    t_max, k = loglik.shape
    delta = np.full(k, -np.inf)
    delta[0] = loglik[0, 0]
    back = np.zeros((t_max, k), np.int32)
    for t in range(1, t_max):
        cand = delta[:, None] + log_trans  # from i (rows) to j (cols)
        back[t] = np.argmax(cand, axis=0)
        delta = cand[back[t], np.arange(k)] + loglik[t]
    path = np.zeros(t_max, np.int32)
    path[-1] = k - 1
    for t in range(t_max - 1, 0, -1):
        path[t - 1] = back[t, path[t]]
    return path


class PhoneAligner:
    """One three-state left-to-right HMM per phone (hmmlearn), trained on segments."""

    def __init__(self, iterations: int = 10, seed: int = 0):
        self.iterations, self.seed = iterations, seed
        self.models: Dict[str, object] = {}

    def fit(self, segments: Dict[str, List[np.ndarray]]) -> "PhoneAligner":
        from hmmlearn.hmm import GaussianHMM

        logging.getLogger("hmmlearn").setLevel(logging.ERROR)
        for phone in sorted(segments):
            segs = [s for s in segments[phone] if len(s) >= STATES]
            if sum(len(s) for s in segs) < _MIN_FRAMES:
                continue
            m = GaussianHMM(n_components=STATES, covariance_type="diag", n_iter=self.iterations,
                            params="stmc", init_params="mc", random_state=self.seed)
            m.startprob_ = np.array([1.0, 0.0, 0.0])
            m.transmat_ = np.array([[0.5, 0.5, 0.0], [0.0, 0.5, 0.5], [0.0, 0.0, 1.0]])
            m.fit(np.concatenate(segs), [len(s) for s in segs])
            self.models[phone] = m
        return self

    def states(self, phone: str, x: np.ndarray) -> np.ndarray:
        m = self.models.get(phone)
        if m is None or len(x) < STATES:
            return equal_states(len(x))
        variances = np.diagonal(m.covars_, axis1=1, axis2=2)
        with np.errstate(divide="ignore"):
            log_trans = np.log(m.transmat_)
        return forced_states(_diag_loglik(x, m.means_, variances), log_trans)


def frame_states(utterances: Sequence[dict], method: str, aligner: Optional[PhoneAligner] = None,
                 n_mfcc: int = 13) -> List[np.ndarray]:
    """State (0..2) of every frame of each utterance. Each utterance is a dict with
    ``logmel [frames, mels]``, ``seg_index [frames]`` and ``phones48 [segments]``."""
    if method not in ALIGNMENTS:
        raise ConfigError(f"data.alignment {method!r}: use one of {', '.join(ALIGNMENTS)}")
    out = []
    for u in utterances:
        idx = u["seg_index"]
        states = np.zeros(len(idx), np.int32)
        feats = mfcc(u["logmel"], n_mfcc) if method == "gmm" else None
        bounds = np.flatnonzero(np.diff(idx)) + 1
        for run in np.split(np.arange(len(idx)), bounds):
            if len(run) == 0:
                continue
            if method == "equal":
                states[run] = equal_states(len(run))
            else:
                states[run] = aligner.states(u["phones48"][idx[run[0]]], feats[run])
        out.append(states)
    return out


def train_aligner(utterances: Sequence[dict], iterations: int, n_mfcc: int, seed: int) -> PhoneAligner:
    segs: Dict[str, List[np.ndarray]] = {}
    for u in utterances:
        feats = mfcc(u["logmel"], n_mfcc)
        idx = u["seg_index"]
        bounds = np.flatnonzero(np.diff(idx)) + 1
        for run in np.split(np.arange(len(idx)), bounds):
            if len(run):
                segs.setdefault(u["phones48"][idx[run[0]]], []).append(feats[run])
    return PhoneAligner(iterations, seed).fit(segs)
