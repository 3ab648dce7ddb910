"""The transfer system through the shared harness: help, config round trip, the
bad-input matrix (one line, exit 2), exact resume, export versioning, fresh-process
reload, TFLite parity, tfaudio-recognize; the tables and figures of a sweep."""
from __future__ import annotations

import shutil
import types

import numpy as np
import pytest

from tests import harness


def run_inproc(capsys, command: str, argv):
    """A command in this process (same code path as the console script, without a
    fresh TensorFlow import per case): exit status and stderr."""
    capsys.readouterr()
    if command == "recognize":
        from tfaudio.systems.transfer.recognize import main

        code = main([str(a) for a in argv])
    else:
        from tfaudio.cli.common import main

        code = main(command, [str(a) for a in argv])
    return types.SimpleNamespace(returncode=code, stderr=capsys.readouterr().err)


def test_help_of_every_command():
    harness.check_help("tfaudio.cli.train", "transfer", ["--stage", "sweep", "--frozen", "--alignment", "examples:"])
    harness.check_help("tfaudio.cli.evaluate", "transfer", ["--sweep", "Table 2", "examples:"])
    harness.check_help("tfaudio.cli.export", "transfer", ["--task", "frame_posteriors", "examples:"])
    res = harness.run_cli("tfaudio.systems.transfer.recognize", ["--help"], timeout=120)
    assert res.returncode == 0 and "--model" in res.stdout and "examples:" in res.stdout


def test_config_round_trip():
    from tfaudio.config import from_dict, load_recipe, merge
    from tfaudio.systems.transfer.config import TransferConfig

    from tests.systems.transfer.conftest import TRANSFER_TINY

    harness.check_config_roundtrip(merge(TransferConfig(), TRANSFER_TINY))
    for name in ("transfer/embedded", "transfer/paper"):
        harness.check_config_roundtrip(from_dict(TransferConfig, load_recipe(name)))


def test_a_user_error_is_one_line_from_the_console_command(tmp_path):
    res = harness.run_cli("tfaudio.cli.train", ["transfer", "--run-dir", tmp_path, "--set", "train.batch_size=many"])
    harness.assert_user_error(res, "train.batch_size")


@pytest.fixture(scope="module")
def small_timit(tmp_path_factory):
    from tfaudio.datasets import timit, timit_embedded

    root = tmp_path_factory.mktemp("timit-small")
    timit_embedded.write_timit_release(root, 2, 1, 1, 1, max_seconds=1.2,
                                       speaker_names={"dev": timit.DEV_SPEAKERS, "test": timit.CORE_TEST_SPEAKERS})
    return root


def _broken_timit(src, dst, how):
    shutil.copytree(src, dst)
    wav = sorted(dst.glob("TRAIN/*/*/SI*.WAV"))[0]
    if how == "corrupt":
        wav.write_bytes(b"NIST_1A\n   1024\n" + bytes(range(256)) * 8)
    elif how == "empty":
        wav.write_bytes(b"")
    elif how == "not-audio":
        wav.write_text("this is a transcript, not audio\n")
    elif how == "unknown-phone":
        phn = wav.with_suffix(".PHN")
        phn.write_text(phn.read_text().replace(" sh\n", " shh\n").replace(" s\n", " sx\n").replace(" iy\n", " iyy\n"))
    return wav


@pytest.mark.parametrize("how, message", [("corrupt", "not a readable audio file"), ("empty", ""),
                                          ("not-audio", "not a readable audio file"),
                                          ("unknown-phone", "unknown phone")])
def test_bad_timit_files_are_one_line(capsys, tmp_path, small_timit, how, message):
    wav = _broken_timit(small_timit, tmp_path / "timit", how)
    res = run_inproc(capsys, "train", ["transfer", "--stage", "base", "--task", "asr", "--data-dir", tmp_path / "timit",
                                       "--run-dir", tmp_path / "run", "--no-progress"])
    harness.assert_user_error(res, wav.stem, message)


def test_bad_inputs_are_one_line(capsys, tmp_path):
    from tfaudio.datasets.iemocap_embedded import write_iemocap_tree

    cases = [
        (["transfer", "--stage", "base", "--task", "asr", "--data-dir", tmp_path / "nowhere"], "does not exist"),
        (["transfer", "--data-dir", tmp_path], "--data-dir names one corpus"),
        (["transfer", "--stage", "transfer", "--base", "asr", "--target", "asr"], "--base asr --target asr"),
        (["transfer", "--stage", "transfer", "--base", "asr", "--frozen", "7"], "--frozen 7"),
        (["transfer", "--stage", "transfer", "--target", "ser", "--set", "data.alignment=viterbi"], "data.alignment"),
        (["transfer", "--set", "model.no_such_field=1"], "no_such_field"),
    ]
    for i, (argv, message) in enumerate(cases):
        res = run_inproc(capsys, "train", argv + ["--run-dir", tmp_path / f"run{i}", "--no-progress"])
        harness.assert_user_error(res, message)
    # IEMOCAP without the EmoEvaluation folder of a session
    root = tmp_path / "iemocap"
    write_iemocap_tree(root, 1, 1, max_seconds=1.2)
    shutil.rmtree(root / "Session2" / "dialog" / "EmoEvaluation")
    res = run_inproc(capsys, "train", ["transfer", "--stage", "base", "--task", "ser", "--data-dir", root,
                                       "--run-dir", tmp_path / "run2", "--no-progress"])
    harness.assert_user_error(res, "EmoEvaluation: missing")
    # evaluation and export of a directory that holds no run
    harness.assert_user_error(run_inproc(capsys, "eval", ["transfer", "--run-dir", tmp_path / "empty"]), "train first")
    harness.assert_user_error(run_inproc(capsys, "export", ["transfer", "--run-dir", tmp_path / "empty"]),
                              "train first")


@pytest.mark.slow
def test_resume_after_kill_is_exact(transfer_recipe, tmp_path):
    harness.check_resume_exact(["transfer", "--stage", "base", "--task", "ser", "--config", transfer_recipe,
                                "--epochs", "4", "--set", "train.patience=10", "--set", "data.folds=[0]"],
                               "ser/fold0/base", tmp_path, epochs=4)


def test_early_stopping_stops_patience_epochs_after_the_best(tiny_cfg, tmp_path):
    """With patience 1 (and a learning rate of 0, so the dev metric barely moves) the
    run ends one epoch after its best one; calling it again trains nothing more."""
    import json

    from tfaudio.config import merge
    from tfaudio.systems.transfer import train as T
    from tfaudio.training import core

    cfg = merge(tiny_cfg, {"train": {"epochs": 8, "patience": 1, "learning_rate_asr": 0.0}})
    T.train(cfg, "base", tmp_path, task="asr", progress=False, say=lambda *_: None)
    state = core.stage_state(tmp_path / "asr/base")
    records = [json.loads(line) for line in (tmp_path / "asr/base/metrics.jsonl").read_text().splitlines()]
    assert state["complete"] and state["epochs_run"] == state["best_epoch"] + 1 < 8 == state["epochs"]
    assert len(records) == state["epochs_run"]
    assert max(r["dev_accuracy"] for r in records) == records[state["best_epoch"] - 1]["dev_accuracy"]
    T.train(cfg, "base", tmp_path, task="asr", progress=False, say=lambda *_: None)
    assert (tmp_path / "asr/base/metrics.jsonl").read_text().count("\n") == len(records)


def test_exports_through_the_harness(tiny_transfer_run, tmp_path, capsys):
    import tensorflow as tf

    from tfaudio.datasets.timit import PHONES_39
    from tfaudio.systems.transfer.decode import HybridDecoder
    from tfaudio.systems.transfer.export import export_transfer

    second = harness.check_export_versioning(
        lambda base, v: export_transfer(tiny_transfer_run, task="asr", base_dir=base, version=v, tflite=v is None),
        tmp_path, "transfer-asr")
    first = tmp_path / "transfer-asr" / "1"
    assert second == tmp_path / "transfer-asr" / "2"
    assert (first / "assets" / "phones.txt").read_text().split()[0] == "aa"
    assert len((first / "assets" / "classes.txt").read_text().split()) == 144
    assert harness.check_serving_artifacts(first, "transfer", "transfer-asr") == 2  # TF Serving warmup, documented signature
    wave = (0.2 * np.random.default_rng(2).standard_normal((1, 12000))).astype(np.float32)
    out = harness.check_reload_in_fresh_process(first, {"waveform": wave})
    assert out["frame_posteriors"].shape == (1, 73, 144)  # 1 + (12000 - 400) // 160 frames
    assert harness.check_tflite_parity(first, {"waveform": wave}, tol=1e-4) <= 1e-4
    # tfaudio-recognize = the decoder on the SavedModel's posteriors
    import soundfile as sf

    wav = tmp_path / "utt.wav"
    sf.write(str(wav), wave[0], 16000, subtype="FLOAT")
    res = run_inproc(capsys, "recognize", [wav, "--model", first])
    assert res.returncode == 0, res.stderr
    with np.load(first / "assets" / "decoder.npz") as z:
        dec = HybridDecoder.from_arrays({k: z[k] for k in z.files})
    import json

    st = json.loads((first / "assets" / "decoder.json").read_text())
    fn = tf.saved_model.load(str(first)).signatures["serving_default"]
    post = fn(waveform=tf.constant(sf.read(str(wav), dtype="float32")[0][None]))["frame_posteriors"].numpy()[0]
    want = dec.to39(dec.decode(post, st["acoustic_scale"], st["insertion_penalty"]))
    capsys.readouterr()
    from tfaudio.systems.transfer.recognize import main

    assert main([str(wav), "--model", str(first)]) == 0
    got = capsys.readouterr().out.split()
    assert got == want and set(got) <= set(PHONES_39)
    # a bad model is one line, exit 2; bad audio files are listed skips (exit 1) and the
    # good file among them is still recognised
    harness.assert_user_error(run_inproc(capsys, "recognize", [wav, "--model", tmp_path]),
                              "not an exported model")
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "text.wav").write_text("not audio")
    bad = {"missing.wav": "file does not exist", "empty.wav": "empty file",
           "text.wav": "not a readable audio file"}
    capsys.readouterr()
    assert main([str(wav)] + [str(tmp_path / n) for n in bad] + ["--model", str(first)]) == 1
    out, err = capsys.readouterr()
    assert out.splitlines() == [f"{wav}\t{' '.join(want)}"]
    for name, why in bad.items():
        assert f"skipped: {tmp_path / name}: {why}" in err, err
    assert "1 file(s) recognised, 3 skipped" in err and "Traceback" not in err


def test_ser_export_gives_utterance_emotions(tiny_transfer_run, tmp_path):
    from tfaudio.systems.transfer.export import export_transfer

    path = export_transfer(tiny_transfer_run, task="ser", base_dir=tmp_path)
    assert harness.check_serving_artifacts(path, "transfer", "transfer-ser") == 2
    wave = (0.1 * np.random.default_rng(3).standard_normal((1, 9000))).astype(np.float32)
    assert harness.check_tflite_parity(path, {"waveform": wave}, tol=1e-4) <= 1e-4
    out = harness.check_reload_in_fresh_process(path, {"waveform": wave})
    assert out["frame_posteriors"].shape[-1] == 5 and out["utterance_probabilities"].shape == (1, 4)
    np.testing.assert_allclose(out["utterance_probabilities"].sum(), 1.0, atol=1e-5)


def test_sweep_tables_and_figures(tiny_transfer_run, tmp_path):
    import pandas as pd

    from tfaudio.systems.transfer.evaluate import evaluate_run

    paths = evaluate_run(tiny_transfer_run, out_dir=tmp_path, progress=False)
    t2 = pd.read_csv(paths["table2.csv"], index_col=0)
    assert list(t2.index) == ["Our base model (ASR)", "Baseline: majority state", "Baseline: LogReg (log-mel frame)",
                              "l = 5", "l = 2"]
    assert t2.loc["l = 5", "paper PER test (%)"] == 61.82 and t2.loc["Our base model (ASR)", "paper PER dev (%)"] == 18.71
    assert ((t2["PER test (%)"] >= 0) & (t2["FER dev (%)"] <= 100)).all() and (t2["n test utt."] == 3).all()
    t3 = pd.read_csv(paths["table3.csv"], index_col=0)
    assert "Baseline: majority class" in t3.index and t3.loc["l = 2", "n folds"] == 1
    assert t3.loc["Our base model (SER)", "n folds"] == 1
    # the majority-class baseline's frame UE is 1 - 1/(classes present)
    assert 60.0 <= t3.loc["Baseline: majority class", "UE test (%)"] <= 80.0
    md = paths["table2.md"].read_text()
    assert "monophone GMM-HMM" in md and "data.alignment = gmm" in md
    for fig in ("figure2.png", "figure3.png"):
        assert paths[fig].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and paths[fig].stat().st_size > 2000
