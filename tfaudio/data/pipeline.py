"""From a list of clips to tf.data: parallel decode, in-graph features, disk cache.

Fixed-length clip datasets (UrbanSound8K-style) go through three steps:

1. :func:`decode_clips` decodes files in a thread pool (libsndfile and soxr release
   the GIL), resamples, mixes to mono and pads/crops to the clip length; a bad file
   is an error naming it, or with ``skip_bad=True`` a warning listing every skipped
   file and why.
2. :func:`compute_features` runs the project's feature front-end (the same Keras
   layer that sits inside exported models) on batches of waveforms.
3. :func:`cached` stores the result under ``cache_root()/features/<key>.npz``, keyed by
   a hash of the file list (with sizes and mtimes), the front-end config and any
   corruption settings, so a second run skips decoding entirely.

:func:`to_dataset` turns arrays into a ``tf.data.Dataset`` of ``(features, label)``.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import weakref
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

from tfaudio.audio import AudioError, load_audio, pad_or_crop
from tfaudio.audio.io import too_short_reason
from tfaudio.data.cache import cache_root

log = logging.getLogger(__name__)


@dataclass
class Decoded:
    waves: np.ndarray  # [N, samples] float32
    kept: np.ndarray  # indices into the input list
    skipped: List[Tuple[str, str]] = field(default_factory=list)  # (path, reason)
    lengths: Optional[np.ndarray] = None  # [N] own samples of each clip before padding (<= samples)


def decode_files(
    paths: Sequence[str],
    sample_rate: int,
    skip_bad: bool = False,
    max_seconds: Optional[float] = None,
    workers: Optional[int] = None,
    progress: bool = True,
    desc: str = "decode",
    skip_flag: str = "--skip-bad-files",
    min_samples: int = 0,
) -> Tuple[List[Optional[np.ndarray]], List[Tuple[str, str]]]:
    """Decode files in a thread pool -> (wave or None per path, [(path, reason)] skipped).

    A bad file raises :class:`AudioError` naming it (and ``skip_flag``) unless
    ``skip_bad``; then it is None in the list and every skip is logged in one warning.
    A file shorter than ``min_samples`` (at ``sample_rate``) counts as bad.
    """

    def one(path):
        try:
            x = load_audio(path, sample_rate=sample_rate, max_seconds=max_seconds)
            if max_seconds is not None:
                x = x[: int(round(max_seconds * sample_rate))]
            if len(x) < min_samples:
                raise AudioError(path, too_short_reason(len(x), sample_rate, min_samples))
            return x, None
        except AudioError as exc:
            return None, exc

    workers = workers or min(8, (os.cpu_count() or 1) * 2)
    waves, skipped = [], []
    with ThreadPoolExecutor(workers) as pool:
        results = pool.map(one, paths)
        for wave, err in tqdm(results, total=len(paths), desc=desc, disable=not progress, leave=False):
            if err is not None:
                if not skip_bad:
                    raise AudioError(err.path, f"{err.reason} (pass {skip_flag} to skip it)")
                skipped.append((err.path, err.reason))
            waves.append(wave)
    if skipped:
        listing = "\n".join(f"  {p}: {r}" for p, r in skipped)
        log.warning("skipped %d unreadable file(s):\n%s", len(skipped), listing)
    return waves, skipped


def decode_clips(
    paths: Sequence[str],
    sample_rate: int,
    num_samples: int,
    skip_bad: bool = False,
    workers: Optional[int] = None,
    progress: bool = True,
    desc: str = "decode",
) -> Decoded:
    """Decode ``paths`` to ``[N, num_samples]`` float32 (zero padded / cropped); ``lengths``
    holds each clip's own sample count within that window (before the zero padding)."""
    waves, skipped = decode_files(paths, sample_rate, skip_bad, None, workers, progress, desc)
    kept = np.array([i for i, w in enumerate(waves) if w is not None], dtype=np.int64)
    out = np.zeros((len(kept), num_samples), np.float32)
    lengths = np.zeros(len(kept), np.int64)
    for row, i in enumerate(kept):
        out[row] = pad_or_crop(waves[i], num_samples)
        lengths[row] = min(len(waves[i]), num_samples)
    return Decoded(out, kept, skipped, lengths)


_GRAPH_FNS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


class _OwnTraceCount:
    """A callable that ``tf.function`` counts traces of on its own. TensorFlow keys its
    "triggered tf.function retracing" warning on a Python function's code, so the
    functions of many models built from one lambda (a sweep's stages, each traced
    once) would share one count and read as retracing; an object without code is its
    own key, and a genuine retrace of one model's function is still reported."""

    def __init__(self, fn):
        self.fn = fn

    def __call__(self, *args):
        return self.fn(*args)


def graph_fn(layer, method=None, input_signature=None, name: str = "call"):
    """One ``tf.function`` per (layer/model, name), traced once and reused on every
    call; ``method`` defaults to ``layer(x, training=False)``. Kept beside the layer
    (weakly), so it goes when the layer goes."""
    fns = _GRAPH_FNS.setdefault(layer, {})
    if name not in fns:
        call = method or (lambda x: layer(x, training=False))
        fns[name] = tf.function(_OwnTraceCount(call), input_signature=input_signature,
                                reduce_retracing=input_signature is None)
    return fns[name]


def compute_features(frontend, waves: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """Run a waveform -> features Keras layer over ``waves`` in batches."""
    fn = graph_fn(frontend, lambda x: frontend(x))
    out = [fn(tf.constant(waves[i : i + batch_size])).numpy() for i in range(0, len(waves), batch_size)]
    if not out:
        raise ValueError("no waveforms to compute features from")
    feats = np.concatenate(out).astype(np.float32)
    if not np.all(np.isfinite(feats)):
        raise FloatingPointError("feature front-end produced NaN/inf values")
    return feats


def file_fingerprint(paths: Sequence[str]) -> List:
    """(path, size, mtime) per file; missing files fingerprint as None."""
    out = []
    for p in paths:
        try:
            st = os.stat(p)
            out.append((str(p), st.st_size, int(st.st_mtime)))
        except OSError:
            out.append((str(p), None, None))
    return out


def cache_key(**parts) -> str:
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:20]


def skipped_arrays(skipped: Sequence[Tuple[str, str]]) -> dict:
    """What :func:`cached` stores about the files a build skipped (plain str arrays)."""
    return {"skipped_paths": np.array([p for p, _ in skipped], dtype=str),
            "skipped_reasons": np.array([r for _, r in skipped], dtype=str)}


def skipped_of(arrays: dict) -> List[Tuple[str, str]]:
    """``[(path, reason)]`` skipped when ``arrays`` were built (empty for older caches)."""
    if "skipped_paths" not in arrays:
        return []
    return list(zip(arrays["skipped_paths"].tolist(), arrays["skipped_reasons"].tolist()))


def cached(key: str, build: Callable[[], dict], enabled: bool = True) -> dict:
    """Load ``<cache>/features/<key>.npz`` or build it (a dict of arrays) and store it.

    Files the build skipped (``skipped_arrays``) are stored with the entry and
    reported again on every load, so a skip is never silent because features came
    from the cache."""
    if not enabled:
        return build()
    path = cache_root() / "features" / f"{key}.npz"
    if path.exists():
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
        skipped = skipped_of(arrays)
        if skipped:
            listing = "\n".join(f"  {p}: {r}" for p, r in skipped)
            log.warning("%d file(s) were skipped when these cached features were built:\n%s",
                        len(skipped), listing)
        return arrays
    arrays = build()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{key}.", suffix=".npz", dir=path.parent)
    os.close(fd)
    try:
        np.savez(tmp, **arrays)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return arrays


def to_dataset(features: np.ndarray, labels: np.ndarray) -> tf.data.Dataset:
    """``(features [frames, bins] float32, label int32)`` examples."""
    return tf.data.Dataset.from_tensor_slices(
        (features.astype(np.float32), labels.astype(np.int32))
    )
