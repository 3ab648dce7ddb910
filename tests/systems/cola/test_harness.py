"""COLA through the shared harness: help, config round trip, the bad-input matrix
(one line, exit 2), exact resume of pretraining, exports (versioning, fresh-process
reload, TFLite parity at several lengths, float16 on full-scale input), tfaudio-embed
and Table 1."""
import json

import numpy as np
import pytest
import soundfile as sf

from tests import harness


def test_help_of_every_command():
    harness.check_help("tfaudio.cli.train", "cola", ["--stage", "pretrain", "linear", "finetune", "--init",
                                                     "--similarity", "--folds", "--resume", "examples:"])
    harness.check_help("tfaudio.cli.evaluate", "cola", ["--table", "--compare", "--task"])
    harness.check_help("tfaudio.cli.export", "cola", ["--classifier", "segment_embeddings"])
    res = harness.run_cli("tfaudio.systems.cola.embed", ["--help"], timeout=60)
    assert res.returncode == 0 and "tfaudio-embed clips/ --out embeddings.npz" in res.stdout


def test_config_round_trip():
    from tfaudio.config import from_dict, load_recipe, merge
    from tfaudio.systems.cola.config import ColaConfig

    from tests.systems.cola.conftest import COLA_TINY

    harness.check_config_roundtrip(merge(ColaConfig(), COLA_TINY))
    for name in ("cola/embedded", "cola/paper"):
        harness.check_config_roundtrip(from_dict(ColaConfig, load_recipe(name)))
    paper = from_dict(ColaConfig, load_recipe("cola/paper"))
    assert (paper.train.batch_size, paper.train.learning_rate, paper.model.similarity) == (1024, 1e-4, "bilinear")


@pytest.fixture(scope="module")
def bad_inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad")
    junk = root / "junk"
    junk.mkdir()
    (junk / "corrupt.wav").write_bytes(b"RIFF....WAVEfmt garbage")
    (junk / "empty.wav").write_bytes(b"")
    sf.write(junk / "nothing.flac", np.zeros(0), 16000)
    (junk / "text.ogg").write_text("not audio")
    (root / "noaudio").mkdir()
    (root / "noaudio" / "readme.txt").write_text("x")
    (root / "nopath.csv").write_text("file\na.wav\n")
    task = root / "task"
    for label in ("a", "b"):
        (task / label).mkdir(parents=True)
        sf.write(task / label / "x.wav", 0.1 * np.ones(16000), 16000)
    (root / "nolabel.csv").write_text("path,split\ntask/a/x.wav,train\n")
    (root / "unknown.csv").write_text("path,label,split\ntask/a/x.wav,a,train\ntask/b/x.wav,b,train\n"
                                      "task/b/x.wav,c,test\n")
    return root


def in_process(command: str, argv, capsys):
    """The command's code path (``tfaudio.cli.common.main``) in this process: the
    bad-input cases fail before any training, so a fresh interpreter per case would
    only add TensorFlow's import time. ``test_eval_export_and_embed_of_nothing_are_one_line``
    and the prepare tests run real subprocesses."""
    from types import SimpleNamespace

    from tfaudio.cli.common import main

    capsys.readouterr()
    try:
        rc = main(command, [str(a) for a in argv])
    except SystemExit as exc:  # argparse
        rc = exc.code
    err = capsys.readouterr().err
    return SimpleNamespace(returncode=rc, stderr=err, stdout="")


@pytest.mark.parametrize("case", ["unreadable", "no_audio", "csv_column", "manifest_column", "unknown_label",
                                  "bad_set", "folds", "no_pretraining",
                                  "bad_choice"])
def test_bad_input_is_one_line(case, bad_inputs, cola_recipe, tmp_path, capsys):
    base = ["cola", "--config", cola_recipe, "--run-dir", tmp_path / "run", "--no-progress"]
    args, expect = {
        "unreadable": (["--data-dir", bad_inputs / "junk", "--skip-bad-files"], "0 readable clip(s)"),
        "no_audio": (["--data-dir", bad_inputs / "noaudio"], "holds no audio files"),
        "csv_column": (["--data-dir", bad_inputs / "nopath.csv"], "missing column 'path'"),
        "manifest_column": (["--stage", "linear", "--init", "random", "--task", bad_inputs / "nolabel.csv"],
                            "missing column(s) ['label']"),
        "unknown_label": (["--stage", "linear", "--init", "random", "--task", bad_inputs / "unknown.csv"],
                          "label(s) ['c'] of the test split"),
        "bad_set": (["--set", "model.similarity=dot"], "model.similarity"),
        "folds": (["--stage", "finetune", "--init", "random", "--task", bad_inputs / "task", "--folds", "cv"],
                  "--folds cv: only for UrbanSound8K"),
        "no_pretraining": (["--stage", "linear"], "no finished pretraining"),
        "bad_choice": (["--similarity", "dot"], "invalid choice: 'dot'"),
    }[case]
    harness.assert_user_error(in_process("train", base + args, capsys), expect)


def test_eval_export_and_embed_of_nothing_are_one_line(tmp_path):
    harness.assert_user_error(harness.run_cli("tfaudio.cli.evaluate", ["cola", "--run-dir", tmp_path]), str(tmp_path))
    harness.assert_user_error(harness.run_cli("tfaudio.cli.export", ["cola", "--run-dir", tmp_path]), str(tmp_path))
    res = harness.run_cli("tfaudio.systems.cola.embed", [tmp_path, "--model", tmp_path, "--out", tmp_path / "e.npz"])
    harness.assert_user_error(res, "holds no audio files")


def test_pretraining_resumes_exactly(cola_recipe, tmp_path):
    harness.check_resume_exact(["cola", "--stage", "pretrain", "--config", cola_recipe, "--epochs", "3"], "pretrain",
                               tmp_path, epochs=3, kills=((2, 0.5),))


def test_encoder_exports_through_the_harness(tiny_cola_run, tmp_path):
    from tfaudio.systems.cola.export import export_encoder

    calls = []

    def export(base, version):
        calls.append(version)
        return export_encoder(tiny_cola_run, base_dir=base, version=version, tflite=len(calls) == 1)

    harness.check_export_versioning(export, tmp_path, "cola")
    first = tmp_path / "cola" / "1"
    meta = json.loads((first / "export.json").read_text())
    assert meta["kind"] == "encoder" and meta["checks"]["tflite_max_rel_diff"] <= 1e-3
    assert harness.check_serving_artifacts(first, "cola", "cola") == 2  # TF Serving warmup, documented signature
    rng = np.random.default_rng(2)
    for seconds in (0.7, 2.3):
        wave = (0.2 * rng.standard_normal((1, int(16000 * seconds)))).astype(np.float32)
        n = max(1, (max(wave.shape[1], 15600) - 400) // 160 + 1) // 96
        if seconds > 1:
            out = harness.check_reload_in_fresh_process(first, {"waveform": wave})
            assert out["segment_embeddings"].shape == (1, n, 320) and out["embedding"].shape == (1, 320)
            np.testing.assert_allclose(out["embedding"], out["segment_embeddings"].mean(1), rtol=1e-5, atol=1e-6)
        assert harness.check_tflite_parity(first, {"waveform": wave}, tol=1e-4) <= 1e-4
    full = np.sign(np.sin(np.arange(40000) * 0.3)).astype(np.float32)[None]
    assert harness.check_tflite_parity(first, {"waveform": full}, tol=5e-2, tflite_name="model_float16.tflite") <= 5e-2


def test_classifier_export_and_table1(tiny_cola_run, tmp_path):
    import pandas as pd
    import tensorflow as tf

    from tfaudio.systems.cola.evaluate import evaluate_run
    from tfaudio.systems.cola.export import export_classifier, load_model

    path = export_classifier(tiny_cola_run, "linear-pretrained", base_dir=tmp_path)
    classes = (path / "assets" / "class_names.txt").read_text().split()
    assert len(classes) == 6
    assert harness.check_serving_artifacts(path, "cola", "cola_embedded") == 2
    wave = (0.1 * np.random.default_rng(0).standard_normal((1, 40000))).astype(np.float32)
    assert harness.check_tflite_parity(path, {"waveform": wave}, tol=1e-4) <= 1e-4
    out = tf.saved_model.load(str(path)).signatures["serving_default"](waveform=tf.constant(wave))
    probs, seg = out["probabilities"].numpy(), out["segment_logits"].numpy()
    mean = seg.mean(1)
    np.testing.assert_allclose(probs, np.exp(mean) / np.exp(mean).sum(1, keepdims=True), rtol=1e-4, atol=1e-6)
    frontend, encoder, head, cfg, names = load_model(tiny_cola_run, "linear-pretrained")
    assert names == classes and encoder.output.shape[-1] == 320

    said = []
    written = evaluate_run(tiny_cola_run, out_dir=tmp_path / "eval", progress=False, say=said.append)
    printed = "\n".join(said)
    # runs not trained are printed as the command that trains them, not as NaN rows
    assert "NaN" not in printed and "COLA frozen (linear probe)" in printed
    for run in ("--stage finetune --init pretrained", "--stage linear --init random"):
        assert f"not trained yet; train it with: tfaudio-train cola {run} --run-dir {tiny_cola_run}" in printed
    t1 = pd.read_csv(written["table1_embedded.csv"], index_col=0)
    assert "LogReg (mel stats)" in t1.index and "COLA frozen (linear probe)" in t1.index
    assert t1.loc["COLA frozen (linear probe)", "n test clips"] == 12
    assert t1.loc["Supervised (trained from scratch)", "n test clips"] == 12
    assert np.isnan(t1.loc["COLA fine-tuned", "Test accuracy (%)"])  # not trained in this run
    assert 0 <= t1.loc["LogReg (mel stats)", "Test accuracy (%)"] <= 100
    assert "n = 12 test clips" in written["table1_embedded.md"].read_text()
    assert "finetune-pretrained" in written["table1_embedded.md"].read_text()
    t3 = evaluate_run(tiny_cola_run, table=3, compare=[tiny_cola_run], out_dir=tmp_path / "eval", progress=False,
                      say=lambda *_: None)
    row = pd.read_csv(t3["table3_embedded.csv"]).iloc[0]
    assert row["Similarity"] == "bilinear" and row["Batch size"] == 8 and row["n test clips"] == 12
    assert row["Linear probe accuracy (%)"] == pytest.approx(t1.loc["COLA frozen (linear probe)",
                                                                    "Test accuracy (%)"])


def test_embed_command(tiny_cola_run, tmp_path):
    import tensorflow as tf

    from tfaudio.systems.cola.export import export_encoder

    model = export_encoder(tiny_cola_run, base_dir=tmp_path / "models", tflite=False)
    clips = tmp_path / "clips"
    (clips / "sub").mkdir(parents=True)
    rng = np.random.default_rng(5)
    sf.write(clips / "a.wav", 0.1 * rng.standard_normal(8000), 16000)
    sf.write(clips / "sub" / "b.flac", 0.1 * rng.standard_normal(2 * 44100), 44100)
    (clips / "broken.wav").write_bytes(b"RIFF nothing")
    res = harness.run_cli("tfaudio.systems.cola.embed", [clips, "--model", model, "--out", tmp_path / "e.npz",
                                                        "--no-progress"])
    assert res.returncode == 1, res.stderr[-3000:]  # one file skipped, and said so
    assert "skipped" in res.stderr and "broken.wav" in res.stderr and "Traceback" not in res.stderr
    d = np.load(tmp_path / "e.npz")
    assert [p.split("/")[-1] for p in d["paths"]] == ["a.wav", "b.flac"]
    assert d["embeddings"].shape == (2, 320) and list(d["segment_counts"]) == [1, 2]
    from tfaudio.audio import load_audio

    fn = tf.saved_model.load(str(model)).signatures["serving_default"]
    want = fn(waveform=tf.constant(load_audio(clips / "sub" / "b.flac", 16000)[None]))["embedding"].numpy()[0]
    np.testing.assert_allclose(d["embeddings"][1], want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(d["embeddings"][1], d["segment_embeddings"][1:3].mean(0), rtol=1e-5, atol=1e-6)
