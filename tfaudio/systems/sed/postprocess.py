"""Frame probabilities -> events: threshold, median filter over frames, runs to events;
and the stitching of long recordings from overlapping fixed-length windows.

The same functions serve evaluation (``tfaudio-eval sed``) and ``tfaudio-detect``.
"""
from __future__ import annotations

from typing import Callable, List, Sequence, Tuple

import numpy as np
from scipy.ndimage import median_filter

Event = Tuple[float, float, str]


def binarize(frame_probs: np.ndarray, threshold: float = 0.5, median_frames: int = 1) -> np.ndarray:
    """``[T, K]`` probabilities -> ``[T, K]`` 0/1 activity: threshold, then a median
    filter of ``median_frames`` frames along time (per class)."""
    active = (np.asarray(frame_probs) > threshold).astype(np.uint8)
    if median_frames > 1 and len(active):
        active = median_filter(active, size=(int(median_frames), 1), mode="nearest")
    return active


def to_events(active: np.ndarray, classes: Sequence[str], hop: float, offset: float = 0.0,
              min_seconds: float = 0.0) -> List[Event]:
    """Runs of active frames -> ``(onset, offset, label)``, sorted by onset; frame j spans
    ``[offset + j * hop, offset + (j + 1) * hop)``."""
    events = []
    for k, label in enumerate(classes):
        a = np.concatenate([[0], active[:, k].astype(np.int8), [0]])
        d = np.diff(a)
        starts, ends = np.flatnonzero(d == 1), np.flatnonzero(d == -1)
        for s, e in zip(starts, ends):
            on, off = offset + s * hop, offset + e * hop
            if off - on >= min_seconds:
                events.append((round(float(on), 4), round(float(off), 4), label))
    return sorted(events)


def decode(frame_probs: np.ndarray, classes: Sequence[str], hop: float, threshold: float = 0.5,
           median_frames: int = 1, min_seconds: float = 0.0, offset: float = 0.0) -> List[Event]:
    return to_events(binarize(frame_probs, threshold, median_frames), classes, hop, offset, min_seconds)


def stitch(waveform: np.ndarray, window_samples: int, frame_samples: int, frames_per_window: int,
           score_fn: Callable[[np.ndarray], np.ndarray], hop_seconds: float, sample_rate: int,
           batch: int = 8) -> np.ndarray:
    """Frame scores ``[T, K]`` of a recording of any length from overlapping windows.

    Windows of ``window_samples`` start every ``step`` samples (``hop_seconds`` rounded
    to whole output frames, so every window's frames fall on one global frame grid);
    the last window is zero padded. Each output frame is taken from the window in
    which it lies most centrally (the window's edges, where the recurrent layers see
    the least context, are used only at the start and end of the recording).
    ``score_fn`` maps ``[n, window_samples]`` to ``[n, frames_per_window, K]``.
    """
    x = np.asarray(waveform, np.float32)
    n = len(x)
    step_frames = max(1, int(round(hop_seconds * sample_rate / frame_samples)))
    step_frames = min(step_frames, frames_per_window)
    step = step_frames * frame_samples
    total_frames = max(1, int(np.ceil(n / frame_samples)))
    starts = [0]
    while starts[-1] + window_samples < n:
        starts.append(starts[-1] + step)
    windows = np.zeros((len(starts), window_samples), np.float32)
    for i, s in enumerate(starts):
        piece = x[s : s + window_samples]
        windows[i, : len(piece)] = piece
    scores = np.concatenate([np.asarray(score_fn(windows[i : i + batch])) for i in range(0, len(windows), batch)])
    K = scores.shape[-1]
    out = np.zeros((total_frames, K), np.float32)
    best = np.full(total_frames, -np.inf)
    centre = (frames_per_window - 1) / 2.0
    for i, s in enumerate(starts):
        first = s // frame_samples
        j = np.arange(frames_per_window)
        g = first + j
        keep = g < total_frames
        # centrality: distance to the window's edge (larger is better)
        score = -np.abs(j - centre)
        if i == 0:
            score = np.where(j < centre, np.inf, score)  # the recording's start: only this window
        if i == len(starts) - 1:
            score = np.where(j > centre, np.inf, score)
        better = keep & (score > best[np.minimum(g, total_frames - 1)])
        out[g[better]] = scores[i, j[better]]
        best[g[better]] = score[better]
    return out
