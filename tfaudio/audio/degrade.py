"""Degradations of speech for quality-labelled sets: low-rate speech codecs (through
the ``ffmpeg`` program), band limiting, clipping, packet-loss dropouts and synthetic
reverberation. Additive noise is :func:`tfaudio.audio.io.mix_at_snr`; the classical
enhancer is :mod:`tfaudio.audio.enhance`.

Every function takes a float waveform at ``sample_rate`` and returns one of the
same length (float64), so a degraded item lines up with its clean source frame by
frame. Random choices are made by the caller's ``numpy`` generator, so an item is a
function of its seed.

Codecs
------
:data:`CODECS` names each codec family with the ffmpeg encoder it needs, the rate it
runs at and the bit rates (or modes) drawn from. :func:`codec` resamples to the
codec's rate with soxr, encodes and decodes in one ``ffmpeg`` call each (single
thread, raw float32 through pipes; decoded audio is bit-identical from run to run),
resamples back and removes the codec's delay by cross-correlation with the input.
:func:`available_codecs` lists the families the installed ffmpeg can encode; a
family whose encoder is missing raises :class:`CodecUnavailable`, which says how to
get it.
"""
from __future__ import annotations

import functools
import shutil
import subprocess
from dataclasses import dataclass
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
from scipy import signal as sps

from tfaudio.audio.io import resample
from tfaudio.errors import TfaudioError

#: Bump when a degradation's algorithm or defaults change (quality sets key their
#: finished items on it).
DEGRADE_VERSION = "degrade-1"


class CodecUnavailable(TfaudioError, RuntimeError):
    """ffmpeg, or the encoder a codec family needs, is not installed."""


@dataclass(frozen=True)
class Codec:
    """One codec family: ffmpeg encoder, container, rate and the settings drawn from.

    ``rates`` are ffmpeg ``-b:a`` values (``None``: the codec's only rate), or, with
    ``option`` set, values of that encoder option (codec2's ``-mode``, speex's
    ``-cbr_quality``)."""

    encoder: str
    container: str
    sample_rate: int
    rates: Tuple[Optional[str], ...]
    option: str = "b:a"
    extra: Tuple[str, ...] = ()
    describe: str = ""
    demuxer: str = ""  # ffmpeg input format of the coded stream (default: ``container``)


CODECS: Dict[str, Codec] = {
    "gsm": Codec("libgsm", "gsm", 8000, (None,), describe="GSM 06.10 full rate, 13 kbit/s"),
    "amrnb": Codec("libopencore_amrnb", "amr", 8000, ("4.75k", "5.15k", "5.9k", "7.4k", "12.2k"),
                   describe="AMR narrow band, 4.75-12.2 kbit/s"),
    "opus": Codec("libopus", "ogg", 16000, ("6k", "8k", "12k", "16k", "24k"),
                  extra=("-application", "voip"), describe="Opus (VoIP mode), 6-24 kbit/s"),
    "mp3": Codec("libmp3lame", "mp3", 16000, ("8k", "16k", "24k", "32k"),
                 describe="MP3 (LAME), 8-32 kbit/s"),
    "aac": Codec("aac", "adts", 16000, ("12k", "16k", "24k", "32k"),
                 describe="AAC-LC (ffmpeg), 12-32 kbit/s", demuxer="aac"),
    "speex": Codec("libspeex", "ogg", 16000, ("2", "4", "6", "8"), option="cbr_quality",
                   describe="Speex wide band, CBR quality 2-8 (about 8-28 kbit/s)"),
    "codec2": Codec("libcodec2", "codec2", 8000, ("700C", "1200", "2400", "3200"), option="mode",
                    describe="Codec 2, 0.7-3.2 kbit/s"),
    "g726": Codec("g726", "wav", 8000, ("16k", "24k", "32k"),
                  describe="G.726 ADPCM, 16-32 kbit/s"),
}


def ffmpeg_path() -> Optional[str]:
    return shutil.which("ffmpeg")


@functools.lru_cache(maxsize=4)
def _encoders(ffmpeg: str) -> frozenset:
    out = subprocess.run([ffmpeg, "-hide_banner", "-encoders"], capture_output=True,
                         text=True, check=False).stdout
    names = set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 2 and len(parts[0]) == 6 and parts[0][0] in "AVS.":
            names.add(parts[1])
    return frozenset(names)


@functools.lru_cache(maxsize=4)
def ffmpeg_version(ffmpeg: Optional[str] = None) -> str:
    """``ffmpeg -version``'s first line (part of a codec item's cache key)."""
    ffmpeg = ffmpeg or ffmpeg_path()
    if not ffmpeg:
        return ""
    out = subprocess.run([ffmpeg, "-version"], capture_output=True, text=True, check=False).stdout
    return out.splitlines()[0].strip() if out else ""


def available_codecs(names: Optional[Sequence[str]] = None) -> Dict[str, bool]:
    """``{family: usable}`` for ``names`` (default: every family of :data:`CODECS`)."""
    names = list(CODECS) if names is None else list(names)
    ffmpeg = ffmpeg_path()
    have = _encoders(ffmpeg) if ffmpeg else frozenset()
    return {n: n in CODECS and CODECS[n].encoder in have for n in names}


def check_codecs(names: Sequence[str]) -> None:
    """Raise :class:`CodecUnavailable` (one line) unless every family can be encoded."""
    unknown = [n for n in names if n not in CODECS]
    if unknown:
        raise CodecUnavailable(f"unknown codec family {', '.join(unknown)}; known: "
                               f"{', '.join(CODECS)}")
    if names and not ffmpeg_path():
        raise CodecUnavailable("the codec conditions need the ffmpeg program on PATH "
                               "(Debian/Ubuntu: apt-get install ffmpeg)")
    missing = [n for n, ok in available_codecs(names).items() if not ok]
    if missing:
        raise CodecUnavailable("this ffmpeg cannot encode " + ", ".join(
            f"{n} (encoder {CODECS[n].encoder})" for n in missing)
            + "; leave these families out or install an ffmpeg built with them")


def _run(cmd, data: bytes) -> bytes:
    proc = subprocess.run(cmd, input=data, capture_output=True, check=False)
    if proc.returncode != 0:
        msg = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise CodecUnavailable(f"ffmpeg failed ({' '.join(cmd[:3])} ...): "
                               f"{msg[-1] if msg else 'exit ' + str(proc.returncode)}")
    return proc.stdout


def align_to(reference: np.ndarray, x: np.ndarray, max_lag: int) -> np.ndarray:
    """``x`` shifted by the lag (within +-``max_lag``) that best matches
    ``reference`` (cross-correlation), cut or zero-padded to its length."""
    n = reference.shape[0]
    m = min(n, x.shape[0])
    corr = sps.correlate(x[: m + max_lag], reference[:m], mode="full", method="fft")
    zero = m - 1  # index of lag 0
    lo, hi = max(0, zero - max_lag), min(corr.shape[0], zero + max_lag + 1)
    lag = int(np.argmax(corr[lo:hi])) + lo - zero
    if lag > 0:
        x = x[lag:]
    elif lag < 0:
        x = np.concatenate([np.zeros(-lag), x])
    out = np.zeros(n)
    out[: min(n, x.shape[0])] = x[:n]
    return out


def codec(x: np.ndarray, sample_rate: int, family: str, rate: Optional[str] = None) -> np.ndarray:
    """``x`` through the ``family`` codec at ``rate`` (one of ``CODECS[family].rates``;
    default its lowest), decoded, back at ``sample_rate``, delay removed."""
    check_codecs([family])
    spec = CODECS[family]
    if rate is None:
        rate = spec.rates[0]
    if rate not in spec.rates:
        raise ValueError(f"{family}: rate {rate!r} is not one of {spec.rates}")
    ffmpeg = ffmpeg_path()
    x = np.asarray(x, dtype=np.float64)
    y = resample(x, sample_rate, spec.sample_rate) if spec.sample_rate != sample_rate else x
    pcm = np.clip(y, -1.0, 1.0).astype("<f4").tobytes()
    base = [ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin", "-threads", "1"]
    enc = base + ["-f", "f32le", "-ar", str(spec.sample_rate), "-ac", "1", "-i", "pipe:0",
                  "-c:a", spec.encoder]
    if rate is not None:
        enc += [f"-{spec.option}", rate]
    enc += list(spec.extra) + ["-f", spec.container, "pipe:1"]
    coded = _run(enc, pcm)
    dec = base + ["-f", spec.demuxer or spec.container, "-i", "pipe:0", "-f", "f32le", "-ar",
                  str(spec.sample_rate), "-ac", "1", "pipe:1"]
    out = np.frombuffer(_run(dec, coded), dtype="<f4").astype(np.float64)
    if spec.sample_rate != sample_rate:
        out = resample(out, spec.sample_rate, sample_rate)
    return align_to(x, out, max_lag=int(0.2 * sample_rate))


def band_limit(x: np.ndarray, sample_rate: int, low_hz: float = 0.0,
               high_hz: Optional[float] = None, order: int = 8) -> np.ndarray:
    """Zero-phase Butterworth band-pass ``[low_hz, high_hz]`` (a low-pass when
    ``low_hz`` is 0, a high-pass when ``high_hz`` is None)."""
    nyq = sample_rate / 2.0
    x = np.asarray(x, dtype=np.float64)
    if high_hz is not None and high_hz >= nyq:
        high_hz = None
    if low_hz <= 0 and high_hz is None:
        return x.copy()
    if low_hz <= 0:
        sos = sps.butter(order, high_hz / nyq, btype="lowpass", output="sos")
    elif high_hz is None:
        sos = sps.butter(order, low_hz / nyq, btype="highpass", output="sos")
    else:
        sos = sps.butter(order // 2, [low_hz / nyq, high_hz / nyq], btype="bandpass", output="sos")
    return sps.sosfiltfilt(sos, x)


def telephone_band(x: np.ndarray, sample_rate: int) -> np.ndarray:
    """Narrow-band telephone channel: 300-3400 Hz, through 8 kHz and back."""
    y = band_limit(x, sample_rate, 300.0, 3400.0)
    if sample_rate > 8000:
        y = resample(resample(y, sample_rate, 8000), 8000, sample_rate)
    out = np.zeros(np.asarray(x).shape[0])
    out[: min(out.shape[0], y.shape[0])] = y[: out.shape[0]]
    return out


def hard_clip(x: np.ndarray, fraction: float) -> np.ndarray:
    """Clip ``x`` at the level that ``fraction`` of its samples exceed in magnitude
    (e.g. 0.05: the loudest 5 % are flattened), then restore the original peak."""
    x = np.asarray(x, dtype=np.float64)
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if peak == 0 or fraction <= 0:
        return x.copy()
    level = float(np.quantile(np.abs(x), 1.0 - float(fraction)))
    if level <= 0:
        return x.copy()
    return np.clip(x, -level, level) * (peak / level)


def dropouts(x: np.ndarray, sample_rate: int, loss: float, rng: np.random.Generator,
             packet_ms: float = 20.0, burst: float = 0.5) -> np.ndarray:
    """Packet loss: ``packet_ms`` packets lost (set to zero) at an average rate of
    ``loss``, in bursts (a two-state Gilbert model: after a loss the next packet is
    lost with probability ``burst``), with 2 ms fades so no click is added."""
    x = np.asarray(x, dtype=np.float64).copy()
    size = max(1, int(round(packet_ms * sample_rate / 1000.0)))
    n_packets = int(np.ceil(x.shape[0] / size))
    loss = float(np.clip(loss, 0.0, 0.9))
    if loss == 0 or n_packets == 0:
        return x
    # stationary loss rate p_loss = p / (1 - burst + p) for entry probability p
    p_enter = loss * (1.0 - burst) / max(1e-9, 1.0 - loss)
    lost = np.zeros(n_packets, bool)
    u = rng.random(n_packets)
    state = False
    for i in range(n_packets):
        state = u[i] < (burst if state else p_enter)
        lost[i] = state
    gain = np.repeat((~lost).astype(np.float64), size)[: x.shape[0]]
    fade = max(1, int(0.002 * sample_rate))
    gain = np.convolve(gain, np.ones(fade) / fade, mode="same")
    return x * gain


def room_response(sample_rate: int, rt60: float, drr_db: float,
                  rng: np.random.Generator) -> np.ndarray:
    """A synthetic room impulse response: a unit direct path, then exponentially
    decaying Gaussian noise (60 dB down after ``rt60`` seconds, low-passed as air
    and walls do) scaled so the direct-to-reverberant energy ratio is ``drr_db``."""
    n = max(2, int(rt60 * sample_rate))
    t = np.arange(n) / sample_rate
    tail = rng.standard_normal(n) * np.exp(-6.9078 * t / rt60)  # ln(1000) = 60 dB
    tail = band_limit(tail, sample_rate, 0.0, min(6000.0, 0.45 * sample_rate), order=2)
    onset = int(0.002 * sample_rate)  # first reflections arrive after ~2 ms
    tail[:onset] = 0.0
    energy = float(np.sum(tail ** 2))
    if energy > 0:
        tail *= np.sqrt(10 ** (-drr_db / 10.0) / energy)
    tail[0] = 1.0
    return tail


def reverberate(x: np.ndarray, sample_rate: int, rt60: float, drr_db: float,
                rng: np.random.Generator) -> np.ndarray:
    """``x`` convolved with :func:`room_response`, cut to its length."""
    h = room_response(sample_rate, rt60, drr_db, rng)
    x = np.asarray(x, dtype=np.float64)
    return sps.fftconvolve(x, h, mode="full")[: x.shape[0]]
