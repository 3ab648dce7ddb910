"""Deterministic synthetic speech / noise, the embedded set and the cache folder."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from tfaudio.audio.io import load_audio
from tfaudio.datasets import noise
from tfaudio.datasets import timit_embedded as ss
from tfaudio.systems.qualitynet import data as qdata
from tfaudio.data.cache import cache_root
from tfaudio.systems.qualitynet.manifest import read_manifest


def test_utterance_deterministic_and_speech_like():
    spk = ss.make_speakers(3, seed=5)
    a, segs_a = ss.synth_utterance(spk[1], [1, 2], seconds=1.5)
    b, segs_b = ss.synth_utterance(spk[1], [1, 2], seconds=1.5)
    assert a.dtype == np.float32 and np.array_equal(a, b) and segs_a == segs_b
    c, _ = ss.synth_utterance(spk[1], [1, 3], seconds=1.5)
    assert not (a.shape == c.shape and np.array_equal(a, c))
    assert np.all(np.isfinite(a)) and 0.01 < np.max(np.abs(a)) <= 0.95
    assert 1.2 < a.shape[0] / 16000 < 2.5
    # syllabic structure: the 20 ms energy envelope has loud and quiet stretches
    frames = a[: a.shape[0] // 320 * 320].reshape(-1, 320)
    level = 10 * np.log10(np.mean(frames.astype(np.float64) ** 2, axis=1) + 1e-12)
    assert level.max() - level.min() > 40
    assert np.mean(level > level.max() - 20) > 0.2  # not one short blip
    labels = {lab for _, _, lab in segs_a}
    assert "h#" in labels and len(labels) > 4
    assert segs_a[0][0] == 0 and segs_a[-1][1] == a.shape[0]


def test_speakers_differ_in_pitch():
    spk = ss.make_speakers(4)
    assert [s.name[0] for s in spk] == ["F", "M", "F", "M"]
    assert len({s.name for s in spk}) == 4
    assert min(s.f0 for s in spk if s.name[0] == "F") > max(s.f0 for s in spk if s.name[0] == "M")


def test_noises_deterministic():
    for name in ss.NOISE_NAMES:
        a = noise.synth_noise(name, seconds=1.0, seed=2)
        b = noise.synth_noise(name, seconds=1.0, seed=2)
        assert a.shape == (16000,) and a.dtype == np.float32 and np.array_equal(a, b), name
        assert abs(np.sqrt(np.mean(a.astype(np.float64) ** 2)) - 0.1) < 0.02, name
        assert np.max(np.abs(a)) <= 0.99
    assert not np.array_equal(noise.synth_noise("white", 1.0), noise.synth_noise("pink", 1.0))
    with pytest.raises(ValueError, match="unknown noise"):
        noise.synth_noise("jet")


def _tree_bytes(root: Path):
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_timit_tree_layout_sphere_and_byte_identical(tmp_path):
    a = ss.write_timit_tree(tmp_path / "a", n_speakers=2, utterances_per_speaker=3, seed=4)
    ss.write_timit_tree(tmp_path / "b", n_speakers=2, utterances_per_speaker=3, seed=4,
                        workers=2)
    assert _tree_bytes(tmp_path / "a") == _tree_bytes(tmp_path / "b")
    rel = sorted(p.relative_to(tmp_path / "a").as_posix() for p in a)
    assert rel[0].startswith("TRAIN/DR1/") and all(r.endswith(".WAV") for r in rel)
    assert len(rel) == 6 and {Path(r).stem for r in rel} == {"SA1", "SA2", "SI500"}
    for wav in a:
        assert wav.read_bytes()[:7] == b"NIST_1A"
        info = sf.info(str(wav))
        assert info.format == "NIST" and info.subtype == "PCM_16" and info.samplerate == 16000
        x = load_audio(wav, sample_rate=16000)
        assert 1.0 <= x.shape[0] / 16000 <= 3.0
        txt = wav.with_suffix(".TXT").read_text().split()
        assert txt[0] == "0" and int(txt[1]) == x.shape[0]
        phn = wav.with_suffix(".PHN").read_text().splitlines()
        assert phn[0].split()[0] == "0" and int(phn[-1].split()[1]) == x.shape[0]


def test_noise_folder(tmp_path):
    paths = noise.write_noise_folder(tmp_path, names=("white", "factory1"), seconds=0.5)
    assert [p.name for p in paths] == ["white.wav", "factory1.wav"]
    assert load_audio(paths[1]).shape == (8000,)


def test_cache_root_env(monkeypatch, tmp_path):
    monkeypatch.delenv("TFAUDIO_CACHE", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_root() == (tmp_path / "home" / ".cache" / "tfaudio").resolve()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == (tmp_path / "xdg" / "tfaudio").resolve()
    monkeypatch.setenv("TFAUDIO_CACHE", str(tmp_path / "tf"))
    assert cache_root() == (tmp_path / "tf").resolve()


TINY = dict(n_speakers=4, utterances_per_speaker=3, workers=1, progress=False)


def test_embedded_set_built_once_and_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("TFAUDIO_CACHE", str(tmp_path / "cache"))
    path = qdata.ensure_embedded_quality_set(**TINY)
    assert path.parent == tmp_path / "cache" / "embedded" / "qualitynet"
    assert ss.GENERATOR_VERSION in path.name
    meta = json.loads((path / "embedded.json").read_text())
    assert meta["utterances"] == 12
    assert (path / "sources" / "speech" / "TRAIN" / "DR1").is_dir()
    df = read_manifest(path / "all.csv")
    assert len(df) == 12 and set(df["condition"]) == {"clean", "noisy", "enhanced"}
    for split in ("train", "dev", "test"):
        assert len(read_manifest(path / f"{split}.csv")) > 0
    # nothing left over from the build
    assert [p.name for p in path.parent.iterdir()] == [path.name]
    # second call: cached, nothing rebuilt
    stamp = (path / "embedded.json").stat().st_mtime_ns
    calls = []
    monkeypatch.setattr(qdata, "write_timit_tree", lambda *a, **k: calls.append(1))
    assert qdata.ensure_embedded_quality_set(**TINY) == path
    assert calls == [] and (path / "embedded.json").stat().st_mtime_ns == stamp


def test_embedded_version_change_rebuilds(tmp_path, monkeypatch):
    first = qdata.ensure_embedded_quality_set(cache_dir=tmp_path, **TINY)
    monkeypatch.setattr(qdata, "GENERATOR_VERSION", "qsynth-test")
    second = qdata.ensure_embedded_quality_set(cache_dir=tmp_path, **TINY)
    assert second != first and "qsynth-test" in second.name
    assert (second / "embedded.json").is_file() and (first / "embedded.json").is_file()


def test_interrupted_build_leaves_nothing(tmp_path, monkeypatch):
    import tfaudio.systems.qualitynet.quality_set as quality

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(quality, "make_quality_set", boom)
    with pytest.raises(KeyboardInterrupt):
        qdata.ensure_embedded_quality_set(cache_dir=tmp_path, **TINY)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_default_embedded_set_spans_pesq_range(tmp_path):
    path = qdata.ensure_embedded_quality_set(cache_dir=tmp_path, progress=False)
    df = read_manifest(path / "all.csv")
    assert 300 <= len(df) <= 500
    by = df.groupby("condition")["score"]
    assert by.min()["clean"] > 4.4
    assert by.min()["noisy"] < 1.2 and by.max()["noisy"] > 3.5
    assert by.median()["enhanced"] > by.median()["noisy"]
    assert pd.Series(df["score"]).between(2.5, 4.0).sum() > 40
