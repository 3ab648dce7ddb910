"""Block scoring of long audio (tfaudio.systems.qualitynet.blocks) equals whole-file scoring."""
import numpy as np
import pytest
import soundfile as sf
import soxr
import tensorflow as tf

from tfaudio.errors import AudioError
from tfaudio.systems.qualitynet import blocks as B
from tfaudio.systems.qualitynet.export import qualitynet_serving_module
from tfaudio.systems.qualitynet.model import QualityNet, QualityNetConfig

SR, HOP = 16000, 256
TINY = {"lstm_units": 8, "dense_units": [6], "lstm_chunk": 4, "lstm_block": 2}


@pytest.fixture(scope="module")
def fn():
    tf.random.set_seed(1)
    model = QualityNet(QualityNetConfig(**TINY))
    model.build((None, None))
    serve = qualitynet_serving_module(model).frame_scores
    calls = []

    def score(x):
        calls.append(len(x))
        out = serve(tf.constant(x[None, :]))
        return float(out["score"].numpy()[0]), out["frame_scores"].numpy()[0]

    score.calls = calls
    return score


def signal(seconds, seed=0):
    """Speech-like tones in noise, with one loud stretch so block peaks differ."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    phase = 2 * np.pi * np.cumsum(130 * (1 + 0.1 * np.sin(2 * np.pi * 0.4 * t))) / SR
    x = sum(np.sin(k * phase) / k for k in range(1, 8)) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t))
    x = 0.1 * x + 0.01 * rng.standard_normal(n) * (1 + np.sin(2 * np.pi * 0.05 * t))
    x[n // 3: n // 3 + 3000] *= 6
    return x.astype(np.float32)


def test_plan_covers_every_frame_once_frame_aligned():
    for samples in (16000 * 30 + 17, 16000 * 30, 256 * 900 - 1):
        plan = B.plan_blocks(samples, SR, HOP, block_seconds=2.0, context_seconds=0.5)
        blocks = plan.blocks()
        assert len(blocks) > 5
        assert blocks[0][2] == 0 and blocks[-1][3] == plan.frames == 1 + samples // HOP
        for (s0, e0, a0, z0), (s1, e1, a1, z1) in zip(blocks, blocks[1:]):
            assert z0 == a1  # consecutive cores, no gap, no overlap
        for start, end, a, z in blocks:
            assert start % HOP == 0 and 0 <= start and end <= samples
            assert start // HOP <= a and z - 1 <= (end - start) // HOP + start // HOP
    # short signals: one pass
    plan = B.plan_blocks(16000 * 3, SR, HOP, block_seconds=2.0, context_seconds=0.5)
    assert plan.blocks() == [(0, 48000, 0, plan.frames)]
    assert len(B.plan_blocks(10 ** 7, SR, HOP, block_seconds=None).blocks()) == 1


def test_blocks_equal_whole_file_scoring(fn):
    x = signal(40.0)
    whole, whole_frames = fn(x)
    fn.calls.clear()
    score, frames = B.score_waveform(fn, x, HOP, SR, block_seconds=6.0, context_seconds=2.0)
    assert len(fn.calls) == 7 and max(fn.calls) < len(x) / 3  # really in blocks
    assert frames.shape == whole_frames.shape
    assert np.max(np.abs(frames - whole_frames)) < 1e-4
    assert abs(score - whole) < 1e-4
    # pieces of any size give the same result as one piece
    pieces = np.split(x, [1, 5000, 5001, 123456, 400000])
    plan = B.plan_blocks(len(x), SR, HOP, 6.0, 2.0)
    s2, f2 = B.score_pieces(fn, iter(pieces), plan, float(np.max(np.abs(x))))
    assert s2 == score and np.array_equal(f2, frames)


def test_blocks_need_the_file_peak_and_context(fn):
    """The two corrections are needed: without them block scoring differs (so the
    equality test above can fail)."""
    x = signal(40.0)
    _, whole_frames = fn(x)
    plan = B.plan_blocks(len(x), SR, HOP, 6.0, 2.0)
    # each block normalised by its own peak (no peak sample): frames differ
    _, own_peak = B.score_pieces(fn, [x], plan, peak=0.0)
    assert np.max(np.abs(own_peak - whole_frames)) > 1e-3
    # no context: frames next to block edges differ
    _, no_context = B.score_waveform(fn, x, HOP, SR, block_seconds=6.0, context_seconds=0.0)
    assert np.max(np.abs(no_context - whole_frames)) > 1e-3


def test_score_file_streams_resampled_stereo_like_whole_file(fn, tmp_path):
    from tfaudio.audio import load_audio

    x = signal(30.0, seed=3)
    stereo = np.stack([x, 0.5 * x], axis=1)
    sf.write(tmp_path / "a.flac", soxr.resample(stereo, SR, 22050), 22050)
    whole = load_audio(tmp_path / "a.flac", sample_rate=SR)
    scan = B.scan_audio(tmp_path / "a.flac", SR, min_samples=512)
    assert scan.samples == len(whole) and scan.channels == 2 and scan.samplerate == 22050
    assert scan.peak == pytest.approx(float(np.max(np.abs(whole))), abs=1e-6)
    ref_score, ref_frames = fn(whole)
    score, frames = B.score_file(fn, tmp_path / "a.flac", scan, SR, HOP, block_seconds=5.0,
                                 context_seconds=2.0)
    assert np.max(np.abs(frames - ref_frames)) < 1e-4 and abs(score - ref_score) < 1e-4


def test_scan_refuses_short_and_nan_files_naming_them(tmp_path):
    sf.write(tmp_path / "ten.wav", np.full(10, 0.1, np.float32), SR)
    with pytest.raises(AudioError) as exc:
        B.scan_audio(tmp_path / "ten.wav", SR, min_samples=512)
    assert exc.value.path == str(tmp_path / "ten.wav") and "10 samples" in exc.value.reason
    sf.write(tmp_path / "one.wav", np.full(512, 0.1, np.float32), SR)
    assert B.scan_audio(tmp_path / "one.wav", SR, min_samples=512).samples == 512
    x = np.full(200000, 0.1, np.float32)
    x[150000] = np.nan  # past the first read chunk
    sf.write(tmp_path / "nan.wav", x, SR, subtype="FLOAT")
    with pytest.raises(AudioError, match="NaN"):
        B.scan_audio(tmp_path / "nan.wav", SR)


@pytest.mark.parametrize("rate", [8000, 16000, 22050])
def test_stream_gives_the_samples_of_load_audio(tmp_path, rate):
    from tfaudio.audio import load_audio

    x = 0.1 * np.random.default_rng(rate).standard_normal(2 * B.READ_CHUNK)  # chunk multiple
    sf.write(tmp_path / "a.wav", x.astype(np.float32), rate, subtype="FLOAT")
    whole = load_audio(tmp_path / "a.wav", sample_rate=SR)
    streamed = np.concatenate([m for _, m in B.stream_audio(tmp_path / "a.wav", SR)])
    assert streamed.shape == whole.shape and np.array_equal(streamed, whole)
    scan = B.scan_audio(tmp_path / "a.wav", SR)
    assert scan.samples == len(whole) and scan.peak == float(np.max(np.abs(whole)))
