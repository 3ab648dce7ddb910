"""DFE configuration: frozen dataclasses, read from ``pipelines/dfe/*.json`` and
overridden by flags and ``--set``; the resolved config is written beside every
stage's checkpoints and every export."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Tuple


@dataclass(frozen=True)
class DFEDataConfig:
    data_dir: Optional[str] = None  # UrbanSound8K root; None -> the embedded synthetic set
    noise_dir: Optional[str] = None  # NOISEX-92-style folder; None -> embedded noises
    split: str = "paper"  # paper (1-8/9/10) or cv1..cv10
    clip_seconds: float = 4.0
    noise_types: Tuple[str, ...] = ()  # () -> every file in noise_dir
    snrs: Tuple[float, ...] = (20.0, 15.0, 10.0, 5.0, 0.0)
    snr_reference: str = "clip"  # "clip": SNR over the clip's own samples; "padded": over the padded clip
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


#: How the dynamic filter layer computes its per-example convolutions (the names of
#: ``tfaudio.layers.dynamic.DYNAMIC_CONV_CHOICES``; a test keeps the two equal).
DYNAMIC_CONV_CHOICES = ("auto", "map", "grouped", "matmul")


@dataclass(frozen=True)
class DFEModelConfig:
    # None: from the data's class vocabulary (training resolves it and records the number
    # in the run's config.json); a number fixes it and must match the data
    num_classes: Optional[int] = None
    classifier_filters: Tuple[int, ...] = (12, 36, 72, 96, 96)
    classifier_dropout: float = 0.3  # (choice) before the softmax FC
    mask_filters: Tuple[int, ...] = (24, 96, 96, 96, 1)
    mask_dilations: Tuple[int, ...] = (1, 2, 4, 8, 1)
    generator_filters: Tuple[int, ...] = (12, 72, 256)
    generator_dilations: Tuple[int, ...] = (6, 4, 1)
    kernel_size: int = 3
    bn_momentum: float = 0.9  # (choice) Keras' 0.99 lags far behind on small datasets
    # the dynamic convs' formulation: "auto" (per device kind: "map" on CPU, "grouped" on a
    # GPU), "map", "grouped" or "matmul"; the same weights and outputs, so stages of one
    # run may differ in it; each stage's config.json records the one it trained with
    dynamic_conv: str = "auto"

    def __post_init__(self):
        if self.dynamic_conv not in DYNAMIC_CONV_CHOICES:
            raise ValueError(f"model.dynamic_conv must be one of {list(DYNAMIC_CONV_CHOICES)}, "
                             f"not {self.dynamic_conv!r}")


@dataclass(frozen=True)
class DFETrainConfig:
    batch_size: int = 64
    learning_rate: float = 1e-3
    classifier_epochs: int = 100
    enhancer_epochs: int = 100
    seed: int = 0
    strategy: str = "default"
    cascade_init: str = "dfe"  # (choice) 2nd generator starts from the 1st's weights; or "random"


@dataclass(frozen=True)
class DFEConfig:
    data: DFEDataConfig = field(default_factory=DFEDataConfig)
    frontend: FrontendConfig = field(default_factory=FrontendConfig)
    model: DFEModelConfig = field(default_factory=DFEModelConfig)
    train: DFETrainConfig = field(default_factory=DFETrainConfig)


# ---------------------------------------------------------------------------- stages
STAGES = ("classifier", "sfe", "dfe", "cascade", "shared")
PREREQUISITES = {
    "classifier": (),
    "sfe": ("classifier",),
    "dfe": ("classifier",),
    "cascade": ("classifier", "dfe"),
    "shared": ("classifier",),
}
METHOD_NAMES = {"classifier": "CNN-FC", "sfe": "SFE", "dfe": "DFE", "cascade": "DCL", "shared": "DSL"}
