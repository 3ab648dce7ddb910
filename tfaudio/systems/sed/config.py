"""Configuration of the SED system: frozen dataclasses filled from a JSON recipe.

Defaults are the paper's settings (section 4.2 and the DCASE 2019 task 4 release);
``pipelines/sed/embedded.json`` shrinks them for the embedded set.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Tuple


@dataclass(frozen=True)
class SEDDataConfig:
    data_dir: Optional[str] = None  # DCASE 2019 task 4 root; None -> the embedded set
    clip_seconds: float = 10.0
    # clips missing on disk are always listed and skipped; unreadable audio and bad strong labels
    # are an error naming the file unless this is set (--skip-bad-files): then a listed skip
    skip_bad_files: bool = False
    dev_fraction: float = 0.1  # weak clips held out for checkpoint selection (clip F1)
    synthetic_dev_fraction: float = 0.1  # synthetic clips held out (domain-gap figure)
    cache_features: bool = True
    embedded_sizes: Tuple[int, ...] = (120, 80, 120, 48)  # synthetic, weak, unlabeled, validation
    embedded_rate: int = 16000
    seed: int = 0


@dataclass(frozen=True)
class SEDFrontendConfig:
    """Log-mel front-end (section 4.2: 22.05 kHz, 2048 window, hop 345, 128 bins, 640 frames)."""

    sample_rate: int = 22050
    frame_length: int = 2048
    frame_step: int = 345
    window: str = "hann"
    center: bool = True
    num_mel_bins: int = 128
    fmin: float = 0.0
    fmax: Optional[float] = None
    # |STFT|^2 of a full-scale signal stays below float16's 65504 when the waveform is
    # scaled by 1/16 first (a 2048 window: full-scale DC gives (1024/16)^2 = 4096), and
    # the log floor 2^-23 is exactly representable in float16 (1e-10 would become 0).
    input_gain: float = 0.0625
    log_floor: float = 2.0**-23


@dataclass(frozen=True)
class SEDModelConfig:
    """CRNN F (7 CNN blocks + 2 BiGRU), heads F1 / F2 / Ft, domain classifier D."""

    filters: Tuple[int, ...] = (16, 32, 64, 128, 128, 128, 128)
    pools: Tuple[Tuple[int, int], ...] = ((2, 2), (2, 2), (1, 2), (1, 2), (1, 2), (1, 2), (1, 2))
    dropout: float = 0.5
    gru_units: int = 128
    gru_layers: int = 2
    head_units: int = 128  # first layer of every head (eq. 8 acts on F1's and F2's)
    domain_units: int = 128
    grl_alpha: float = 1.0
    # (choice) alpha ramps from 0 to grl_alpha over training, 2 / (1 + exp(-10 p)) - 1
    # of the progress p, as in the gradient-reversal paper; "constant" keeps it fixed
    grl_schedule: str = "ramp"
    num_classes: int = 10


@dataclass(frozen=True)
class SEDTrainConfig:
    batch_size: int = 64
    learning_rate: float = 1e-3
    beta_1: float = 0.9
    beta_2: float = 0.999
    epochs: int = 100  # baseline / adversarial, and each tri-training phase
    steps_per_epoch: int = 0  # 0 -> (labelled clips) / batch
    diversity_weight: float = 1.0  # lambda of eq. (8)
    domain_weight: float = 1.0  # weight of L_d in the summed loss (alpha scales its reversal)
    pseudo_threshold: float = 0.5
    pseudo_margin: float = 0.0  # both labelers at least this far from the threshold
    # share of each batch drawn from S, W, U (U only in stages that use it)
    mix: Tuple[float, ...] = (0.4, 0.3, 0.3)
    seed: int = 0
    strategy: str = "default"


@dataclass(frozen=True)
class SEDPostConfig:
    threshold: float = 0.5
    median_frames: int = 5  # median filter length in output frames
    min_event_seconds: float = 0.0


@dataclass(frozen=True)
class SEDConfig:
    data: SEDDataConfig = field(default_factory=SEDDataConfig)
    frontend: SEDFrontendConfig = field(default_factory=SEDFrontendConfig)
    model: SEDModelConfig = field(default_factory=SEDModelConfig)
    train: SEDTrainConfig = field(default_factory=SEDTrainConfig)
    post: SEDPostConfig = field(default_factory=SEDPostConfig)


# ---------------------------------------------------------------------------- stages and runs
STAGES = ("baseline", "adversarial", "tri-training", "all")
ADVERSARIAL = ("none", "whole", "time")
RUNS = ("baseline", "adv-whole", "adv-time", "tri", "tri-adv-whole", "tri-adv-time")
METHOD_NAMES = {"baseline": "Our baseline", "adv-whole": "Adv.whole", "adv-time": "Adv.time",
                "tri": "Tri-training", "tri-adv-whole": "Adv.whole + Tri-training",
                "tri-adv-time": "Adv.time + Tri-training"}
