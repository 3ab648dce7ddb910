"""Corpora -> frame arrays -> tf.data, for both tasks.

* ASR (:func:`timit_frames`): the TIMIT reader's train / dev / core-test sets,
  log-mels from the one front-end, 144-class frame labels (48 phones x 3 states,
  :mod:`.align`), the 48-phone sequences (bigram LM) and the 39-phone references.
* SER (:func:`iemocap_frames`): the IEMOCAP reader's four-emotion utterances,
  log-mels, every frame labelled with its utterance's emotion unless the energy VAD
  marks it silent (class 4, *silence*).
* :class:`Frames` keeps all frames of a corpus in one ``[N, mels]`` array with
  utterance offsets; a training example is a frame id, and its 31-frame window
  (clamped at the utterance's edges) is gathered inside the tf.data pipeline.

Without ``--data-dir`` both corpora are the embedded miniatures, generated once in
the real layouts under ``cache_root()/embedded/transfer/``; features and labels are
cached (keyed by the files, front-end, alignment and generator settings).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

from tfaudio.audio import AudioError, load_audio
from tfaudio.config import to_dict
from tfaudio.data.cache import build_once, embedded_dir
from tfaudio.data.pipeline import cache_key, cached, file_fingerprint, graph_fn, skipped_arrays, skipped_of
from tfaudio.datasets import iemocap, iemocap_embedded, timit, timit_embedded
from tfaudio.errors import ConfigError, DatasetError
from tfaudio.systems.transfer import align
from tfaudio.systems.transfer.config import TransferConfig
from tfaudio.systems.transfer.decode import HybridDecoder
from tfaudio.systems.transfer.model import make_frontend
from tfaudio.training import core

log = logging.getLogger(__name__)

DATA_VERSION = "transfer-data-1"
SILENCE = 4  # SER class of silent frames
SER_CLASSES = tuple(iemocap.EMOTIONS) + ("silence",)
ASR_CLASSES = tuple(f"{p}_{s}" for p in timit.PHONES_48 for s in range(align.STATES))


@dataclass
class Frames:
    """All frames of a set of utterances: ``feats [N, mels]`` (raw log-mel),
    ``labels [N]``, ``offsets [U + 1]``, ``uids [U]`` (+ task-specific fields)."""

    feats: np.ndarray
    labels: np.ndarray
    offsets: np.ndarray
    uids: List[str]
    extra: Dict[str, list] = field(default_factory=dict)

    @property
    def num_utterances(self) -> int:
        return len(self.uids)

    def utterance(self, i: int) -> slice:
        return slice(int(self.offsets[i]), int(self.offsets[i + 1]))

    def subset(self, rows: Sequence[int]) -> "Frames":
        rows = list(rows)
        parts = [self.utterance(i) for i in rows]
        lens = [s.stop - s.start for s in parts]
        feats = np.concatenate([self.feats[s] for s in parts]) if parts else self.feats[:0]
        labels = np.concatenate([self.labels[s] for s in parts]) if parts else self.labels[:0]
        extra = {k: [v[i] for i in rows] for k, v in self.extra.items()}
        return Frames(feats, labels, np.concatenate([[0], np.cumsum(lens)]).astype(np.int64),
                      [self.uids[i] for i in rows], extra)

    def bounds(self) -> tuple:
        """Per frame: first and one-past-last frame of its utterance."""
        lens = np.diff(self.offsets)
        return np.repeat(self.offsets[:-1], lens), np.repeat(self.offsets[1:], lens)

    def stats(self) -> tuple:
        """Mean and standard deviation of every coefficient over these frames."""
        return self.feats.mean(0), self.feats.std(0)


# ----------------------------------------------------------------------------------
# features
# ----------------------------------------------------------------------------------
def logmels(cfg: TransferConfig, paths: Sequence[Path], progress: bool = True, desc: str = "features",
            skip_bad: bool = False, skipped: Optional[List[Tuple[str, str]]] = None) -> List[Optional[np.ndarray]]:
    """Log-mels ``[frames, mels]`` of each file through the one front-end. A corrupt,
    empty, non-audio or too short file is an error naming it (and ``--skip-bad-files``);
    with ``skip_bad`` its entry is None and ``(path, reason)`` is appended to ``skipped``."""
    fe = make_frontend(cfg.frontend)
    fn = graph_fn(fe, lambda x: fe(x), input_signature=[tf.TensorSpec([1, None], tf.float32)], name="transfer")
    out: List[Optional[np.ndarray]] = []
    mine: List[Tuple[str, str]] = []
    for p in tqdm(paths, desc=desc, disable=not progress, leave=False):
        try:
            x = load_audio(p, sample_rate=cfg.frontend.sample_rate)
            if len(x) < cfg.frontend.frame_length:
                raise AudioError(p, f"too short: {len(x)} samples, less than one "
                                    f"{cfg.frontend.frame_length}-sample frame")
        except AudioError as exc:
            if not skip_bad:
                raise AudioError(exc.path, f"{exc.reason} (pass --skip-bad-files to skip it)") from None
            mine.append((str(exc.path), exc.reason))
            out.append(None)
            continue
        out.append(fn(tf.constant(x[None]))[0].numpy())
    if mine:
        log.warning("%s: skipped %d unreadable file(s):\n%s", desc, len(mine),
                    "\n".join(f"  {p}: {r}" for p, r in mine))
        if skipped is not None:
            skipped.extend(mine)
    return out


def report_skipped(arrays: dict, skip_bad: bool) -> List[Tuple[str, str]]:
    """The files a (possibly cached) build skipped: an error naming the first unless
    ``skip_bad`` (the features were built by a run that skipped them)."""
    got = skipped_of(arrays)
    if got and not skip_bad:
        raise AudioError(got[0][0], f"{got[0][1]} (pass --skip-bad-files to skip it)")
    return got


def _pack(feats: List[np.ndarray], labels: List[np.ndarray]) -> dict:
    lens = [len(f) for f in feats]
    return {"feats": np.concatenate(feats).astype(np.float32), "labels": np.concatenate(labels).astype(np.int32),
            "offsets": np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)}


# ----------------------------------------------------------------------------------
# TIMIT
# ----------------------------------------------------------------------------------
def timit_root(cfg: TransferConfig) -> Path:
    if cfg.data.timit_dir:
        return Path(cfg.data.timit_dir)
    tr, dv, ts, n = cfg.data.embedded_timit
    marker = f"{timit_embedded.GENERATOR_VERSION}-{tr}-{dv}-{ts}-{n}-{cfg.data.seed}"
    final = embedded_dir("transfer", "timit", marker)
    return build_once(final, marker, lambda tmp: timit_embedded.write_timit_release(
        tmp, tr, dv, ts, n, seed=cfg.data.seed, speaker_names={"dev": timit.DEV_SPEAKERS,
                                                              "test": timit.CORE_TEST_SPEAKERS}))


def timit_frames(cfg: TransferConfig, progress: bool = True, skip_bad: bool = False) -> Dict[str, Frames]:
    """``{"train", "dev", "test"}`` frames with 144-class labels; ``extra`` holds
    ``phones48`` (ids of the utterance's 48-phone sequence) and ``ref39`` (its
    39-phone reference, ``q`` removed). Bad audio: see :func:`logmels`."""
    root = timit_root(cfg)
    unread: List[Tuple[str, str]] = []  # files whose header cannot be read (skip_bad only)
    try:
        sets = {name: timit.timit_set(root, name, skipped=unread if skip_bad else None) for name in timit.SETS}
    except AudioError as exc:
        raise AudioError(exc.path, f"{exc.reason} (pass --skip-bad-files to skip it)") from None
    if unread:
        log.warning("TIMIT: skipped %d unreadable file(s):\n%s", len(unread),
                    "\n".join(f"  {p}: {r}" for p, r in unread))
    d = cfg.data
    key = cache_key(kind=DATA_VERSION + "-timit", files=file_fingerprint([str(u.wav) for s in sets.values() for u in s]),
                    frontend=to_dict(cfg.frontend), alignment=d.alignment, it=d.gmm_iterations, mfcc=d.mfcc, seed=d.seed)

    def build() -> dict:
        fe = cfg.frontend
        utts, kept, skipped = {}, {}, list(unread)
        for name, items in sets.items():
            feats = logmels(cfg, [u.wav for u in items], progress, f"TIMIT {name}", skip_bad, skipped)
            kept[name] = [u for u, f in zip(items, feats) if f is not None]
            if not kept[name]:
                raise DatasetError(f"{root}: no readable utterance in the TIMIT {name} set")
            feats = [f for f in feats if f is not None]
            rows = []
            for u, f in zip(kept[name], feats):
                segs = align.drop_q([(s.start, s.end, s.label) for s in u.phones])
                if not segs:
                    raise DatasetError(f"{u.wav}: its .PHN holds only glottal stops")
                p48 = [timit.map_phone(lab, 48, str(u.wav)) for _, _, lab in segs]
                idx = align.frame_phone_index(segs, len(f), fe.frame_length, fe.frame_step)
                rows.append({"logmel": f, "seg_index": idx, "phones48": p48,
                             "ref39": [timit.MAP_48_TO_39[p] for p in p48]})
            utts[name] = rows
        aligner = None
        if d.alignment == "gmm":
            aligner = align.train_aligner(utts["train"], d.gmm_iterations, d.mfcc, d.seed)
        arrays = {}
        pid = {p: i for i, p in enumerate(timit.PHONES_48)}
        for name, rows in utts.items():
            states = align.frame_states(rows, d.alignment, aligner, d.mfcc)
            labels = [np.array([pid[r["phones48"][k]] for k in r["seg_index"]]) * align.STATES + s
                      for r, s in zip(rows, states)]
            for k, v in _pack([r["logmel"] for r in rows], labels).items():
                arrays[f"{name}_{k}"] = v
            arrays[f"{name}_uids"] = np.array([u.uid for u in kept[name]])
            arrays[f"{name}_phones48"] = np.array([" ".join(r["phones48"]) for r in rows])
        return {**arrays, **skipped_arrays(skipped)}

    arrays = cached(key, build, enabled=d.cache_features)
    report_skipped(arrays, skip_bad)
    pid = {p: i for i, p in enumerate(timit.PHONES_48)}
    out = {}
    for name in timit.SETS:
        p48 = [s.split() for s in arrays[f"{name}_phones48"].tolist()]
        out[name] = Frames(arrays[f"{name}_feats"], arrays[f"{name}_labels"], arrays[f"{name}_offsets"],
                           arrays[f"{name}_uids"].tolist(),
                           {"phones48": [[pid[p] for p in ps] for ps in p48],
                            "ref39": [[timit.MAP_48_TO_39[p] for p in ps] for ps in p48]})
    return out


# ----------------------------------------------------------------------------------
# IEMOCAP
# ----------------------------------------------------------------------------------
def iemocap_root(cfg: TransferConfig) -> Path:
    if cfg.data.iemocap_dir:
        return Path(cfg.data.iemocap_dir)
    per, dialogs = cfg.data.embedded_iemocap
    marker = f"{iemocap_embedded.GENERATOR_VERSION}-{per}-{dialogs}-{cfg.data.seed}"
    final = embedded_dir("transfer", "iemocap", marker)
    return build_once(final, marker, lambda tmp: iemocap_embedded.write_iemocap_tree(
        tmp, per, dialogs, seed=cfg.data.seed))


def vad_silence(logmel: np.ndarray, db: float) -> np.ndarray:
    """Frames whose energy (sum of mel power) is more than ``db`` below the
    utterance's loudest frame."""
    m = np.max(logmel, axis=1, keepdims=True)
    energy = 10.0 * np.log10(np.exp(logmel - m).sum(1)) + 10.0 * m[:, 0] / np.log(10.0)
    return energy < energy.max() - db


def iemocap_frames(cfg: TransferConfig, progress: bool = True, skip_bad: bool = False) -> Frames:
    """Every four-emotion utterance of the corpus; ``extra`` holds ``speaker``,
    ``session`` and ``emotion`` (0..3) per utterance. Bad audio: see :func:`logmels`."""
    root = iemocap_root(cfg)
    d = cfg.data
    utts = iemocap.iemocap_utterances(root, sessions=tuple(sorted(set(d.cv_sessions) | set(d.dev_sessions))))
    key = cache_key(kind=DATA_VERSION + "-iemocap", files=file_fingerprint([str(u.wav) for u in utts]),
                    frontend=to_dict(cfg.frontend), vad=d.vad_db)
    eid = {e: i for i, e in enumerate(iemocap.EMOTIONS)}

    def build() -> dict:
        skipped: List[Tuple[str, str]] = []
        feats = logmels(cfg, [u.wav for u in utts], progress, "IEMOCAP", skip_bad, skipped)
        kept = [(u, f) for u, f in zip(utts, feats) if f is not None]
        if not kept:
            raise DatasetError(f"{root}: no readable four-emotion utterance")
        labels = []
        for u, f in kept:
            lab = np.full(len(f), eid[u.emotion], np.int32)
            lab[vad_silence(f, d.vad_db)] = SILENCE
            labels.append(lab)
        return {**_pack([f for _, f in kept], labels), "uids": np.array([u.uid for u, _ in kept]),
                **skipped_arrays(skipped)}

    arrays = cached(key, build, enabled=d.cache_features)
    report_skipped(arrays, skip_bad)
    if "uids" in arrays:
        keep = set(arrays["uids"].tolist())
        utts = [u for u in utts if u.uid in keep]
    return Frames(arrays["feats"], arrays["labels"], arrays["offsets"], [u.uid for u in utts],
                  {"speaker": [u.speaker for u in utts], "session": [u.session for u in utts],
                   "emotion": [eid[u.emotion] for u in utts]})


def ser_folds(cfg: TransferConfig, frames: Frames) -> List[iemocap.Fold]:
    items = [iemocap.EmoUtterance(uid, Path(""), s, spk, "", "", 0.0, 0.0)
             for uid, s, spk in zip(frames.uids, frames.extra["session"], frames.extra["speaker"])]
    folds = iemocap.loso_folds(items, cv_sessions=cfg.data.cv_sessions, dev_sessions=cfg.data.dev_sessions)
    if cfg.data.folds is not None:
        bad = [f for f in cfg.data.folds if not 0 <= f < len(folds)]
        if bad:
            raise DatasetError(f"data.folds {list(cfg.data.folds)}: there are {len(folds)} folds (0..{len(folds) - 1})")
        folds = [folds[i] for i in cfg.data.folds]
    return folds


def fold_sets(frames: Frames, fold: iemocap.Fold) -> Dict[str, Frames]:
    spk = frames.extra["speaker"]
    pick = lambda names: [i for i, s in enumerate(spk) if s in names]  # noqa: E731
    return {"train": frames.subset(pick(fold.train)), "dev": frames.subset(pick(fold.dev)),
            "test": frames.subset(pick({fold.test_speaker}))}


# ----------------------------------------------------------------------------------
# tf.data
# ----------------------------------------------------------------------------------
def window_ids(ids, start, end, context: int):
    """``[n, 2 c + 1]`` frame ids of the windows of frames ``ids`` (clamped to their
    utterance ``[start, end)``)."""
    r = tf.range(-context, context + 1, dtype=tf.int64)
    w = tf.cast(ids, tf.int64)[:, None] + r[None, :]
    return tf.clip_by_value(w, tf.cast(start, tf.int64)[:, None], tf.cast(end, tf.int64)[:, None] - 1)


def training_batches(frames: Frames, context: int, batch_size: int, seed: int):
    """``epoch -> dataset`` of ``(windows [B, 2 c + 1, mels], labels [B])``, shuffled
    with a per-epoch seed (:func:`core.seeded_batches`)."""
    feats = tf.constant(frames.feats)
    start, end = frames.bounds()
    start_t, end_t = tf.constant(start), tf.constant(end)
    ids = np.arange(len(frames.labels), dtype=np.int64)
    base = tf.data.Dataset.from_tensor_slices((ids, frames.labels.astype(np.int32)))
    make = core.seeded_batches(base, batch_size, seed, shuffle_buffer=max(1, len(ids)))

    def gather(i, y):
        w = window_ids(i, tf.gather(start_t, i), tf.gather(end_t, i), context)
        return tf.gather(feats, w), y

    return lambda epoch: make(epoch).map(gather, num_parallel_calls=1, deterministic=True)


def all_windows(frames: Frames, context: int, chunk: int = 4096):
    """Every frame's window in order, ``chunk`` at a time (numpy)."""
    start, end = frames.bounds()
    r = np.arange(-context, context + 1)
    for s in range(0, len(frames.labels), chunk):
        i = np.arange(s, min(s + chunk, len(frames.labels)))
        w = np.clip(i[:, None] + r[None], start[i][:, None], end[i][:, None] - 1)
        yield frames.feats[w]


# ----------------------------------------------------------------------------------
# both tasks' data
# ----------------------------------------------------------------------------------
class Corpora:
    """The frames of both tasks, loaded on first use."""

    def __init__(self, cfg: TransferConfig, progress: bool = True, skip_bad: bool = False):
        self.cfg, self.progress, self.skip_bad = cfg, progress, skip_bad
        self._timit: Optional[Dict[str, Frames]] = None
        self._iemocap: Optional[Frames] = None

    def asr(self) -> Dict[str, Frames]:
        if self._timit is None:
            self._timit = timit_frames(self.cfg, self.progress, self.skip_bad)
        return self._timit

    def ser_all(self) -> Frames:
        if self._iemocap is None:
            self._iemocap = iemocap_frames(self.cfg, self.progress, self.skip_bad)
        return self._iemocap

    def folds(self):
        return ser_folds(self.cfg, self.ser_all())

    def sets(self, task: str, fold: Optional[int] = None) -> Dict[str, Frames]:
        if task == "asr":
            return self.asr()
        folds = {f.index: f for f in ser_folds(self.cfg, self.ser_all())}
        if fold not in folds:
            raise ConfigError(f"fold {fold}: not among the folds run ({sorted(folds)})")
        return fold_sets(self.ser_all(), folds[fold])

    def decoder(self) -> HybridDecoder:
        tr = self.asr()["train"]
        d = self.cfg.decoder
        return HybridDecoder.from_training(tr.labels, tr.offsets, tr.extra["phones48"], smoothing=d.lm_smoothing,
                                           prior_floor=d.prior_floor)
