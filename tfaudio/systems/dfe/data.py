"""DFE data: UrbanSound8K clips -> min-max log-mel features (clean, and noisy test sets)."""
from __future__ import annotations

import logging
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional, Tuple

import numpy as np
import tensorflow as tf

from tfaudio.audio import load_audio, mix_at_snr
from tfaudio.config import to_dict
from tfaudio.data import pipeline
from tfaudio.datasets import urbansound8k
from tfaudio.datasets.urbansound8k_embedded import ensure_embedded_dfe_data
from tfaudio.features import FeatureFrontend

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DFEDataConfig:
    data_dir: Optional[str] = None  # UrbanSound8K root; None -> the embedded synthetic set
    noise_dir: Optional[str] = None  # NOISEX-92-style folder; None -> embedded noises
    split: str = "paper"  # paper (1-8/9/10) or cv1..cv10
    clip_seconds: float = 4.0
    noise_types: Tuple[str, ...] = ()  # () -> every file in noise_dir
    snrs: Tuple[float, ...] = (20.0, 15.0, 10.0, 5.0, 0.0)
    skip_bad_files: bool = False
    cache_features: bool = True
    embedded_clips_per_class_per_fold: int = 3
    embedded_max_seconds: float = 4.0
    seed: int = 0


@dataclass(frozen=True)
class FrontendConfig:
    """Arguments of :class:`tfaudio.features.FeatureFrontend`."""

    sample_rate: int = 16000
    frame_length: int = 512
    frame_step: int = 256
    window: str = "hamming"
    center: bool = False
    power: float = 2.0
    num_mel_bins: int = 40
    fmin: float = 0.0
    fmax: Optional[float] = None
    log: Optional[str] = "natural"
    normalization: Optional[str] = "minmax"


def make_frontend(cfg: FrontendConfig) -> FeatureFrontend:
    return FeatureFrontend(**to_dict(cfg))


def _embedded(cfg: DFEDataConfig) -> Tuple[Path, Path]:
    return ensure_embedded_dfe_data(cfg.embedded_clips_per_class_per_fold, cfg.seed, cfg.embedded_max_seconds)


def dataset_root(cfg: DFEDataConfig) -> Path:
    """The UrbanSound8K root: ``data_dir``, or the embedded set (generated on first use)."""
    return Path(cfg.data_dir) if cfg.data_dir else _embedded(cfg)[0]


def noise_root(cfg: DFEDataConfig) -> Path:
    """The noise folder: ``noise_dir``, or the embedded noises (generated on first use)."""
    return Path(cfg.noise_dir) if cfg.noise_dir else _embedded(cfg)[1]


class DFEData:
    """Features of one split, computed once and cached; noisy test sets on demand."""

    def __init__(self, cfg: DFEDataConfig, frontend_cfg: FrontendConfig, progress: bool = True):
        self.cfg = cfg
        self.frontend_cfg = frontend_cfg
        self.frontend = make_frontend(frontend_cfg)
        self.progress = progress
        self.root = dataset_root(cfg)
        self.parts = urbansound8k.load_split(self.root, cfg.split)
        self.num_samples = int(round(cfg.clip_seconds * frontend_cfg.sample_rate))
        self.num_frames = self.frontend.num_frames(self.num_samples)
        self.num_features = frontend_cfg.num_mel_bins
        self._clean: Dict[str, dict] = {}
        self._waves: Dict[str, pipeline.Decoded] = {}

    @property
    def class_names(self):
        return list(urbansound8k.CLASSES)

    def _key(self, part: str, **extra) -> str:
        df = self.parts[part]
        return pipeline.cache_key(
            files=pipeline.file_fingerprint(df["path"]),
            labels=df["classID"].tolist(),
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
                labels = self.parts[part]["classID"].to_numpy()[dec.kept]
                return {
                    "features": pipeline.compute_features(self.frontend, dec.waves),
                    "labels": labels.astype(np.int32),
                    "index": dec.kept.astype(np.int64),
                }

            self._clean[part] = pipeline.cached(self._key(part), build, self.cfg.cache_features)
        return self._clean[part]

    def dataset(self, part: str) -> tf.data.Dataset:
        d = self.clean(part)
        return pipeline.to_dataset(d["features"], d["labels"])

    def noise_files(self):
        return urbansound8k.list_noises(noise_root(self.cfg), self.cfg.noise_types or None)

    def load_noise(self, path) -> np.ndarray:
        return load_audio(path, sample_rate=self.frontend_cfg.sample_rate)

    def noisy_waves(self, noise: np.ndarray, noise_name: str, snr: float,
                    waves: np.ndarray, index: np.ndarray) -> np.ndarray:
        """Mix every test clip with ``noise`` at ``snr`` dB; offsets fixed by (seed, clip, noise)."""
        out = np.empty_like(waves)
        for i, (w, idx) in enumerate(zip(waves, index)):
            h = zlib.crc32(f"{self.cfg.seed}:{idx}:{noise_name}".encode())
            out[i] = mix_at_snr(w, noise, snr, offset=h % max(1, len(noise)))
        return out

    def noisy(self, noise_path, snr: float, part: str = "test") -> dict:
        """Features of ``part`` with the noise file added at ``snr`` dB (cached)."""
        noise_path = Path(noise_path)
        key = self._key(part, noise=pipeline.file_fingerprint([noise_path]), snr=float(snr),
                        seed=self.cfg.seed)

        def build():
            dec = self.waves(part)
            noise = self.load_noise(noise_path)
            mixed = self.noisy_waves(noise, noise_path.stem, snr, dec.waves, dec.kept)
            labels = self.parts[part]["classID"].to_numpy()[dec.kept]
            return {
                "features": pipeline.compute_features(self.frontend, mixed),
                "labels": labels.astype(np.int32),
                "index": dec.kept.astype(np.int64),
            }

        return pipeline.cached(key, build, self.cfg.cache_features)
