"""DFE on a set in the UrbanSound8K layout with its own classes, and awkward noise folders."""
import json
import logging

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import tensorflow as tf

from tfaudio.audio import AudioError
from tfaudio.config import ConfigError, merge
from tfaudio.datasets.urbansound8k import DatasetError
from tfaudio.datasets.noise import write_noise_folder
from tfaudio.datasets.urbansound8k_embedded import synth_event
from tfaudio.systems.dfe import run as R
from tfaudio.systems.dfe import train as T
from tfaudio.systems.dfe.data import DFEData
from tfaudio.systems.dfe.evaluate import evaluate_run, pick_figure_noise
from tfaudio.systems.dfe.export import export_dfe

# ids 3/7/8 (not 0..K-1) with names of our own; the sounds borrow three US8K classes
OWN = {3: ("footsteps", 3), 7: ("rain", 7), 8: ("wind", 8)}
TINY = {
    "data": {"clip_seconds": 1.0, "snrs": [10.0], "cache_features": False},
    "model": {"classifier_filters": [4, 6, 8, 8, 8], "mask_filters": [4, 6, 6, 6, 1],
              "generator_filters": [4, 6, 8]},
    "train": {"batch_size": 16, "classifier_epochs": 1, "enhancer_epochs": 1},
}


def make_set(root, seconds=(0.4, 0.9)):
    rows = []
    for fold in range(1, 11):
        (root / "audio" / f"fold{fold}").mkdir(parents=True)
        for cid, (name, sound) in OWN.items():
            for k in range(2):
                rng = np.random.default_rng([fold, cid, k])
                x = synth_event(sound, rng, 16000, seconds[k])
                fname = f"{fold}{cid}{k}-{cid}-0-{k}.wav"
                sf.write(root / "audio" / f"fold{fold}" / fname, x, 16000)
                rows.append(dict(slice_file_name=fname, fsID=fold * 100 + cid, start=0.0, end=seconds[k],
                                 salience=1, fold=fold, classID=cid, **{"class": name}))
    (root / "metadata").mkdir()
    pd.DataFrame(rows).to_csv(root / "metadata" / "UrbanSound8K.csv", index=False)
    return root


@pytest.fixture(scope="module")
def own_set(tmp_path_factory):
    base = tmp_path_factory.mktemp("own")
    root = make_set(base / "set")
    noises = base / "noises"
    write_noise_folder(noises, ("babble", "f16"), seconds=2.0)
    return root, noises


@pytest.fixture(scope="module")
def own_run(own_set, tmp_path_factory):
    root, noises = own_set
    cfg = merge(T.DFEConfig(), TINY)
    cfg = merge(cfg, {"data": {"data_dir": str(root), "noise_dir": str(noises)}})
    run_dir = tmp_path_factory.mktemp("own-run")
    said = []
    T.train_stage(cfg, "classifier", run_dir, progress=False, say=said.append)
    assert any(m.startswith("3 classes") and "footsteps, rain, wind" in m for m in said)
    return cfg, run_dir


def test_own_classes_train_record_and_export(own_run, tmp_path):
    cfg, run_dir = own_run
    names = ["footsteps", "rain", "wind"]
    assert json.loads((run_dir / "classes.json").read_text()) == {"class_names": names}
    assert json.loads((run_dir / "classifier" / "config.json").read_text())["class_names"] == names
    run_cfg = R.load_run_config(run_dir)
    assert run_cfg.model.num_classes == 3
    model = R.load_stage_model(run_dir, "classifier", run_cfg, 61, 40)
    assert model(tf.zeros([1, 61, 40]))["probs"].shape == (1, 3)

    out = export_dfe(run_dir, base_dir=tmp_path, tflite=False)
    assert (out / "assets" / "class_names.txt").read_text().split() == names
    assert json.loads((out / "export.json").read_text())["class_names"] == names
    fn = tf.saved_model.load(str(out)).signatures["serving_default"]
    res = fn(waveform=tf.zeros([2, 8000]))
    assert res["probabilities"].shape == (2, 3)
    assert {v.decode() for v in res["class_name"].numpy()} <= set(names)


def test_evaluation_has_baseline_n_and_snr_note(own_run, caplog):
    cfg, run_dir = own_run
    with caplog.at_level(logging.WARNING):
        out = evaluate_run(run_dir, progress=False)  # figure noise 'pink' is absent
    assert "using 'babble', the first in sorted order" in caplog.text
    t1 = pd.read_csv(out["table1.csv"], index_col=0)
    assert list(t1.columns) == ["LogReg (mel stats)", "CNN-FC"]
    assert ((t1.loc[["Dev", "Test"]] >= 0) & (t1.loc[["Dev", "Test"]] <= 100)).all().all()
    md1 = out["table1.md"].read_text()
    assert "n = 6 dev clips, 6 test clips" in md1 and "3 classes: footsteps, rain, wind" in md1
    t2 = pd.read_csv(out["table2.csv"])
    assert set(t2["Method"]) == {"LogReg (mel stats)", "CNN-FC"} and (t2["n"] == 6).all()
    assert list(t2.columns) == ["SNR", "Method", "babble", "f16", "Mean", "n"]
    assert "over each clip's own samples" in out["table2.md"].read_text()
    padded = evaluate_run(run_dir, progress=False, snr_reference="padded", out_dir=run_dir / "eval-padded",
                          figure_noise="f16")
    assert "over the whole zero-padded clip" in padded["table2.md"].read_text()


def test_snr_reference_changes_the_mix_and_the_cache_key(own_run):
    cfg, _ = own_run
    clip = DFEData(cfg.data, cfg.frontend, progress=False)
    padded = DFEData(merge(cfg.data, {"snr_reference": "padded"}), cfg.frontend, progress=False)
    noise_path = clip.noise_files()[0]
    assert clip._key("test", snr=10.0, snr_reference="clip") != padded._key("test", snr=10.0)
    dec = clip.waves("test")
    assert dec.lengths.min() < clip.num_samples  # some clips are padded
    noise = clip.load_noise(noise_path)
    a = clip.noisy_waves(noise, "babble", 10.0, dec.waves, dec.kept, dec.lengths)
    b = padded.noisy_waves(noise, "babble", 10.0, dec.waves, dec.kept, dec.lengths)
    short = int(np.argmin(dec.lengths))
    n = int(dec.lengths[short])
    snr = lambda mixed: 10 * np.log10(np.mean(dec.waves[short, :n] ** 2) / np.mean((mixed - dec.waves[short])[:n] ** 2))
    assert abs(snr(a[short]) - 10.0) < 0.1
    assert snr(b[short]) > 12.0  # the padded reference leaves the short event cleaner than stated
    with pytest.raises(ConfigError, match="snr_reference"):
        DFEData(merge(cfg.data, {"snr_reference": "event"}), cfg.frontend, progress=False)


def test_silent_noise_file_is_named_or_skipped(own_set, own_run, tmp_path, caplog, capsys):
    cfg, run_dir = own_run
    _, noises = own_set
    folder = tmp_path / "noises"
    folder.mkdir()
    for p in noises.iterdir():
        (folder / p.name).write_bytes(p.read_bytes())
    sf.write(folder / "dead.wav", np.zeros(16000, np.float32), 16000)
    data = DFEData(merge(cfg.data, {"noise_dir": str(folder)}), cfg.frontend, progress=False)
    with pytest.raises(AudioError, match=r"dead\.wav: noise file is silent.*--skip-bad-files"):
        data.usable_noise_files()
    from tfaudio.cli.common import main

    code = main("eval", ["dfe", "--run-dir", str(run_dir), "--noise-dir", str(folder), "--no-progress",
                         "--out", str(tmp_path / "cli-eval"), "--snr-reference", "padded"])
    err = capsys.readouterr().err
    assert code == 2 and "dead.wav: noise file is silent" in err and "Traceback" not in err
    with caplog.at_level(logging.WARNING):
        out = evaluate_run(run_dir, noise_dir=str(folder), skip_bad_files=True, progress=False,
                           out_dir=tmp_path / "eval")
    assert "dead.wav" in caplog.text
    t2 = pd.read_csv(out["table2.csv"])
    assert "dead" not in t2.columns and {"babble", "f16"} <= set(t2.columns)
    assert "Skipped noise files: dead.wav" in out["table2.md"].read_text()


def test_figure_noise_rule(tmp_path):
    files = [tmp_path / f"{n}.wav" for n in ("zeta", "alpha", "pink")]
    assert pick_figure_noise(files, "pink").stem == "pink"
    assert pick_figure_noise(files, "white").stem == "alpha"


def test_class_count_fixed_by_the_recipe_must_match(own_set, tmp_path):
    root, noises = own_set
    cfg = merge(T.DFEConfig(), TINY)
    cfg = merge(cfg, {"data": {"data_dir": str(root), "noise_dir": str(noises)}, "model": {"num_classes": 10}})
    with pytest.raises(ConfigError, match="model.num_classes is 10 but the data has 3 classes"):
        T.train_stage(cfg, "classifier", tmp_path / "run", progress=False)


def test_eval_data_with_a_class_outside_the_run_vocabulary(own_run, tmp_path):
    cfg, run_dir = own_run
    root = tmp_path / "other"
    import shutil

    shutil.copytree(cfg.data.data_dir, root)
    csv = root / "metadata" / "UrbanSound8K.csv"
    df = pd.read_csv(csv)
    df.loc[df["classID"] == 8, "class"] = "thunder"
    df.to_csv(csv, index=False)
    with pytest.raises(DatasetError, match=r"\['thunder'\] are not in the run's vocabulary"):
        evaluate_run(run_dir, data_dir=str(root), progress=False, out_dir=tmp_path / "e")


def test_run_dir_without_recorded_classes_falls_back_to_urbansound8k(tmp_path):
    from tfaudio.config import to_dict

    old = to_dict(merge(T.DFEConfig(), {"model": {"num_classes": 10}}))
    del old["data"]["snr_reference"]  # written before the field existed
    (tmp_path / "config.json").write_text(json.dumps({"system": "dfe", **old}))
    assert R.recorded_class_names(tmp_path) == list(R.CLASSES)
    assert R.load_run_config(tmp_path).data.snr_reference == "clip"
    assert R.recorded_class_names(tmp_path / "nothing") is None
