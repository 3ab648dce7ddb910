"""Configuration of the ASR <-> SER transfer system (frozen dataclasses from a JSON recipe).

Defaults are the paper's settings (sections 2.1-2.4): 40 log-mel filterbanks from
25 ms Hamming windows every 10 ms, 31 frames of context, the ConvNet of its Table 1,
RMSProp (decay 0.99) with learning rate 1e-3 (ASR) / 1e-4 (SER), batch 256, early
stopping after 3 epochs without dev improvement. ``pipelines/transfer/embedded.json``
shrinks the network and the data for the embedded corpora.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Tuple


@dataclass(frozen=True)
class TransferDataConfig:
    timit_dir: Optional[str] = None  # TIMIT root (TRAIN/, TEST/); None -> the embedded corpus
    iemocap_dir: Optional[str] = None  # IEMOCAP_full_release root; None -> the embedded corpus
    alignment: str = "gmm"  # "gmm" (monophone GMM-HMM forced alignment) or "equal" (thirds)
    gmm_iterations: int = 10  # EM iterations of each phone's 3-state HMM
    mfcc: int = 13  # cepstra (+ deltas) the alignment models see
    context: int = 15  # frames either side of the centre frame (31 in all)
    vad_db: float = 30.0  # SER: a frame more than this far below the utterance's loudest is silence
    cv_sessions: Tuple[int, ...] = (1, 2, 3, 4)
    dev_sessions: Tuple[int, ...] = (5,)
    folds: Optional[Tuple[int, ...]] = None  # LOSO folds to run (None: all eight)
    ser_base_fold: int = 0  # the fold whose SER base model is transferred to ASR
    cache_features: bool = True
    # embedded corpora (used without timit_dir / iemocap_dir)
    embedded_timit: Tuple[int, ...] = (8, 2, 2, 6)  # train, dev, test speakers; sentences per speaker
    embedded_iemocap: Tuple[int, ...] = (2, 1)  # turns per emotion per speaker and dialog; dialogs per session
    seed: int = 0

    def __post_init__(self):
        if self.alignment not in ("gmm", "equal"):
            raise ValueError(f"data.alignment {self.alignment!r}: use gmm or equal")
        if self.context < 0:
            raise ValueError(f"data.context {self.context}: frames either side must be >= 0")


@dataclass(frozen=True)
class TransferFrontendConfig:
    sample_rate: int = 16000
    frame_length: int = 400  # 25 ms
    frame_step: int = 160  # 10 ms
    fft_length: int = 512
    window: str = "hamming"
    num_mel_bins: int = 40
    log_floor: float = 1e-10


@dataclass(frozen=True)
class TransferModelConfig:
    """Table 1: two conv + max-pool layers, three fully connected layers, output."""

    conv_filters: Tuple[int, ...] = (64, 128)
    conv_kernels: Tuple[Tuple[int, int], ...] = ((5, 4), (3, 3))  # (mel bands, frames)
    fc_units: Tuple[int, ...] = (1024, 1024, 1024)
    dropout: float = 0.4  # retention probability 0.6
    l2: float = 1e-3  # on the convolution kernels
    bn_momentum: float = 0.99


@dataclass(frozen=True)
class TransferTrainConfig:
    batch_size: int = 256
    learning_rate_asr: float = 1e-3
    learning_rate_ser: float = 1e-4
    rho: float = 0.99  # RMSProp decay
    epochs: int = 50  # at most; early stopping ends a run sooner
    patience: int = 3  # epochs without dev improvement before stopping
    warmup_epochs: int = 1  # output layer alone before the unfrozen layers join (1 <= l <= 4, l = 0)
    frozen: Tuple[int, ...] = (0, 1, 2, 3, 4, 5)  # the l values of --stage sweep
    seed: int = 0
    strategy: str = "default"


@dataclass(frozen=True)
class TransferDecoderConfig:
    """Hybrid decoding: 3-state HMM per phone, bigram phone LM, scaled likelihoods."""

    acoustic_scales: Tuple[float, ...] = (0.1, 0.2, 0.3, 0.5, 0.7, 1.0)  # tuned on dev
    insertion_penalties: Tuple[float, ...] = (-4.0, -2.0, 0.0, 2.0)  # log-domain, per phone; tuned on dev
    lm_smoothing: float = 1.0  # add-k smoothing of the bigram counts
    prior_floor: float = 1e-5


@dataclass(frozen=True)
class TransferConfig:
    data: TransferDataConfig = field(default_factory=TransferDataConfig)
    frontend: TransferFrontendConfig = field(default_factory=TransferFrontendConfig)
    model: TransferModelConfig = field(default_factory=TransferModelConfig)
    train: TransferTrainConfig = field(default_factory=TransferTrainConfig)
    decoder: TransferDecoderConfig = field(default_factory=TransferDecoderConfig)


# ---------------------------------------------------------------------------- tasks and stages
TASKS = ("asr", "ser")
STAGES = ("base", "transfer", "sweep")
#: the transferable blocks (conv1, conv2, fc3, fc4, fc5): l ranges over 0..LAYERS
LAYERS = 5
