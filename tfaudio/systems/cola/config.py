"""Configuration of COLA: frozen dataclasses filled from a JSON recipe.

Defaults are the paper's settings (section 3.2) and, where it is silent, its
authors' public code; ``pipelines/cola/embedded.json`` shrinks the data and epochs.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

SIMILARITIES = ("bilinear", "cosine")


@dataclass(frozen=True)
class ColaFrontendConfig:
    """Log-mel: 25 ms window, 10 ms hop, 64 bins over 60-7800 Hz at 16 kHz."""

    sample_rate: int = 16000
    frame_length: int = 400
    frame_step: int = 160
    fft_length: int = 1024  # a power of two (LiteRT's RFFT2D needs one)
    window: str = "hann"
    num_mel_bins: int = 64
    fmin: float = 60.0
    fmax: float = 7800.0
    log_floor: float = 1e-5  # the authors' code clips the mel magnitude at 1e-5 before the log
    segment_frames: int = 96  # 960 ms


@dataclass(frozen=True)
class ColaModelConfig:
    """EfficientNet-B0 encoder (global max pool) + projection g + similarity."""

    # EfficientNet scaling; (1.0, 1.0) is B0. Smaller values only for tiny test models.
    width: float = 1.0
    depth: float = 1.0
    # Batch-norm momentum of every EfficientNet layer (Keras' default 0.99). The moving
    # statistics are what the frozen encoder runs on downstream; on short runs 0.99
    # leaves them far from the data and the frozen encoder's output nearly constant.
    bn_momentum: float = 0.99
    projection_units: int = 512
    similarity: str = "bilinear"  # or "cosine"
    temperature: float = 0.2  # cosine only

    def __post_init__(self):
        if self.similarity not in SIMILARITIES:
            raise ValueError(f"model.similarity must be one of {list(SIMILARITIES)}, not {self.similarity!r}")
        if not self.temperature > 0:
            raise ValueError("model.temperature must be > 0")


@dataclass(frozen=True)
class ColaDataConfig:
    data_dir: Optional[str] = None  # pretraining audio: folder tree, CSV list or tfaudio-prepare shards
    max_seconds: float = 10.0  # longer recordings are cut (AudioSet clips are 10 s)
    embedded_clips: int = 400
    embedded_seed: int = 0
    shuffle_buffer: int = 10000
    positive_noise: float = 0.001  # Gaussian noise on the positive only (authors' code)


@dataclass(frozen=True)
class ColaTrainConfig:
    """Pretraining: Adam 1e-4 (the paper: 500 epochs on AudioSet)."""

    batch_size: int = 1024
    learning_rate: float = 1e-4
    epochs: int = 500
    steps_per_epoch: int = 0  # 0: one pass over the clips
    seed: int = 0
    strategy: str = "default"


@dataclass(frozen=True)
class ColaDownstreamConfig:
    """Linear probe / fine-tuning: Adam 1e-3, batch 64, random 960 ms crops (100 epochs)."""

    task: Optional[str] = None  # labelled task folder / manifest; None: the embedded task
    batch_size: int = 64
    learning_rate: float = 1e-3
    epochs: int = 100
    seed: int = 0
    dev_fraction: float = 0.1
    max_seconds: float = 30.0  # test clips longer than this are cut
    embedded_train_per_class: int = 40
    embedded_test_per_class: int = 20
    embedded_seconds: float = 2.0


@dataclass(frozen=True)
class ColaConfig:
    frontend: ColaFrontendConfig = field(default_factory=ColaFrontendConfig)
    model: ColaModelConfig = field(default_factory=ColaModelConfig)
    data: ColaDataConfig = field(default_factory=ColaDataConfig)
    train: ColaTrainConfig = field(default_factory=ColaTrainConfig)
    downstream: ColaDownstreamConfig = field(default_factory=ColaDownstreamConfig)


# ---------------------------------------------------------------------------- stages and runs
STAGES = ("pretrain", "linear", "finetune")
INITS = ("pretrained", "random")
PRETRAIN = "pretrain"
#: downstream runs (``mode-init``)
RUNS = ("linear-random", "finetune-random", "linear-pretrained", "finetune-pretrained")
