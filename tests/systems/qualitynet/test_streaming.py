"""Streaming Quality-Net scores (tfaudio.systems.qualitynet.streaming): chunk-size
independent, exact where the stream's context is complete, closer to whole-file
scoring with more look-ahead, the same through the streaming TFLite model."""
from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from tfaudio.systems.qualitynet import streaming as S
from tfaudio.systems.qualitynet.export import convert_stream_tflite
from tfaudio.systems.qualitynet.model import QualityNet, QualityNetConfig

UNITS, CHUNK = 12, 4


@pytest.fixture(scope="module")
def model():
    m = QualityNet(QualityNetConfig(lstm_units=UNITS, dense_units=(6,), lstm_chunk=CHUNK,
                                    lstm_block=2))
    m.build((None, None))
    return m


def _speechlike(seconds, seed=0, loud_at=None):
    rng = np.random.default_rng(seed)
    n = int(seconds * 16000)
    t = np.arange(n) / 16000
    x = 0.2 * np.sin(2 * np.pi * 150 * t) * (1 + np.sin(2 * np.pi * 3 * t)) \
        + 0.02 * rng.standard_normal(n)
    if loud_at is not None:
        i = int(loud_at * 16000)
        x[i:i + 400] *= 4.0
    return x.astype(np.float32)


def _whole(model, x):
    return model(x[None])["frame_scores"].numpy()[0]


def _stream(model, x, chunk_samples=1000, **kw):
    kw.setdefault("hop", 16)
    scorer = S.StreamingScorer(S.keras_step(model), UNITS, chunk=CHUNK, **kw)
    return S.stream_file_scores(scorer, x, chunk_samples), scorer


def test_frame_count_and_chunk_size_independence(model):
    x = _speechlike(2.3)
    ref, scorer = _stream(model, x, 1000, lookahead=8)
    assert ref.shape == (1 + x.size // 256,)
    assert np.isclose(scorer.score, ref.mean())
    for size in (1, 257, 16000, x.size):
        other, _ = _stream(model, x, size, lookahead=8)
        np.testing.assert_array_equal(other, ref)


def test_complete_context_equals_whole_file(model):
    x = _speechlike(1.5, seed=1)
    whole = _whole(model, x)
    # look-ahead past the end: the one step is the stream's last, with the true end
    everything, scorer = _stream(model, x, lookahead=200, peak=float(np.max(np.abs(x))))
    np.testing.assert_allclose(everything, whole, atol=1e-5)
    # otherwise the frames of the last step see the true end
    streamed, scorer = _stream(model, x, lookahead=8, peak=float(np.max(np.abs(x))))
    tail = scorer.last_step_frames
    assert 0 < tail < len(whole)
    np.testing.assert_allclose(streamed[-tail:], whole[-tail:], atol=1e-5)


def test_forward_state_is_carried_exactly(model):
    x = _speechlike(2.0, seed=2)
    clone = QualityNet.from_config(model.get_config())
    clone.build((None, None))
    clone.set_weights(model.get_weights())
    bwd = clone.blstm.backward_layer
    for v in (bwd.kernel, bwd.recurrent_kernel, bwd.bias):
        v.assign(tf.zeros_like(v))  # the backward half no longer depends on the future
    streamed, _ = _stream(clone, x, lookahead=0, peak=float(np.max(np.abs(x))))
    np.testing.assert_allclose(streamed, _whole(clone, x), atol=1e-5)


def test_more_lookahead_comes_closer_to_whole_file(model):
    x = _speechlike(4.0, seed=3)
    whole = _whole(model, x)
    peak = float(np.max(np.abs(x)))
    gaps = [float(np.mean(np.abs(_stream(model, x, lookahead=la, peak=peak)[0] - whole)))
            for la in (0, 16, 64)]
    assert gaps[0] > gaps[1] > gaps[2]


def test_running_peak(model):
    early = _speechlike(2.0, seed=4, loud_at=0.01)
    fixed, _ = _stream(model, early, lookahead=16, peak=float(np.max(np.abs(early))))
    running, _ = _stream(model, early, lookahead=16)
    np.testing.assert_allclose(running, fixed, atol=1e-6)  # the peak arrives first
    late = _speechlike(2.0, seed=4, loud_at=1.8)
    fixed, _ = _stream(model, late, lookahead=16, peak=float(np.max(np.abs(late))))
    running, _ = _stream(model, late, lookahead=16)
    assert not np.allclose(running[:32], fixed[:32])  # frames before the peak differ
    np.testing.assert_allclose(running[-4:], fixed[-4:], atol=1e-5)


def test_memory_is_bounded_and_bad_input_refused(model):
    scorer = S.StreamingScorer(S.keras_step(model), UNITS, lookahead=8, hop=16, chunk=CHUNK)
    most = 0
    for i in range(40):
        scorer.feed(_speechlike(0.25, seed=i))
        most = max(most, scorer._buf.size)
    assert most <= (16 + 8 + 1) * 256 + 4000
    with pytest.raises(ValueError, match="finite"):
        scorer.feed(np.array([0.0, np.nan], np.float32))
    scorer.finish()
    with pytest.raises(RuntimeError, match="finished"):
        scorer.feed(np.zeros(10, np.float32))
    with pytest.raises(ValueError, match="multiple of 4"):
        S.StreamingScorer(S.keras_step(model), UNITS, hop=6, chunk=CHUNK)


def test_tiny_stream_still_scores_frame_zero(model):
    x = _speechlike(0.01)
    streamed, _ = _stream(model, x, lookahead=8)
    assert streamed.shape == (1,) and np.isfinite(streamed).all()


def test_streaming_tflite_matches_tensorflow(model, tmp_path):
    path = tmp_path / "stream.tflite"
    convert_stream_tflite(model, path)
    x = _speechlike(2.5, seed=5)
    ref, _ = _stream(model, x, lookahead=16)
    lite = S.StreamingScorer(S.tflite_step(path), S.units_of_tflite(path), lookahead=16,
                             hop=16, chunk=CHUNK)
    got = S.stream_file_scores(lite, x, 1000)
    np.testing.assert_allclose(got, ref, atol=1e-4)
