"""The shared audio reader names what is wrong with a file in words a user can act on."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from tfaudio.audio.io import AudioError, load_audio


def _header_only(path, n_bytes=None):
    sf.write(path, np.zeros(0, dtype=np.float32), 16000)
    if n_bytes is not None:
        path.write_bytes(path.read_bytes()[:n_bytes])


@pytest.mark.parametrize("make, reason", [
    (lambda p: p.write_bytes(b""), "empty file (0 bytes"),
    (lambda p: _header_only(p), "holds no samples (empty audio)"),
    (lambda p: _header_only(p, 30), "empty (a 30-byte header and no samples)"),
    (lambda p: p.write_bytes(b"this is a text file, not audio\n" * 4), "not a readable audio file"),
    (lambda p: sf.write(p, np.full(800, np.nan, dtype=np.float32), 16000,
                             subtype="FLOAT"), "NaN or infinite"),
])
def test_bad_files_are_named_with_their_reason(tmp_path, make, reason):
    path = tmp_path / "clip.wav"
    make(path)
    with pytest.raises(AudioError) as err:
        load_audio(path, sample_rate=16000)
    assert str(path) in str(err.value) and reason in str(err.value)
    assert "Format not recognised" not in str(err.value) or reason == "not a readable audio file"


def test_a_good_file_still_reads(tmp_path):
    x = (0.1 * np.sin(np.arange(1600) / 5)).astype(np.float32)
    sf.write(tmp_path / "ok.wav", x, 16000, subtype="FLOAT")
    np.testing.assert_allclose(load_audio(tmp_path / "ok.wav", sample_rate=16000), x, atol=1e-7)
