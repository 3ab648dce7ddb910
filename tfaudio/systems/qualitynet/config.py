"""Quality-Net configuration: frozen dataclasses (model, data, augmentation,
training), read from ``pipelines/qualitynet/*.json`` and overridden by flags and
``--set``; the resolved config is written beside every checkpoint and export."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Optional, Tuple

from tfaudio.config import ConfigError, from_dict, load_recipe, merge

MONITORS = {"dev_lcc": "max", "dev_mse": "min", "dev_srcc": "max"}


@dataclasses.dataclass(frozen=True)
class QualityNetConfig:
    """Quality-Net hyper-parameters; defaults follow the paper.

    ``dense_units`` (50, 50) are the paper's two ELU layers.  The authors' public
    code instead used one dense layer of 50 with dropout 0.3, LSTM dropout and
    recurrent dropout 0.3 and a max-norm(1e-5) constraint on the recurrent weights:
    :meth:`authors_code` returns that variant.
    """

    sample_rate: int = 16000
    frame_length: int = 512
    frame_step: int = 256
    window: str = "hamming"
    center: bool = True
    log_magnitude: bool = False  # paper / code: linear magnitude
    log_floor: float = 1e-5  # only with log_magnitude (after peak normalisation)
    peak_normalize: bool = True
    lstm_units: int = 100
    forget_bias: Optional[float] = -3.0  # None -> Keras' unit forget bias (1)
    lstm_dropout: float = 0.0
    lstm_recurrent_dropout: float = 0.0
    recurrent_max_norm: Optional[float] = None
    dense_units: Tuple[int, ...] = (50, 50)
    dropout: float = 0.0  # after each dense ELU layer
    q_max: float = 4.5  # PESQ's maximum; 5 for MOS
    frame_constraint: bool = True
    learning_rate: float = 1e-3  # RMSprop
    lstm_chunk: int = 16  # LoopLSTM steps per loop iteration (speed only)
    lstm_block: int = 16  # LoopLSTM chunks per outer loop iteration (speed only)

    def __post_init__(self):
        object.__setattr__(self, "dense_units", tuple(int(u) for u in self.dense_units))
        if self.frame_length <= 0 or self.frame_step <= 0 or self.sample_rate <= 0:
            raise ValueError("sample_rate, frame_length and frame_step must be positive")
        if self.lstm_units <= 0 or any(u <= 0 for u in self.dense_units):
            raise ValueError("lstm_units and dense_units must be positive")
        for name in ("dropout", "lstm_dropout", "lstm_recurrent_dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)}")

    @classmethod
    def authors_code(cls, **overrides) -> "QualityNetConfig":
        """The variant of the authors' public Keras code (see class docstring)."""
        values = dict(
            dense_units=(50,), dropout=0.3, lstm_dropout=0.3,
            lstm_recurrent_dropout=0.3, recurrent_max_norm=1e-5,
        )
        values.update(overrides)
        return cls(**values)

    def to_dict(self) -> dict:
        """Plain JSON-able dict (tuples as lists)."""
        d = dataclasses.asdict(self)
        d["dense_units"] = list(self.dense_units)
        return d

    @classmethod
    def from_dict(cls, values: dict) -> "QualityNetConfig":
        """Inverse of :meth:`to_dict`; unknown keys raise ``ValueError``."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ValueError(f"unknown QualityNetConfig key(s) {unknown}; valid: {sorted(names)}")
        return cls(**values)


@dataclass(frozen=True)
class QualityNetDataConfig:
    manifest: Optional[str] = None  # training manifest; None -> embedded train.csv
    dev_manifest: Optional[str] = None  # None -> embedded dev.csv / held-out part of manifest
    dev_fraction: float = 0.1  # with a manifest but no dev manifest: speakers held out
    skip_bad: bool = False  # skip bad manifest rows / unreadable audio (listed) instead of failing
    max_seconds: Optional[float] = None  # crop longer training/dev clips (None: keep whole)
    workers: Optional[int] = None  # decoding threads (None: 2 x cores, at most 8)


@dataclass(frozen=True)
class QualityNetAugmentConfig:
    """Training-time waveform augmentation (all off by default; see
    :func:`tfaudio.systems.qualitynet.data.augment_wave`).

    No random gain: the model peak-normalises its input, so a gain changes nothing
    unless it clips.  Both transforms can change what a label means (a low-pass at
    3.4 kHz lowers wide-band PESQ; so does audible noise): keep the noise far below
    the speech and use the low-pass where recording bandwidth varies in the data.
    """

    lowpass_prob: float = 0.0  # probability that an utterance is low-passed
    lowpass_hz: Tuple[float, float] = (3400.0, 8000.0)  # cut-off drawn uniformly in this range
    noise_prob: float = 0.0  # probability that white noise is added
    noise_db: Tuple[float, float] = (-70.0, -50.0)  # its RMS re the utterance's peak, dB (uniform)


@dataclass(frozen=True)
class QualityNetTrainConfig:
    batch_size: int = 8
    epochs: int = 30
    learning_rate: Optional[float] = None  # RMSprop; None -> model.learning_rate (1e-3)
    buckets: int = 4  # length buckets per epoch (1: plain shuffled batches)
    seed: int = 0
    monitor: str = "dev_lcc"  # dev_lcc (max), dev_srcc (max) or dev_mse (min)
    eval_batch_size: int = 16
    strategy: str = "default"
    # decoupled weight decay of RMSprop (w <- w - lr * weight_decay * w every step;
    # biases excluded); 0: none (paper)
    weight_decay: float = 0.0
    augment: QualityNetAugmentConfig = field(default_factory=QualityNetAugmentConfig)


@dataclass(frozen=True)
class QualityNetRunConfig:
    data: QualityNetDataConfig = field(default_factory=QualityNetDataConfig)
    model: QualityNetConfig = field(default_factory=QualityNetConfig)
    train: QualityNetTrainConfig = field(default_factory=QualityNetTrainConfig)


def resolve_config(cfg: QualityNetRunConfig) -> QualityNetRunConfig:
    """Validate and make the learning rate explicit in both places it can be read."""
    if cfg.train.monitor not in MONITORS:
        raise ConfigError(f"train.monitor must be one of {sorted(MONITORS)}, got {cfg.train.monitor!r}")
    for name in ("batch_size", "epochs", "buckets", "eval_batch_size"):
        if getattr(cfg.train, name) < (0 if name == "epochs" else 1):
            raise ConfigError(f"train.{name} must be positive, got {getattr(cfg.train, name)}")
    if not 0.0 < cfg.data.dev_fraction < 1.0:
        raise ConfigError(f"data.dev_fraction must be in (0, 1), got {cfg.data.dev_fraction}")
    if cfg.data.max_seconds is not None and cfg.data.max_seconds <= 0:
        raise ConfigError(f"data.max_seconds must be positive, got {cfg.data.max_seconds}")
    if cfg.train.weight_decay < 0:
        raise ConfigError(f"train.weight_decay must be >= 0, got {cfg.train.weight_decay}")
    a = cfg.train.augment
    for name in ("lowpass_prob", "noise_prob"):
        if not 0.0 <= getattr(a, name) <= 1.0:
            raise ConfigError(f"train.augment.{name} must be in [0, 1], got {getattr(a, name)}")
    for name in ("lowpass_hz", "noise_db"):
        pair = getattr(a, name)
        if len(pair) != 2 or float(pair[0]) > float(pair[1]):
            raise ConfigError(f"train.augment.{name} must be [low, high] with low <= high, got {list(pair)}")
    if a.lowpass_prob > 0 and not 0 < float(a.lowpass_hz[0]) <= float(a.lowpass_hz[1]) <= cfg.model.sample_rate / 2:
        raise ConfigError(f"train.augment.lowpass_hz must lie in (0, {cfg.model.sample_rate / 2:g}] Hz, "
                          f"got {list(a.lowpass_hz)}")
    lr = cfg.train.learning_rate if cfg.train.learning_rate is not None else cfg.model.learning_rate
    if lr <= 0:
        raise ConfigError(f"learning rate must be positive, got {lr}")
    return dataclasses.replace(
        cfg,
        model=dataclasses.replace(cfg.model, learning_rate=float(lr)),
        train=dataclasses.replace(cfg.train, learning_rate=float(lr)),
    )


def default_config() -> QualityNetRunConfig:
    """The embedded recipe (``pipelines/qualitynet/embedded.json``) over the defaults."""
    return resolve_config(from_dict(QualityNetRunConfig, load_recipe("qualitynet/embedded")))


def config_from_dict(d: dict) -> QualityNetRunConfig:
    d = {k: v for k, v in d.items() if k in {f.name for f in dataclasses.fields(QualityNetRunConfig)}}
    return resolve_config(from_dict(QualityNetRunConfig, d))


def with_overrides(cfg: QualityNetRunConfig, overrides: dict) -> QualityNetRunConfig:
    """``cfg`` with nested ``overrides`` applied, validated."""
    return resolve_config(merge(cfg, overrides))
