"""The Quality-Net that ships with tfaudio (exported_models/qualitynet/2): found where
the package is installed, scores speech-like signals, its TFLite files agree with its
SavedModel, its card's figures are export.json's, and it stays small."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tfaudio.audio import mix_at_snr
from tfaudio.systems.qualitynet.model_card import render
from tfaudio.systems.qualitynet.shipped import SHIPPED_VERSION, shipped_dir

SR = 16000


@pytest.fixture(scope="module")
def shipped():
    path = shipped_dir()
    assert path is not None, "the shipped Quality-Net is missing from this install"
    return path


def _speechlike(seconds, seed):
    """``seconds`` of a formant-synthesised utterance (the embedded TIMIT's speech
    synthesiser), peak 0.5."""
    from tfaudio.datasets.speech_synth import make_speakers, synth_utterance

    n = int(seconds * SR)
    x, _ = synth_utterance(make_speakers(3, seed=0)[seed % 3], seed, seconds=seconds + 0.5)
    x = np.pad(x, (0, max(0, n - len(x))))[:n]
    return (0.5 * x / np.max(np.abs(x))).astype(np.float32)


def test_found_from_the_installed_package(shipped):
    import tfaudio

    assert shipped.name == str(SHIPPED_VERSION) and shipped.parent.name == "qualitynet"
    pkg = os.path.dirname(tfaudio.__file__)
    # a source checkout keeps it beside the package, a wheel inside it
    assert str(shipped).startswith(os.path.dirname(pkg))
    for name in ("saved_model.pb", "model.tflite", "model_float16.tflite", "model_stream.tflite",
                 "export.json", "MODEL.md"):
        assert (shipped / name).is_file(), name


def test_tflite_equals_saved_model_on_speechlike_signals(shipped):
    import tensorflow as tf

    from tfaudio.systems.qualitynet.tflite_runtime import TFLiteQualityScorer

    sig = tf.saved_model.load(str(shipped)).signatures["frame_scores"]
    lite = TFLiteQualityScorer(shipped / "model.tflite")
    clean, scores = [], []
    for seed, seconds in enumerate((1.0, 2.5, 6.0)):
        x = _speechlike(seconds, seed)
        ref = sig(waveform=tf.constant(x[None]))
        got = lite(x)
        assert abs(got["score"] - float(ref["score"][0])) <= 1e-4
        assert np.max(np.abs(got["frame_scores"] - ref["frame_scores"].numpy()[0])) <= 1e-4
        clean.append(got["score"])
        noise = np.random.default_rng(seed).standard_normal(x.size).astype(np.float32)
        scores.append(lite(mix_at_snr(x, noise, 0.0))["score"])
    assert all(1.0 <= s <= 4.7 for s in clean + scores)
    assert np.mean(clean) > np.mean(scores) + 0.5  # white noise at 0 dB SNR costs quality


def test_model_card_figures_are_the_exports(shipped):
    meta = json.loads((shipped / "export.json").read_text())
    assert (shipped / "MODEL.md").read_text(encoding="utf-8") == render(meta)
    checks = meta["checks"]
    assert checks["tflite"]["bytes"] == (shipped / "model.tflite").stat().st_size
    assert checks["tflite_float16"]["bytes"] == (shipped / "model_float16.tflite").stat().st_size
    assert checks["stream"]["bytes"] == (shipped / "model_stream.tflite").stat().st_size
    saved = sum(p.stat().st_size for p in shipped.rglob("*") if p.is_file()
                and p.suffix != ".tflite" and p.name not in ("MODEL.md",))
    assert saved == checks["saved_model_bytes"] + (shipped / "export.json").stat().st_size
    three = checks["saved_model_bytes"] + checks["tflite"]["bytes"] + checks["tflite_float16"]["bytes"]
    assert three < 5_000_000
    card = meta["card"]
    lcc = {(r["family"], r["model"]): r["lcc"] for r in card["test"]["rows"]}
    gap = {r["family"]: r for r in card["test"]["lcc_difference"]}
    assert gap["all"]["difference"] == pytest.approx(
        lcc[("all", "Quality-Net")] - lcc[("all", "ridge baseline")], abs=1e-9)
    assert any(r["family"].startswith("zero-shot codec") for r in card["test"]["lcc_difference"])
    assert any(r["family"].startswith("zero-shot noise") for r in card["test"]["lcc_difference"])


SCORE = r"""
import json, sys
from tfaudio.systems.qualitynet.scorer import main
rc = main(["talk.wav", "--json"])
print(json.dumps({"rc": rc, "tensorflow_loaded": "tensorflow" in sys.modules}))
"""


def test_tfaudio_score_uses_it_with_no_flags_and_no_tensorflow(shipped, tmp_path):
    import soundfile as sf

    sf.write(tmp_path / "talk.wav", _speechlike(2.0, 7), SR)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    res = subprocess.run([sys.executable, "-c", SCORE], cwd=tmp_path, capture_output=True,
                         text=True, env=env, timeout=120)
    assert res.returncode == 0, res.stderr[-1500:]
    assert f"the shipped Quality-Net v{SHIPPED_VERSION}" in res.stderr
    lines = res.stdout.strip().splitlines()
    status, out = json.loads(lines[-1]), json.loads(lines[-2])
    assert status == {"rc": 0, "tensorflow_loaded": False}
    assert 1.0 <= out["score"] <= 4.7


def test_streaming_at_the_default_lookahead_equals_whole_file_scoring(shipped):
    """The shipped model streamed chunk by chunk (``model_stream.tflite``) against
    whole-file ``model.tflite`` on a 24 s call whose quality changes: at the default
    look-ahead the frame scores agree (mean <= 0.01, 99th percentile <= 0.1); at 64
    frames they are far off (the trained backward LSTM needs seconds of future)."""
    from tfaudio.systems.qualitynet import streaming as S
    from tfaudio.systems.qualitynet.tflite_runtime import TFLiteQualityScorer

    rng = np.random.default_rng(0)
    noisy = _speechlike(8, 2) + 0.05 * rng.standard_normal(8 * SR).astype(np.float32)
    x = np.concatenate([_speechlike(8, 1), noisy, _speechlike(8, 3)])
    x = (x / np.max(np.abs(x))).astype(np.float32)
    whole = TFLiteQualityScorer(shipped / "model.tflite", num_threads=1)(x)["frame_scores"]
    path = shipped / "model_stream.tflite"
    step, units = S.tflite_step(path, 1), S.units_of_tflite(path)

    def gap(lookahead):
        scorer = S.StreamingScorer(step, units, lookahead=lookahead, peak=1.0, chunk=16)
        streamed = S.stream_file_scores(scorer, x, chunk_samples=1234)
        assert streamed.shape == whole.shape
        return np.abs(streamed - whole)

    d = gap(S.DEFAULT_LOOKAHEAD)
    assert d.mean() <= 0.01 and np.percentile(d, 99) <= 0.1, (d.mean(), np.percentile(d, 99))
    assert gap(64).mean() >= 10 * d.mean()
