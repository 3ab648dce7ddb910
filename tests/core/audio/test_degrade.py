"""Degradations of tfaudio.audio.degrade: each changes the signal the way its name says."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import signal as sps

from tfaudio.audio import degrade as D

SR = 16000
HAVE_FFMPEG = D.ffmpeg_path() is not None
needs_ffmpeg = pytest.mark.skipif(not HAVE_FFMPEG, reason="the ffmpeg program is not installed "
                                  "(.ci/run installs it)")


def _speechlike(seconds=2.0, seed=0):
    """Harmonic bursts with a formant-like envelope and pauses."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    f0 = 120 + 30 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / SR
    x = sum(np.sin(k * phase) / k for k in range(1, 30))
    env = (np.sin(2 * np.pi * 2.5 * t) > -0.3).astype(float)
    x = x * sps.lfilter([1.0], [1.0, -0.95], env * 0.1) + 1e-3 * rng.standard_normal(t.size)
    return 0.5 * x / np.max(np.abs(x))


def _band_energy(x, lo, hi):
    f, p = sps.welch(x, SR, nperseg=1024)
    return float(p[(f >= lo) & (f < hi)].sum())


def test_band_limit_and_telephone_remove_the_band_above_the_cut():
    x = np.random.default_rng(1).standard_normal(2 * SR)
    y = D.band_limit(x, SR, 0.0, 4000.0)
    assert y.shape == x.shape
    assert _band_energy(y, 5000, 8000) < 1e-3 * _band_energy(x, 5000, 8000)
    assert _band_energy(y, 500, 3000) > 0.9 * _band_energy(x, 500, 3000)
    tel = D.telephone_band(x, SR)
    assert tel.shape == x.shape
    assert _band_energy(tel, 4000, 8000) < 1e-3 * _band_energy(x, 4000, 8000)
    assert _band_energy(tel, 0, 150) < 0.05 * _band_energy(x, 0, 150)


def test_hard_clip_flattens_the_requested_share_and_keeps_the_peak():
    x = _speechlike()
    y = D.hard_clip(x, 0.05)
    peak = np.max(np.abs(x))
    assert np.isclose(np.max(np.abs(y)), peak)
    flat = np.mean(np.isclose(np.abs(y), peak))
    assert 0.04 <= flat <= 0.06
    assert np.array_equal(D.hard_clip(x, 0.0), x)


def test_dropouts_lose_about_the_requested_share_of_packets():
    x = np.ones(60 * SR)
    y = D.dropouts(x, SR, 0.2, np.random.default_rng(0))
    packets = y[: (y.size // 320) * 320].reshape(-1, 320)
    lost = np.mean(packets[:, 100:220].max(axis=1) == 0)
    assert 0.16 <= lost <= 0.24
    again = D.dropouts(x, SR, 0.2, np.random.default_rng(0))
    assert np.array_equal(y, again)


def test_room_response_has_the_requested_direct_to_reverberant_ratio():
    for drr in (-2.0, 6.0, 12.0):
        h = D.room_response(SR, 0.5, drr, np.random.default_rng(3))
        measured = 10 * np.log10(h[0] ** 2 / np.sum(h[1:] ** 2))
        assert abs(measured - drr) < 1e-6
    x = _speechlike()
    y = D.reverberate(x, SR, 0.6, 0.0, np.random.default_rng(0))
    assert y.shape == x.shape and not np.allclose(x, y)


def test_align_to_undoes_a_delay():
    x = _speechlike()
    delayed = np.concatenate([np.zeros(517), x])[: x.size]
    assert np.allclose(D.align_to(x, delayed, max_lag=2000)[: x.size - 600], x[: x.size - 600])
    early = x[300:]
    out = D.align_to(x, early, max_lag=2000)
    assert np.allclose(out[300:], x[300:]) and np.all(out[:300] == 0)


def test_unknown_codec_and_missing_encoder_are_one_line_errors(monkeypatch):
    with pytest.raises(D.CodecUnavailable, match="unknown codec family nope"):
        D.check_codecs(["nope"])
    monkeypatch.setattr(D, "ffmpeg_path", lambda: None)
    with pytest.raises(D.CodecUnavailable, match="ffmpeg program"):
        D.check_codecs(["opus"])
    assert D.available_codecs(["opus"]) == {"opus": False}


@needs_ffmpeg
@pytest.mark.parametrize("family", ["opus", "mp3", "aac", "gsm", "g726", "codec2", "speex"])
def test_codecs_keep_length_remove_delay_and_are_deterministic(family):
    if not D.available_codecs([family])[family]:
        pytest.skip(f"this ffmpeg has no {family} encoder")
    x = _speechlike()
    rate = D.CODECS[family].rates[-1]  # the best setting: the output must follow the input
    y = D.codec(x, SR, family, rate)
    assert y.shape == x.shape and np.all(np.isfinite(y))
    assert np.array_equal(y, D.codec(x, SR, family, rate))
    corr = sps.correlate(y, x, mode="full", method="fft")
    assert abs(int(np.argmax(corr)) - (x.size - 1)) <= 2  # delay removed
    # the spectrum follows the input (codec2 is a vocoder: compare spectra, not waveforms)
    fx, px = sps.welch(x, SR, nperseg=512)
    _, py = sps.welch(y, SR, nperseg=512)
    band = (fx > 100) & (fx < 3500)
    assert np.corrcoef(np.log(px[band]), np.log(py[band] + 1e-12))[0, 1] > 0.8
    assert not np.allclose(x, y)  # the codec did something
