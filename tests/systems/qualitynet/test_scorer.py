"""`tfaudio-score`: JSON output, listed skips of bad files, notes / warnings, model
lookup, and the TFLite (on-device convention) path matching the SavedModel path."""
import json
import shutil

import numpy as np
import pytest
import soundfile as sf

from tfaudio.systems.qualitynet.scorer import main
from tfaudio.systems.qualitynet.export import export_qualitynet
from tfaudio.systems.qualitynet import run as R

SR = 16000


def speechy(seconds, seed=0, sr=SR):
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    t = np.arange(n) / sr
    f0 = 140 * (1 + 0.1 * np.sin(2 * np.pi * 0.5 * t))
    phase = 2 * np.pi * np.cumsum(f0) / sr
    x = sum(np.sin(k * phase) / k for k in range(1, 10)) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))
    return (0.2 * x + 0.02 * rng.standard_normal(n)).astype(np.float32)


@pytest.fixture(scope="module")
def setup(tmp_path_factory, tiny_qualitynet_run):
    root = tmp_path_factory.mktemp("qscore")
    (root / "run").symlink_to(tiny_qualitynet_run[0], target_is_directory=True)
    export = export_qualitynet(root / "run", base_dir=root / "models")
    audio = root / "audio"
    audio.mkdir()
    for sec in (1, 5, 20):
        sf.write(audio / f"s{sec:02d}.wav", speechy(sec, sec), SR)
    return root, export, audio


def run(capsys, *argv):
    rc = main([str(a) for a in argv])
    out = capsys.readouterr()
    return rc, out.out, out.err


def parse(out):
    return [json.loads(line) for line in out.strip().splitlines()]


def test_json_output_one_object_per_file(setup, capsys):
    root, export, audio = setup
    rc, out, err = run(capsys, audio, "--json", "--frames", "--model", export)
    assert rc == 0, err
    rows = parse(out)
    assert [r["path"] for r in rows] == [str(audio / f"s{s:02d}.wav") for s in (1, 5, 20)]
    model, _ = R.load_trained_model(root / "run")
    for r, sec in zip(rows, (1, 5, 20)):
        x = speechy(sec, sec)
        ref = model(x[None, :])
        assert r["score"] == pytest.approx(float(ref["score"][0]), abs=1e-4)
        assert len(r["frames"]) == 1 + len(x) // 256 and r["frame_hop_seconds"] == 0.016
        assert r["seconds"] == pytest.approx(sec)
    # plain text: "score<TAB>path"
    rc, out, _ = run(capsys, audio / "s01.wav", "--model", export)
    score, path = out.strip().split("\t")
    assert path == str(audio / "s01.wav") and float(score) == pytest.approx(rows[0]["score"], abs=1e-3)


def test_tflite_matches_saved_model_at_1_5_20_seconds(setup, capsys):
    _, export, audio = setup
    _, out_sm, _ = run(capsys, audio, "--json", "--frames", "--model", export)
    rc, out_lite, err = run(capsys, audio, "--json", "--frames", "--tflite", export / "model.tflite")
    assert rc == 0 and "TFLite" in err
    for a, b in zip(parse(out_sm), parse(out_lite)):
        assert abs(a["score"] - b["score"]) < 1e-3, (a["path"], a["score"], b["score"])
        assert np.max(np.abs(np.array(a["frames"]) - np.array(b["frames"]))) < 1e-3


def test_bad_files_are_listed_skips_never_nan(setup, capsys, tmp_path):
    _, export, audio = setup
    shutil.copy(audio / "s01.wav", tmp_path / "good.wav")
    (tmp_path / "junk.wav").write_bytes(b"RIFF? no")
    sf.write(tmp_path / "empty.wav", np.zeros(0, np.float32), SR)
    sf.write(tmp_path / "nan.wav", np.full(1600, np.nan, np.float32), SR, subtype="FLOAT")
    rc, out, err = run(capsys, tmp_path, tmp_path / "missing.wav", "--json", "--model", export)
    assert rc == 1
    rows = parse(out)
    assert [r["path"] for r in rows] == [str(tmp_path / "good.wav")]
    assert "nan" not in out.lower().replace("nan.wav", "")
    assert f"skipped: {tmp_path / 'junk.wav'}: not a readable audio file" in err
    assert f"skipped: {tmp_path / 'empty.wav'}: file holds no samples" in err
    assert f"skipped: {tmp_path / 'nan.wav'}: audio contains NaN" in err
    assert f"skipped: {tmp_path / 'missing.wav'}: no such file" in err
    assert "1 file(s) scored, 4 skipped" in err


def test_resampling_channels_clipping_and_silence_are_reported(setup, capsys, tmp_path):
    _, export, audio = setup
    import soxr

    x = speechy(1.0, 3)
    sf.write(tmp_path / "hi.flac", soxr.resample(x, SR, 44100), 44100)
    sf.write(tmp_path / "stereo.wav", np.stack([x, x], axis=1), SR)
    sf.write(tmp_path / "clipped.wav", np.clip(20 * x, -1, 1), SR)
    sf.write(tmp_path / "silent.wav", np.zeros(SR, np.float32), SR)
    rc, out, err = run(capsys, tmp_path, "--json", "--model", export)
    assert rc == 0, err
    rows = {r["path"].rsplit("/", 1)[-1]: r for r in parse(out)}
    assert rows["hi.flac"]["notes"] == ["resampled from 44100 Hz to 16000 Hz"]
    assert "resampled from 44100 Hz" in err
    assert rows["stereo.wav"]["notes"] == ["2 channels mixed to mono"]
    assert rows["clipped.wav"]["warnings"][0].startswith("clipped:")
    assert rows["silent.wav"]["warnings"][0].startswith("silent")
    assert all(np.isfinite(r["score"]) for r in rows.values())
    # the resampled file scores close to the same audio at 16 kHz
    _, out16, _ = run(capsys, tmp_path / "stereo.wav", "--json", "--model", export)
    assert abs(rows["hi.flac"]["score"] - parse(out16)[0]["score"]) < 0.05


def test_without_a_shipped_model_the_newest_export_else_the_run(setup, capsys, tmp_path,
                                                              monkeypatch):
    from tfaudio.systems.qualitynet import shipped

    root, export, audio = setup
    monkeypatch.setattr(shipped, "shipped_dir", lambda: None)  # an install without it
    monkeypatch.chdir(tmp_path)
    rc, _, err = run(capsys, audio / "s01.wav")
    assert rc == 2 and "no Quality-Net model found" in err
    shutil.copytree(root / "run", tmp_path / "runs" / "qualitynet")
    rc, out_run, err = run(capsys, audio / "s01.wav", "--json")
    assert rc == 0 and "best checkpoint of runs/qualitynet" in err
    for v in ("1", "3"):
        shutil.copytree(export, tmp_path / "exported_models" / "qualitynet" / v)
    rc, out, err = run(capsys, audio / "s01.wav", "--json")
    assert rc == 0 and "SavedModel exported_models/qualitynet/3" in err
    assert parse(out)[0]["score"] == pytest.approx(parse(out_run)[0]["score"], abs=1e-4)


def test_exports_flag_picks_the_newest_version_there(setup, capsys, tmp_path):
    root, export, audio = setup
    rc, _, err = run(capsys, audio / "s01.wav", "--exports", tmp_path)
    assert rc == 2 and f"no Quality-Net export under {tmp_path}/qualitynet" in err
    for v in ("2", "10"):
        shutil.copytree(export, tmp_path / "qualitynet" / v)
    rc, out, err = run(capsys, audio / "s01.wav", "--exports", tmp_path)
    assert rc == 0 and f"SavedModel {tmp_path}/qualitynet/10" in err


# ----------------------------------------------------------------------------------
# --stream
# ----------------------------------------------------------------------------------
def _stream_rows(out):
    lines = out.strip().splitlines()
    assert lines[-1].startswith("score\t")
    frames = np.array([float(line.split("\t")[1]) for line in lines[:-1]])
    times = np.array([float(line.split("\t")[0]) for line in lines[:-1]])
    return times, frames, float(lines[-1].split("\t")[1])


def test_stream_a_file_matches_the_streaming_library_and_ends_exactly(setup, capsys):
    from tfaudio.systems.qualitynet import streaming as S

    root, export, audio = setup
    rc, out, err = run(capsys, "--stream", audio / "s05.wav", "--model", export,
                       "--lookahead", "0.5", "--hop", "0.25")
    assert rc == 0, err
    assert "look-ahead 31 frames, step 16 frames" in err
    times, frames, score = _stream_rows(out)
    x = speechy(5, 5)
    assert frames.size == 1 + x.size // 256 and times[1] == pytest.approx(0.016)
    model, _ = R.load_trained_model(root / "run")
    ref = S.StreamingScorer(S.keras_step(model), model.config.lstm_units, lookahead=31, hop=16,
                            chunk=model.config.lstm_chunk)
    expect = S.stream_file_scores(ref, x)
    np.testing.assert_allclose(frames, expect, atol=2e-3)  # printed with 3 decimals
    whole = model(x[None])["frame_scores"].numpy()[0]
    tail = ref.last_step_frames
    np.testing.assert_allclose(frames[-tail:], whole[-tail:], atol=2e-3)
    assert score == pytest.approx(float(np.mean(expect)), abs=2e-3)


def test_stream_raw_pcm_and_tflite_agree_with_the_saved_model(setup, capsys, tmp_path):
    _, export, audio = setup
    x = speechy(2, 7)
    pcm = (np.clip(x, -1, 1) * 32767).astype("<i2")
    (tmp_path / "a.raw").write_bytes(pcm.tobytes())
    sf.write(tmp_path / "a.wav", pcm, SR, subtype="PCM_16")  # the same samples
    rc, out_raw, err = run(capsys, "--stream", tmp_path / "a.raw", "--tflite",
                           export / "model.tflite", "--json")
    assert rc == 0 and "model_stream.tflite" in err, err
    rc, out_wav, _ = run(capsys, "--stream", tmp_path / "a.wav", "--model", export, "--json")
    assert rc == 0
    raw, wav = parse(out_raw), parse(out_wav)
    assert raw[-1]["frames"] == wav[-1]["frames"] == 1 + x.size // 256
    a = np.concatenate([r["frame_scores"] for r in raw[:-1]])
    b = np.concatenate([r["frame_scores"] for r in wav[:-1]])
    np.testing.assert_allclose(a, b, atol=1e-4)


def test_stream_follows_a_growing_wav_file(setup, capsys, tmp_path):
    import threading
    import time

    _, export, audio = setup
    x = (np.clip(speechy(3, 8), -1, 1) * 32767).astype("<i2")
    path = tmp_path / "growing.wav"
    header = bytearray(b"RIFF" + (0).to_bytes(4, "little") + b"WAVEfmt "
                       + (16).to_bytes(4, "little") + (1).to_bytes(2, "little")
                       + (1).to_bytes(2, "little") + SR.to_bytes(4, "little")
                       + (2 * SR).to_bytes(4, "little") + (2).to_bytes(2, "little")
                       + (16).to_bytes(2, "little") + b"data" + (0).to_bytes(4, "little"))

    def writer():  # a recorder: header with unknown size, data in bursts, then the real size
        with open(path, "r+b") as fh:
            fh.seek(len(header))
            for i in range(0, x.size, 4000):
                fh.write(x[i:i + 4000].tobytes())
                fh.flush()
                time.sleep(0.05)
            fh.seek(len(header) - 4)
            fh.write((x.size * 2).to_bytes(4, "little"))

    path.write_bytes(bytes(header))
    t = threading.Thread(target=writer)
    t.start()
    rc, out, err = run(capsys, "--stream", path, "--model", export, "--idle", "5")
    t.join()
    assert rc == 0, err
    _, frames, _ = _stream_rows(out)
    finished = tmp_path / "finished.wav"
    sf.write(finished, x.astype(np.float32) / 32768.0, SR, subtype="PCM_16")
    rc, out2, _ = run(capsys, "--stream", finished, "--model", export)
    np.testing.assert_array_equal(frames, _stream_rows(out2)[1])


def test_stream_errors_are_one_line(setup, capsys, tmp_path):
    _, export, audio = setup
    rc, _, err = run(capsys, "--stream", tmp_path / "none.wav", "--model", export)
    assert rc == 2 and "no such file" in err and len(err.strip().splitlines()) == 2
    (tmp_path / "text.wav").write_text("not audio at all")
    rc, _, err = run(capsys, "--stream", tmp_path / "text.wav", "--model", export)
    assert rc == 2 and "not a WAV file" in err
    rc, _, err = run(capsys, "--stream", audio / "s01.wav", audio / "s05.wav", "--model", export)
    assert rc == 2 and "--stream scores one source" in err
    rc, _, err = run(capsys, "--stream", audio / "s01.wav", "--model", export, "--lookahead", "-1")
    assert rc == 2 and "--lookahead" in err
    (tmp_path / "empty.raw").write_bytes(b"")
    rc, _, err = run(capsys, "--stream", tmp_path / "empty.raw", "--model", export)
    assert rc == 2 and "no audio arrived" in err


def test_plot_is_written(setup, capsys, tmp_path):
    _, export, audio = setup
    rc, _, err = run(capsys, audio / "s01.wav", "--frames", "--plot", tmp_path / "one.png",
                     "--model", export)
    assert rc == 0 and (tmp_path / "one.png").stat().st_size > 0
    rc, _, _ = run(capsys, audio / "s01.wav", audio / "s05.wav", "--plot", tmp_path / "many",
                   "--tflite", export / "model.tflite")
    assert rc == 0 and sorted(p.name for p in (tmp_path / "many").iterdir()) == ["s01.png", "s05.png"]


def test_help_texts_teach_with_examples(capsys):
    from tfaudio.cli.common import main as cli_main

    for argv in (["--help"],):
        with pytest.raises(SystemExit):
            main(argv)
        assert "examples:" in capsys.readouterr().out
    for command in ("train", "eval", "export"):
        with pytest.raises(SystemExit):
            cli_main(command, ["qualitynet", "--help"])
        text = capsys.readouterr().out
        assert "examples:" in text and f"tfaudio-{command} qualitynet" in text


# ---------------------------------------------------------------------------- reliability
def one_line_error(rc, err, name):
    assert rc == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tfaudio-score: error: "), err
    assert str(name) in lines[0] and "Traceback" not in err


def test_tflite_that_is_not_a_model_is_one_line_exit_2(setup, capsys, tmp_path):
    _, _, audio = setup
    (tmp_path / "text.tflite").write_text("this is not a flatbuffer\n" * 20)
    (tmp_path / "empty.tflite").write_bytes(b"")
    (tmp_path / "folder").mkdir()
    for bad in ("text.tflite", "empty.tflite", "missing.tflite", "folder"):
        rc, out, err = run(capsys, audio / "s01.wav", "--tflite", tmp_path / bad, "-q")
        one_line_error(rc, err, tmp_path / bad)
        assert out == ""
    _, _, err = run(capsys, audio / "s01.wav", "--tflite", tmp_path / "text.tflite")
    assert "not a TFLite model" in err


def test_model_folder_that_is_not_a_saved_model_is_one_line_exit_2(setup, capsys, tmp_path):
    _, export, audio = setup
    (tmp_path / "empty").mkdir()
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "saved_model.pb").write_bytes(b"\x00\x01 not a protobuf")
    (tmp_path / "file").write_text("x")
    for bad in ("empty", "junk", "missing", "file"):
        rc, out, err = run(capsys, audio / "s01.wav", "--model", tmp_path / bad)
        one_line_error(rc, err, tmp_path / bad)
        assert out == ""


def test_bad_model_via_the_command_line_has_no_traceback(setup, tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    _, _, audio = setup
    (tmp_path / "x.tflite").write_text("hello")
    root = Path(__file__).resolve().parents[3]
    env = dict(os.environ, PYTHONPATH=str(root))
    proc = subprocess.run([sys.executable, "-m", "tfaudio.systems.qualitynet.scorer",
                           str(audio / "s01.wav"), "--tflite", str(tmp_path / "x.tflite")],
                          capture_output=True, text=True, env=env, timeout=300)
    one_line_error(proc.returncode, proc.stderr, tmp_path / "x.tflite")


def test_audio_shorter_than_one_frame_is_a_listed_skip_never_scored(setup, capsys, tmp_path):
    _, export, audio = setup
    sf.write(tmp_path / "ten.wav", np.full(10, 0.1, np.float32), SR)
    sf.write(tmp_path / "short.wav", np.full(511, 0.1, np.float32), SR)
    sf.write(tmp_path / "frame.wav", speechy(512 / SR, 2), SR)
    for source in (("--model", export), ("--tflite", export / "model.tflite")):
        rc, out, err = run(capsys, tmp_path, "--json", *source)
        assert rc == 1
        assert [r["path"] for r in parse(out)] == [str(tmp_path / "frame.wav")]
        assert f"skipped: {tmp_path / 'ten.wav'}: too short: 10 samples" in err
        assert f"skipped: {tmp_path / 'short.wav'}: too short: 511 samples" in err
        assert "1 file(s) scored, 2 skipped" in err


def test_long_file_in_blocks_equals_whole_file(setup, capsys, tmp_path):
    _, export, _ = setup
    x = speechy(40.0, 7)
    x[200000:203000] *= 4  # the file's peak lies in one block only
    sf.write(tmp_path / "long.wav", np.clip(x, -1, 1), SR, subtype="FLOAT")
    for source in (("--model", export), ("--tflite", export / "model.tflite")):
        _, out, _ = run(capsys, tmp_path / "long.wav", "--json", "--frames", "--block-seconds", "0",
                        *source)
        whole = parse(out)[0]
        rc, out, err = run(capsys, tmp_path / "long.wav", "--json", "--frames", "--block-seconds",
                           "5", *source)
        assert rc == 0, err
        blocks = parse(out)[0]
        assert len(blocks["frames"]) == len(whole["frames"]) == 1 + len(x) // 256
        assert np.max(np.abs(np.array(blocks["frames"]) - np.array(whole["frames"]))) < 1e-4
        assert abs(blocks["score"] - whole["score"]) < 1e-4
        assert blocks["seconds"] == pytest.approx(40.0)
