"""Audio decoding, resampling, channel mixing, length fixing and SNR mixing.

Everything here works on float32 numpy arrays; errors name the offending file.
Decoding uses soundfile (libsndfile: WAV, FLAC, OGG/Vorbis, NIST SPHERE, AIFF ...),
resampling uses soxr (high quality, the same library librosa uses by default).
"""
from __future__ import annotations

import logging
import os
from typing import Optional

import numpy as np
import soundfile as sf
import soxr

from tfaudio.errors import AudioError  # noqa: F401  (re-exported)

log = logging.getLogger(__name__)


#: File endings treated as audio when a folder is searched (what libsndfile decodes).
AUDIO_EXTENSIONS = (".wav", ".flac", ".sph", ".nist", ".ogg", ".oga", ".aif", ".aiff", ".au")




#: A file this small that starts like an audio header holds no samples (a WAV header is 44 bytes).
_HEADER_ONLY_BYTES = 128
_RIFF = (b"RIFF", b"RIFX", b"RF64")
_HEADER_MAGIC = _RIFF + (b"fLaC", b"NIST", b"FORM", b"OggS", b".snd")


def audio_info(path) -> sf._SoundFileInfo:
    """Header of an audio file (rate, channels, frames) without decoding it."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise AudioError(path, "file does not exist")
    size = os.path.getsize(path)
    if size == 0:
        raise AudioError(path, "empty file (0 bytes, no audio)")
    try:
        return sf.info(path)
    except Exception as exc:  # libsndfile raises RuntimeError / LibsndfileError
        if size <= _HEADER_ONLY_BYTES:
            with open(path, "rb") as f:
                head = f.read(12)
            if head[:4] in _HEADER_MAGIC and (head[:4] not in _RIFF or head[8:12] == b"WAVE"):
                raise AudioError(path, f"not a readable audio file: empty (a {size}-byte header and no samples)") from exc
        raise AudioError(path, f"not a readable audio file ({exc})") from exc


def too_short_reason(n: int, sample_rate: int, min_samples: int) -> str:
    """The :class:`AudioError` reason for a clip shorter than one analysis frame."""
    return (f"too short: {n} samples ({1000 * n / sample_rate:.1f} ms at {sample_rate} Hz), "
            f"less than one {min_samples}-sample analysis frame")


def resample(audio: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """Resample along the first axis with soxr ('HQ' quality)."""
    if orig_sr == target_sr:
        return audio.astype(np.float32, copy=False)
    out = soxr.resample(audio, orig_sr, target_sr, quality="HQ")
    return np.ascontiguousarray(out, dtype=np.float32)


def load_audio(
    path,
    sample_rate: Optional[int] = 16000,
    mono: bool = True,
    max_seconds: Optional[float] = None,
    allow_resample: bool = True,
    allow_downmix: bool = True,
) -> np.ndarray:
    """Decode ``path`` to float32 in [-1, 1].

    Returns shape ``[samples]`` when ``mono`` else ``[samples, channels]``.
    ``sample_rate=None`` keeps the file's rate. With ``allow_resample=False`` a file
    at another rate is an error instead of being resampled (same for channels and
    ``allow_downmix``). Empty files, undecodable files and non-finite samples raise
    :class:`AudioError`.
    """
    path = os.fspath(path)
    info = audio_info(path)
    if info.frames == 0:
        raise AudioError(path, "file holds no samples (empty audio)")
    if info.channels > 1 and mono and not allow_downmix:
        raise AudioError(path, f"expected 1 channel, file has {info.channels}")
    if sample_rate and info.samplerate != sample_rate and not allow_resample:
        raise AudioError(path, f"expected {sample_rate} Hz, file is {info.samplerate} Hz")
    frames = -1
    if max_seconds is not None:
        frames = int(np.ceil(max_seconds * info.samplerate))
    try:
        data, sr = sf.read(path, frames=frames, dtype="float32", always_2d=True)
    except Exception as exc:
        raise AudioError(path, f"decoding failed ({exc})") from exc
    if data.shape[0] == 0:
        raise AudioError(path, "file holds no samples (empty audio)")
    if not np.all(np.isfinite(data)):
        raise AudioError(path, "audio contains NaN or infinite samples")
    if mono:
        data = data.mean(axis=1)
    if sample_rate and sr != sample_rate:
        data = resample(data, sr, sample_rate)
    return np.ascontiguousarray(data, dtype=np.float32)


def pad_or_crop(audio: np.ndarray, length: int, offset: int = 0) -> np.ndarray:
    """Zero-pad at the end or crop (starting at ``offset``) to exactly ``length`` samples."""
    n = audio.shape[0]
    if n >= length:
        offset = int(np.clip(offset, 0, n - length))
        return audio[offset : offset + length]
    pad = [(0, length - n)] + [(0, 0)] * (audio.ndim - 1)
    return np.pad(audio, pad)


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


def loop_to_length(noise: np.ndarray, length: int, offset: int = 0) -> np.ndarray:
    """Take ``length`` samples of ``noise`` from ``offset``, wrapping around if short."""
    if noise.shape[0] == 0:
        raise ValueError("noise signal is empty")
    idx = (np.arange(length) + offset) % noise.shape[0]
    return noise[idx]


def mix_at_snr(
    signal: np.ndarray, noise: np.ndarray, snr_db: float, offset: int = 0,
    signal_samples: Optional[int] = None,
) -> np.ndarray:
    """Add ``noise`` to ``signal`` scaled so that 10*log10(P_signal / P_noise) = snr_db.

    ``signal_samples`` (the clip's own length before zero padding) chooses where the
    powers are measured: over ``signal[:signal_samples]`` for both the signal and the
    noise under it (the common convention: a 0.5 s event padded to 4 s gets noise at
    the stated SNR relative to the event itself). ``None`` measures over the whole
    ``signal``, padding included (the padded clip as a classifier sees it; the padding
    lowers the measured signal power, so a 0.5 s event padded to 4 s ends up about
    9 dB *cleaner* than stated relative to the event itself). Either way the noise is added
    over the *whole* signal, padding included, at the level set there: real noise does
    not stop when the event does.

    The noise is read from ``offset`` and looped when it is shorter than the signal.
    When the noise under the measured window is digitally silent the noise's power
    over the whole added stretch is used instead; an all-silent noise is a
    ``ValueError`` (callers that know the file turn it into an ``AudioError``). A silent
    signal is returned with noise at the level it would have for a signal of RMS 1e-4,
    so the mix is never all-zero yet never blows up.
    """
    noise = loop_to_length(noise, signal.shape[0], offset)
    n = signal.shape[0] if signal_samples is None else int(np.clip(signal_samples, 1, signal.shape[0]))
    p_sig = rms(signal[:n])
    p_noise = rms(noise[:n])
    if p_noise == 0.0:
        p_noise = rms(noise)
    if p_noise == 0.0:
        raise ValueError("noise signal is silent; cannot set an SNR")
    ref = p_sig if p_sig > 0 else 1e-4
    gain = ref / (p_noise * 10.0 ** (snr_db / 20.0))
    return (signal + gain * noise).astype(np.float32)


def write_audio(path, audio: np.ndarray, sample_rate: int, subtype: str = "PCM_16",
                format: Optional[str] = None) -> None:
    """Write audio atomically (temporary file + rename) so a kill never leaves half a file.
    ``format`` defaults to the file ending (``"NIST"`` writes SPHERE, as TIMIT's ``.WAV``)."""
    path = os.fspath(path)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = f"{path}.part{os.getpid()}"
    fmt = format or os.path.splitext(path)[1].lstrip(".").upper() or "WAV"
    sf.write(tmp, np.clip(audio, -1.0, 1.0), sample_rate, subtype=subtype, format=fmt)
    os.replace(tmp, path)
