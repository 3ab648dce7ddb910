"""Waveform -> features front-end as serializable, TFLite-convertible Keras layers.

See :mod:`tfaudio.features.layers` for the design notes (librosa parity, TFLite
builtin ops only, float32 policy).
"""
from tfaudio.features.layers import (
    FeatureFrontend,
    LogCompression,
    MeanVarianceNormalization,
    MelFilterbank,
    MinMaxNormalization,
    Spectrogram,
    frontend_from_config,
    make_window,
    mel_matrix,
)

__all__ = [
    "FeatureFrontend",
    "LogCompression",
    "MeanVarianceNormalization",
    "MelFilterbank",
    "MinMaxNormalization",
    "Spectrogram",
    "frontend_from_config",
    "make_window",
    "mel_matrix",
]
