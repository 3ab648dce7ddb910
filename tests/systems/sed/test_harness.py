"""SED through the shared harness: help, config round trip, one-line errors, exact
resume, export versioning, fresh-process reload, TFLite parity; evaluation tables."""
import numpy as np
import pytest

from tests import harness


def test_help_of_every_command():
    harness.check_help("tfaudio.cli.train", "sed", ["--stage", "tri-training", "--adversarial", "--resume"])
    harness.check_help("tfaudio.cli.evaluate", "sed", ["--table", "--plots"])
    harness.check_help("tfaudio.cli.export", "sed", ["--run", "tri-adv-time"])


def test_config_round_trip():
    from tfaudio.config import from_dict, load_recipe, merge
    from tfaudio.systems.sed.config import SEDConfig

    from tests.systems.sed.conftest import SED_TINY

    harness.check_config_roundtrip(merge(SEDConfig(), SED_TINY))
    for name in ("sed/embedded", "sed/dcase2019"):
        harness.check_config_roundtrip(from_dict(SEDConfig, load_recipe(name)))


def test_bad_set_value_is_one_line(tmp_path):
    res = harness.run_cli("tfaudio.cli.train", ["sed", "--run-dir", tmp_path, "--set", "train.batch_size=many"])
    harness.assert_user_error(res, "train.batch_size")


def test_bad_data_dir_is_one_line(tmp_path):
    res = harness.run_cli("tfaudio.cli.train", ["sed", "--run-dir", tmp_path / "r", "--data-dir", tmp_path])
    harness.assert_user_error(res, "synthetic.tsv")


def test_adversarial_stage_without_domain_mode_is_one_line(tmp_path):
    res = harness.run_cli("tfaudio.cli.train", ["sed", "--run-dir", tmp_path, "--stage", "adversarial",
                                                "--adversarial", "none"])
    harness.assert_user_error(res, "--adversarial")


def test_eval_and_export_of_an_untrained_dir_are_one_line(tmp_path):
    harness.assert_user_error(harness.run_cli("tfaudio.cli.evaluate", ["sed", "--run-dir", tmp_path]), str(tmp_path))
    harness.assert_user_error(harness.run_cli("tfaudio.cli.export", ["sed", "--run-dir", tmp_path]), str(tmp_path))


@pytest.mark.slow
def test_resume_after_kill_is_exact(sed_recipe, tmp_path):
    harness.check_resume_exact(["sed", "--stage", "baseline", "--config", sed_recipe, "--epochs", "4"], "baseline",
                               tmp_path, epochs=4)


def test_exports_through_the_harness(tiny_sed_run, tmp_path):
    from tfaudio.systems.sed.export import export_sed

    last = harness.check_export_versioning(
        lambda base, v: export_sed(tiny_sed_run, base_dir=base, version=v, tflite=v is None), tmp_path, "sed")
    assets = last / "assets"
    classes = (assets / "class_names.txt").read_text().split()
    assert len(classes) == 10 and float((assets / "frame_hop_seconds.txt").read_text()) == pytest.approx(0.125)
    wave = (0.2 * np.random.default_rng(2).standard_normal((1, 80000))).astype(np.float32)
    out = harness.check_reload_in_fresh_process(last, {"waveform": wave})
    assert out["frame_probabilities"].shape == (1, 80, 10) and out["clip_probabilities"].shape == (1, 10)
    assert harness.check_tflite_parity(last, {"waveform": wave}, tol=1e-4) <= 1e-4
    full = np.sign(np.sin(np.arange(80000) * 0.3)).astype(np.float32)[None]
    assert harness.check_tflite_parity(last, {"waveform": full}, tol=1e-2, tflite_name="model_float16.tflite") <= 1e-2
    assert harness.check_serving_artifacts(last, "sed", "sed") == 2  # TF Serving warmup, documented signature


def test_float16_headroom_needs_the_input_gain():
    """|STFT|^2 of a full-scale tone overflows float16 unless the waveform is scaled first."""
    from tfaudio.systems.sed import model as M
    from tfaudio.systems.sed.config import SEDFrontendConfig

    fe = SEDFrontendConfig()
    spec = M.make_frontend(fe).spectrogram
    x = np.sin(2 * np.pi * 1000 * np.arange(22050) / 22050).astype(np.float32)[None]
    with np.errstate(over="ignore"):
        assert not np.isfinite(spec(x).numpy().astype(np.float16)).all()
    assert np.isfinite(spec(x * fe.input_gain).numpy().astype(np.float16)).all()


def test_evaluate_writes_table1_domain_gap_and_plots(tiny_sed_run, tmp_path):
    import pandas as pd

    from tfaudio.systems.sed.evaluate import evaluate_run

    written = evaluate_run(tiny_sed_run, out_dir=tmp_path, plots=2, progress=False, say=lambda *_: None)
    t1 = pd.read_csv(written["table1.csv"], index_col=0)
    assert "Adv.time + Tri-training" in t1.index
    row = t1.loc["Adv.time + Tri-training"]
    assert 0 <= row["Event F1 (%)"] <= 100 and 0 <= row["PSDS1"] <= 1
    assert "Logistic regression (frames)" in t1.index  # the simple baseline, same split and scorers
    assert (t1["n clips"] == 4).all()
    assert row["n clips"] == 4  # 6 listed, 2 missing
    md = written["table1.md"].read_text()
    assert "of 6 validation clips" in md and "23.7 % event F1" in md
    assert len(written["skipped_files.tsv"].read_text().splitlines()) == 1 + 8  # header + 2 per subset
    assert (tmp_path / "domain_gap.csv").exists()
    assert len([k for k in written if k.startswith("plots/")]) == 2


def test_load_model_gives_a_detector(tiny_sed_run):
    import numpy as np

    from tfaudio.systems.sed.export import load_model

    detector, cfg = load_model(tiny_sed_run)
    out = detector(np.zeros((2, 40, cfg.frontend.num_mel_bins), np.float32), training=False)
    frame, clip = out["frame"].numpy(), out["clip"].numpy()
    assert frame.shape[0] == clip.shape[0] == 2 and frame.shape[-1] == clip.shape[-1] > 1
    assert ((0 <= frame) & (frame <= 1)).all() and ((0 <= clip) & (clip <= 1)).all()
    assert "tri-adv-time" in {p.name for p in tiny_sed_run.iterdir()}
    assert np.isfinite([v.numpy().sum() for v in detector.weights]).all()
