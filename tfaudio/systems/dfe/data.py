"""DFE data: UrbanSound8K clips -> min-max log-mel features (clean, and noisy test sets).

Classes come from the metadata (see :mod:`tfaudio.datasets.urbansound8k`); a run
passes its training vocabulary back in (``class_names``) so evaluation and later
stages label clips by *name* exactly as training did.

Noisy test sets: each test clip gets a noise file added at a stated SNR.
``snr_reference`` says over which samples the SNR holds:

* ``"clip"`` (default) — the clip's own samples, before zero padding to
  ``clip_seconds`` (the common convention);
* ``"padded"`` — the whole zero-padded clip (what earlier versions did). The padding
  lowers the measured signal power, so a 0.5 s event in a 4 s window gets noise about
  9 dB *quieter* than stated relative to the event; short clips were tested cleaner
  than the SNR column says.

In both cases the noise covers the whole padded clip, padding included, at the level
set over the reference samples (a recording's noise does not stop with the event).
"""
from __future__ import annotations

import logging
import zlib
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf

from tfaudio.audio import AudioError, load_audio, mix_at_snr, rms
from tfaudio.config import ConfigError, to_dict
from tfaudio.data import pipeline
from tfaudio.datasets import urbansound8k
from tfaudio.datasets.urbansound8k_embedded import ensure_embedded_urbansound8k
from tfaudio.features import FeatureFrontend
from tfaudio.systems.dfe.config import DFEDataConfig, FrontendConfig

log = logging.getLogger(__name__)


def make_frontend(cfg: FrontendConfig) -> FeatureFrontend:
    return FeatureFrontend(**to_dict(cfg))


def _embedded(cfg: DFEDataConfig) -> Tuple[Path, Path]:
    return ensure_embedded_urbansound8k(cfg.embedded_clips_per_class_per_fold, cfg.seed, cfg.embedded_max_seconds)


def dataset_root(cfg: DFEDataConfig) -> Path:
    """The UrbanSound8K root: ``data_dir``, or the embedded set (generated on first use)."""
    return Path(cfg.data_dir) if cfg.data_dir else _embedded(cfg)[0]


def noise_root(cfg: DFEDataConfig) -> Path:
    """The noise folder: ``noise_dir``, or the embedded noises (generated on first use)."""
    return Path(cfg.noise_dir) if cfg.noise_dir else _embedded(cfg)[1]


SNR_REFERENCES = ("clip", "padded")


class DFEData:
    """Features of one split, computed once and cached; noisy test sets on demand.

    ``class_names``: the vocabulary to label with (a trained run's); ``None`` takes the
    metadata's. Clips are labelled by the index of their class *name* in it, and a
    class the vocabulary lacks is a :class:`DatasetError`.
    """

    def __init__(self, cfg: DFEDataConfig, frontend_cfg: FrontendConfig, progress: bool = True,
                 class_names: Optional[Sequence[str]] = None):
        if cfg.snr_reference not in SNR_REFERENCES:
            raise ConfigError(f"data.snr_reference must be one of {list(SNR_REFERENCES)}, "
                              f"not {cfg.snr_reference!r}")
        self.cfg = cfg
        self.frontend_cfg = frontend_cfg
        self.frontend = make_frontend(frontend_cfg)
        self.progress = progress
        self.root = dataset_root(cfg)
        meta = urbansound8k.read_metadata(self.root)
        self.data_class_names = urbansound8k.class_vocabulary(meta)
        self.class_names: List[str] = list(class_names) if class_names else list(self.data_class_names)
        index = {name: i for i, name in enumerate(self.class_names)}
        unknown = sorted(set(self.data_class_names) - set(index))
        if unknown:
            raise urbansound8k.DatasetError(
                f"{self.root}: class(es) {unknown} are not in the run's vocabulary "
                f"{self.class_names}; use the data the run was trained on or train a new run")
        meta["label"] = meta["class"].map(index).astype(int)
        self.parts = urbansound8k.split_frame(meta, cfg.split, self.root)
        self.num_samples = int(round(cfg.clip_seconds * frontend_cfg.sample_rate))
        self.num_frames = self.frontend.num_frames(self.num_samples)
        self.num_features = frontend_cfg.num_mel_bins
        self._clean: Dict[str, dict] = {}
        self._waves: Dict[str, pipeline.Decoded] = {}

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def labels(self, part: str) -> np.ndarray:
        """Label (index into :attr:`class_names`) of every clip of a part, skipped ones included."""
        return self.parts[part]["label"].to_numpy()

    def _key(self, part: str, **extra) -> str:
        df = self.parts[part]
        return pipeline.cache_key(
            files=pipeline.file_fingerprint(df["path"]),
            labels=df["label"].tolist(),
            frontend=to_dict(self.frontend_cfg),
            clip_seconds=self.cfg.clip_seconds,
            skip_bad=self.cfg.skip_bad_files,
            **extra,
        )

    def waves(self, part: str) -> pipeline.Decoded:
        """Decoded clips of a part (the test part stays in memory for the noisy sets)."""
        if part not in self._waves:
            self._waves[part] = pipeline.decode_clips(
                self.parts[part]["path"].tolist(),
                self.frontend_cfg.sample_rate,
                self.num_samples,
                skip_bad=self.cfg.skip_bad_files,
                progress=self.progress,
                desc=f"decode {part}",
            )
        return self._waves[part]

    def clean(self, part: str) -> dict:
        """``{"features": [N, frames, mels], "labels": [N], "index": [N]}`` of a part."""
        if part not in self._clean:

            def build():
                dec = self.waves(part)
                if part != "test":  # only test clips are needed again (noisy test sets)
                    del self._waves[part]
                labels = self.labels(part)[dec.kept]
                return {
                    "features": pipeline.compute_features(self.frontend, dec.waves),
                    "labels": labels.astype(np.int32),
                    "index": dec.kept.astype(np.int64),
                    **pipeline.skipped_arrays(dec.skipped),
                }

            self._clean[part] = pipeline.cached(self._key(part), build, self.cfg.cache_features)
        return self._clean[part]

    def dataset(self, part: str) -> tf.data.Dataset:
        d = self.clean(part)
        return pipeline.to_dataset(d["features"], d["labels"])

    def noise_files(self) -> List[Path]:
        """The noise files: every audio file of ``noise_dir`` sorted by name, or ``noise_types`` in order."""
        return urbansound8k.list_noises(noise_root(self.cfg), self.cfg.noise_types or None)

    def usable_noise_files(self) -> Tuple[List[Path], List[Tuple[str, str]]]:
        """``(usable files, [(path, reason)] skipped)``: each file is decoded once to check it.

        An unreadable or silent noise file is an :class:`AudioError` naming it, or with
        ``skip_bad_files`` skipped, listed in one warning and returned in ``skipped``.
        """
        usable, skipped = [], []
        for path in self.noise_files():
            try:
                self.load_noise(path)
            except AudioError as exc:
                if not self.cfg.skip_bad_files:
                    raise AudioError(exc.path, f"{exc.reason} (pass --skip-bad-files to skip it)") from exc
                skipped.append((exc.path, exc.reason))
                continue
            usable.append(path)
        if skipped:
            log.warning("skipped %d unusable noise file(s):\n%s", len(skipped),
                        "\n".join(f"  {p}: {r}" for p, r in skipped))
        if not usable:
            raise urbansound8k.DatasetError(f"{noise_root(self.cfg)}: no usable noise file (all skipped)")
        return usable, skipped

    def load_noise(self, path) -> np.ndarray:
        """A noise file at the front-end's rate; a silent one is an :class:`AudioError`."""
        noise = load_audio(path, sample_rate=self.frontend_cfg.sample_rate)
        if rms(noise) == 0.0:
            raise AudioError(path, "noise file is silent (every sample is zero); cannot mix it at an SNR")
        return noise

    def noisy_waves(self, noise: np.ndarray, noise_name: str, snr: float,
                    waves: np.ndarray, index: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """Mix every test clip with ``noise`` at ``snr`` dB; offsets fixed by (seed, clip, noise).

        ``lengths``: each clip's own samples (the SNR reference when ``snr_reference`` is
        "clip"; ignored for "padded").
        """
        out = np.empty_like(waves)
        own = self.cfg.snr_reference == "clip"
        for i, (w, idx) in enumerate(zip(waves, index)):
            h = zlib.crc32(f"{self.cfg.seed}:{idx}:{noise_name}".encode())
            out[i] = mix_at_snr(w, noise, snr, offset=h % max(1, len(noise)),
                                signal_samples=int(lengths[i]) if own else None)
        return out

    def noisy(self, noise_path, snr: float, part: str = "test") -> dict:
        """Features of ``part`` with the noise file added at ``snr`` dB (cached)."""
        noise_path = Path(noise_path)
        extra = {}
        if self.cfg.snr_reference != "padded":  # "padded" keeps the key of earlier versions
            extra["snr_reference"] = self.cfg.snr_reference
        key = self._key(part, noise=pipeline.file_fingerprint([noise_path]), snr=float(snr),
                        seed=self.cfg.seed, **extra)

        def build():
            dec = self.waves(part)
            noise = self.load_noise(noise_path)
            mixed = self.noisy_waves(noise, noise_path.stem, snr, dec.waves, dec.kept, dec.lengths)
            labels = self.labels(part)[dec.kept]
            return {
                "features": pipeline.compute_features(self.frontend, mixed),
                "labels": labels.astype(np.int32),
                "index": dec.kept.astype(np.int64),
                **pipeline.skipped_arrays(dec.skipped),
            }

        return pipeline.cached(key, build, self.cfg.cache_features)
