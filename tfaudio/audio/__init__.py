"""Audio I/O: decode (soundfile), resample (soxr), mono, pad/crop, SNR mixing."""
from tfaudio.audio.io import (
    AUDIO_EXTENSIONS,
    AudioError,
    audio_info,
    load_audio,
    loop_to_length,
    mix_at_snr,
    pad_or_crop,
    resample,
    rms,
    write_audio,
)

__all__ = [
    "AUDIO_EXTENSIONS",
    "AudioError",
    "audio_info",
    "load_audio",
    "loop_to_length",
    "mix_at_snr",
    "pad_or_crop",
    "resample",
    "rms",
    "write_audio",
]
