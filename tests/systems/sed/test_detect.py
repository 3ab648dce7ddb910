"""Long recordings: overlapping windows stitched on one frame grid give, away from
window edges, exactly the scores and events of the fixed-length pieces."""
import numpy as np
import pytest

from tfaudio.systems.sed import postprocess as P

SR, FRAME, WIN = 100, 10, 1000  # 10 s windows of 100 frames at 0.1 s


def context_model(windows):
    """A stand-in detector whose scores depend on the whole window (like a BiGRU):
    frame energy relative to the window's loudest frame."""
    frames = windows.reshape(len(windows), -1, FRAME)
    e = (frames**2).mean(-1)
    return (e / (e.max(axis=1, keepdims=True) + 1e-9))[..., None]


def _bursts(seconds, rng):
    x = 0.01 * rng.standard_normal(seconds * SR)
    events = []
    for piece in range(seconds // 10):
        for _ in range(2):
            on = piece * 10 + rng.uniform(0.5, 8.0)
            dur = rng.uniform(0.5, 1.5)
            i, j = int(on * SR), int((on + dur) * SR)
            x[i:j] += rng.uniform(0.5, 1.0) * np.sin(np.arange(j - i))
            events.append((on, on + dur))
    return x.astype(np.float32)


def _inside(events, lo, hi):
    return [e for e in events if e[0] >= lo and e[1] <= hi]


def test_stitched_events_match_the_pieces_away_from_boundaries():
    x = _bursts(60, np.random.default_rng(0))
    scores = P.stitch(x, WIN, FRAME, WIN // FRAME, context_model, hop_seconds=5.0, sample_rate=SR)
    assert scores.shape == (600, 1)
    long_events = P.decode(scores, ["burst"], FRAME / SR, 0.5, 3)
    compared = 0
    for k in range(6):
        piece = x[k * WIN : (k + 1) * WIN]
        piece_scores = context_model(piece[None])[0]
        # frames away from the piece's edges are the same numbers
        np.testing.assert_allclose(scores[k * 100 + 26 : k * 100 + 75], piece_scores[26:75], rtol=0, atol=0)
        piece_events = _inside(P.decode(piece_scores, ["burst"], FRAME / SR, 0.5, 3, offset=10.0 * k),
                               10 * k + 2.5, 10 * k + 7.5)
        for on, off, lab in piece_events:
            match = [e for e in long_events if e[2] == lab and abs(e[0] - on) <= 0.2 and abs(e[1] - off) <= 0.2]
            assert match, (on, off, long_events)
            compared += 1
    assert compared >= 3  # the check compared real events


def test_stitch_handles_short_and_ragged_lengths():
    for n in (250, 1000, 1234, 6000):
        x = np.random.default_rng(n).standard_normal(n).astype(np.float32)
        s = P.stitch(x, WIN, FRAME, WIN // FRAME, context_model, 5.0, SR)
        assert s.shape == (int(np.ceil(n / FRAME)), 1) and np.isfinite(s).all()


@pytest.fixture(scope="module")
def exported(tiny_sed_run, tmp_path_factory):
    from tfaudio.systems.sed.export import export_sed

    return export_sed(tiny_sed_run, base_dir=tmp_path_factory.mktemp("sed-export"), tflite=False)


def test_exported_model_on_a_60_s_file(exported):
    """The trained export: a 60 s recording made of six 10 s clips; stitched frame
    scores equal the pieces' scores in the pieces' central frames, and events decoded
    there agree within the 200 ms collar."""
    from tfaudio.systems.sed.detect import Detector

    det = Detector(exported, median=1)
    rng = np.random.default_rng(1)
    x = (0.3 * rng.standard_normal(det.window * 6) * np.repeat(rng.uniform(0.1, 1, 60), det.window // 10)).astype(np.float32)
    long_scores = det.scores(x)
    fpw, hop = det.frames_per_window, det.hop
    assert long_scores.shape[0] == int(np.ceil(len(x) / det.frame_samples))
    thr = float(np.quantile(long_scores, 0.6))  # a threshold that gives events whatever the tiny model learnt
    long_events = P.decode(long_scores, det.classes, hop, thr, 1)
    compared = 0
    for k in range(6):
        piece = det._score(x[k * det.window : (k + 1) * det.window][None])[0]
        a, b = int(fpw * 0.3), int(fpw * 0.7)
        np.testing.assert_allclose(long_scores[k * fpw + a : k * fpw + b], piece[a:b], atol=1e-5)
        for on, off, lab in _inside(P.decode(piece, det.classes, hop, thr, 1, offset=10.0 * k),
                                    10 * k + 3.0, 10 * k + 7.0):
            assert any(e[2] == lab and abs(e[0] - on) <= 0.2 and abs(e[1] - off) <= 0.2 for e in long_events)
            compared += 1
    assert compared > 0


def test_detect_command_writes_a_dcase_tsv(exported, tmp_path):
    import soundfile as sf

    from tests import harness

    wav = tmp_path / "long.wav"
    sf.write(wav, 0.1 * np.random.default_rng(0).standard_normal(16000 * 25), 16000)
    out = tmp_path / "events.tsv"
    res = harness.run_cli("tfaudio.systems.sed.detect", [wav, "--model", exported, "--out", out,
                                                         "--plot", tmp_path / "p.png", "--threshold", "0.3"])
    assert res.returncode == 0, res.stderr[-3000:]
    lines = out.read_text().splitlines()
    assert lines[0] == "filename\tonset\toffset\tevent_label"
    for line in lines[1:]:
        name, on, off, lab = line.split("\t")
        assert name == "long.wav" and 0 <= float(on) < float(off) <= 25.0 + 1e-6
    assert (tmp_path / "p.png").stat().st_size > 0


def test_detect_bad_inputs_are_one_line(tmp_path):
    from tests import harness

    res = harness.run_cli("tfaudio.systems.sed.detect", [tmp_path / "x.wav", "--model", tmp_path / "nope"])
    harness.assert_user_error(res, "nope")


def test_detect_skips_unreadable_files_and_says_so(exported, tmp_path):
    import soundfile as sf

    from tests import harness

    good, bad = tmp_path / "good.wav", tmp_path / "bad.wav"
    sf.write(good, np.zeros(8000 * 3), 8000)
    bad.write_bytes(b"not audio")
    res = harness.run_cli("tfaudio.systems.sed.detect", [bad, good, "--model", exported])
    assert res.returncode == 1, res.stderr[-3000:]
    assert "skipped" in res.stderr and "bad.wav" in res.stderr and "Traceback" not in res.stderr
    assert res.stdout.splitlines()[0] == "filename\tonset\toffset\tevent_label"
