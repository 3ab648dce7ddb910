"""Quality-Net training: config/recipes, data loading with bad rows/files, length
bucketing with padding that never changes a score, training + resume via core."""
import json

import keras
import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from tfaudio.audio import AudioError
from tfaudio.config import ConfigError, from_dict, load_recipe
from tfaudio.systems.qualitynet.manifest import ManifestError
from tfaudio.systems.qualitynet.model import QualityNet, QualityNetConfig, quality_net_loss
from tfaudio.training import core
from tfaudio.systems.qualitynet import data as D
from tfaudio.systems.qualitynet import run as R
from tfaudio.systems.qualitynet import train as T
from tests.systems.qualitynet.toy import make_toy_manifests

TINY_MODEL = {"lstm_units": 8, "dense_units": [6], "lstm_chunk": 4, "lstm_block": 2}


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return make_toy_manifests(tmp_path_factory.mktemp("toyq"), n_train=12, n_dev=5, n_test=5)


def tiny_config(toy, **train):
    return T.with_overrides(T.QualityNetRunConfig(), {
        "data": {"manifest": str(toy["train"]), "dev_manifest": str(toy["dev"])},
        "model": TINY_MODEL,
        "train": {"epochs": 2, "batch_size": 4, **train},
    })


# ---------------------------------------------------------------------------- config
def test_recipes_resolve_to_paper_model():
    for name in ("qualitynet/embedded", "qualitynet/timit"):
        cfg = T.resolve_config(from_dict(T.QualityNetRunConfig, load_recipe(name)))
        m = cfg.model
        assert (m.lstm_units, m.dense_units, m.forget_bias) == (100, (50, 50), -3.0)
        assert m.frame_constraint and not m.log_magnitude and m.center
        assert cfg.train.learning_rate == m.learning_rate == 1e-3
        assert cfg.train.monitor == "dev_lcc"
    assert T.default_config().data.manifest is None  # embedded set
    with pytest.raises(ConfigError):
        T.with_overrides(T.QualityNetRunConfig(), {"train": {"monitor": "accuracy"}})
    with pytest.raises(ConfigError):
        T.with_overrides(T.QualityNetRunConfig(), {"model": {"lstm_unit": 3}})


def test_cli_flags_map_to_config(tmp_path):
    import argparse

    from tfaudio.systems.qualitynet import cli as C

    p = argparse.ArgumentParser()
    C.add_train_args(p)
    args = p.parse_args(["--manifest", str(tmp_path / "t.csv"), "--no-frame-constraint",
                         "--forget-bias", "1", "--epochs", "3", "--lr", "0.01",
                         "--set", "train.buckets=2", "--set", "model.dense_units=[50]"])
    cfg = C.build_config(args)
    assert cfg.data.manifest == str((tmp_path / "t.csv").resolve())
    assert cfg.model.frame_constraint is False and cfg.model.forget_bias == 1.0
    assert cfg.train.epochs == 3 and cfg.train.buckets == 2 and cfg.model.dense_units == (50,)
    assert cfg.train.learning_rate == cfg.model.learning_rate == 0.01
    assert cfg.train.batch_size == 1  # --manifest selects the paper (TIMIT) recipe
    assert C.build_config(p.parse_args([])).train.batch_size == 8  # embedded recipe


def test_small_real_recipe_turns_on_regularisers_and_defaults_stay_off():
    small = T.resolve_config(from_dict(T.QualityNetRunConfig, load_recipe("qualitynet/small_real")))
    m, t = small.model, small.train
    assert (m.lstm_dropout, m.lstm_recurrent_dropout, m.dropout, m.dense_units) == (0.3, 0.3, 0.3, (50,))
    assert t.weight_decay > 0 and D.augment_active(t.augment)
    assert (t.batch_size, t.buckets) == (1, 1) and m.forget_bias == -3.0 and m.frame_constraint
    for name in ("qualitynet/embedded", "qualitynet/timit"):
        cfg = T.resolve_config(from_dict(T.QualityNetRunConfig, load_recipe(name)))
        assert cfg.train.weight_decay == 0 and not D.augment_active(cfg.train.augment)
        assert cfg.model.lstm_dropout == cfg.model.lstm_recurrent_dropout == cfg.model.dropout == 0
    for bad in ({"weight_decay": -1}, {"augment": {"noise_prob": 1.5}},
                {"augment": {"lowpass_hz": [8000, 3400]}},
                {"augment": {"lowpass_prob": 0.5, "lowpass_hz": [3400, 9000]}}):
        with pytest.raises(ConfigError):
            T.with_overrides(T.QualityNetRunConfig(), {"train": bad})


def test_augmentation_is_reproducible_per_epoch_and_step(toy):
    qset = D.load_quality_set(toy["train"], progress=False)
    # off by default: the batches carry the decoded audio unchanged
    assert D.augment_batch_fn(T.QualityNetAugmentConfig(), 0, 0) is None
    plain = list(D.train_batches(qset, 4, 2, seed=0)(0))
    for b in plain:
        for row, i, n in zip(b["waveform"].numpy(), b["index"].numpy(), b["length"].numpy()):
            np.testing.assert_array_equal(row[:n], qset.waves[i])
    aug = T.QualityNetAugmentConfig(lowpass_prob=0.5, noise_prob=0.5, noise_db=(-40, -30))
    make = D.train_batches(qset, 4, 2, seed=0, augment=aug)
    first, again, other = list(make(0)), list(make(0)), list(make(1))
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a["waveform"].numpy(), b["waveform"].numpy())
    changed = 0
    for a, p in zip(first, plain):
        np.testing.assert_array_equal(a["index"].numpy(), p["index"].numpy())  # same order
        np.testing.assert_array_equal(a["length"].numpy(), p["length"].numpy())  # same lengths
        changed += int(not np.array_equal(a["waveform"].numpy(), p["waveform"].numpy()))
    assert changed > 0
    # epoch 1 draws other augmentations for the same utterances
    by_index = lambda batches: {int(i): row[:n] for b in batches for row, i, n in zip(
        b["waveform"].numpy(), b["index"].numpy(), b["length"].numpy())}
    e0, e1 = by_index(first), by_index(other)
    assert any(not np.array_equal(e0[i], e1[i]) for i in e0)


def test_augment_wave_lowpass_and_noise_levels():
    rng = np.random.default_rng(0)
    x = (0.5 * rng.standard_normal(16000)).astype(np.float32)

    def band_db(y, lo, hi):
        f = np.fft.rfftfreq(len(y), 1 / 16000)
        p = np.abs(np.fft.rfft(y)) ** 2
        return 10 * np.log10(p[(f >= lo) & (f < hi)].mean())

    lp = D.augment_wave(x, T.QualityNetAugmentConfig(lowpass_prob=1.0, lowpass_hz=(3400, 3400)),
                        np.random.default_rng(1))
    assert band_db(x, 5000, 8000) - band_db(lp, 5000, 8000) > 30  # high band removed
    assert abs(band_db(x, 200, 2500) - band_db(lp, 200, 2500)) < 1  # pass band kept
    silence = np.zeros(16000, np.float32)
    silence[0] = 1.0  # peak 1
    noisy = D.augment_wave(silence, T.QualityNetAugmentConfig(noise_prob=1.0, noise_db=(-40, -40)),
                           np.random.default_rng(2))
    assert 20 * np.log10(np.std(noisy[1:])) == pytest.approx(-40, abs=0.5)
    assert lp.dtype == noisy.dtype == np.float32 and len(lp) == len(x)
    untouched = D.augment_wave(x, T.QualityNetAugmentConfig(lowpass_prob=0.0, noise_prob=0.0),
                               np.random.default_rng(3))
    np.testing.assert_array_equal(untouched, x)


def test_weight_decay_shrinks_kernels_not_biases(toy):
    cfg = T.with_overrides(tiny_config(toy), {"train": {"weight_decay": 0.5, "learning_rate": 0.01}})
    task = T.QualityNetTask(cfg)
    task.build()
    variables = task.model.trainable_variables
    before = [v.numpy().copy() for v in variables]
    # zero gradients: RMSprop moves nothing, only the decoupled decay acts
    task.optimizer.apply_gradients([(np.zeros(v.shape, np.float32), v) for v in variables])
    for v, b in zip(variables, before):
        if "bias" in v.name:
            np.testing.assert_array_equal(v.numpy(), b)
        else:
            np.testing.assert_allclose(v.numpy(), b * (1 - 0.01 * 0.5), rtol=1e-5, atol=1e-7)
    plain = T.QualityNetTask(tiny_config(toy))
    plain.build()
    assert plain.optimizer.weight_decay is None


def test_regularised_run_trains_and_scores_without_dropout(tmp_path, toy):
    cfg = T.with_overrides(tiny_config(toy), {
        "model": {"lstm_dropout": 0.3, "lstm_recurrent_dropout": 0.3, "dropout": 0.3},
        "train": {"epochs": 1, "weight_decay": 0.02,
                  "augment": {"lowpass_prob": 0.5, "noise_prob": 0.5}}})
    res = T.train(cfg, tmp_path / "run", progress=False, say=lambda *_: None)
    assert res.epochs_run == 1 and np.isfinite(res.history[0]["train_loss"])
    model, loaded = R.load_trained_model(tmp_path / "run")
    assert loaded == cfg and loaded.model.lstm_dropout == 0.3
    qset = D.load_quality_set(toy["dev"], progress=False)
    a, _ = R.predict(model, qset.waves)
    b, _ = R.predict(model, qset.waves)
    np.testing.assert_array_equal(a, b)  # no dropout at inference
    assert np.all(np.isfinite(a))


# ------------------------------------------------------------------------------ data
def test_bucket_batches_cover_everything_and_group_lengths():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1000, 50000, size=101)
    batches = D.bucket_batches(lengths, 8, buckets=4, rng=np.random.default_rng([1, 0]))
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == list(range(101))
    assert max(len(b) for b in batches) == 8
    # bucketed batches pad far less than random ones
    def padding(bs):
        return sum(int(lengths[b].max() * len(b) - lengths[b].sum()) for b in bs)
    random = [b for b in np.array_split(np.random.default_rng(2).permutation(101), 13)]
    assert padding(batches) < 0.5 * padding(random)
    # deterministic per (seed, epoch), different across epochs
    again = D.bucket_batches(lengths, 8, buckets=4, rng=np.random.default_rng([1, 0]))
    assert all(np.array_equal(a, b) for a, b in zip(batches, again))
    other = D.bucket_batches(lengths, 8, buckets=4, rng=np.random.default_rng([1, 1]))
    assert not all(np.array_equal(a, b) for a, b in zip(batches, other))
    # evaluation: sorted, minimal padding
    ev = D.bucket_batches(lengths, 8)
    assert np.all(np.diff(lengths[np.concatenate(ev)]) >= 0)


def test_padding_never_changes_a_score_or_the_loss(toy):
    keras.utils.set_random_seed(0)
    qset = D.load_quality_set(toy["train"], progress=False)
    assert len(set(qset.lengths)) > 5  # really variable lengths
    model = QualityNet(QualityNetConfig(**{**TINY_MODEL, "dense_units": (6,)}))
    model.build((None, None))
    batched, frames = R.predict(model, qset.waves, batch_size=5)
    alone, frames1 = R.predict(model, qset.waves, batch_size=1)
    np.testing.assert_allclose(batched, alone, atol=1e-5)
    for a, b, w in zip(frames, frames1, qset.waves):
        assert len(a) == len(b) == 1 + len(w) // 256
        np.testing.assert_allclose(a, b, atol=1e-5)
    # the loss of a padded batch is the mean of the single-utterance losses
    idx = np.argsort(qset.lengths)[[0, -1, len(qset) // 2]]
    wave, lengths = D.pad_batch([qset.waves[i] for i in idx])
    out = model(wave, lengths=lengths)
    padded = quality_net_loss(qset.scores[idx], out["frame_scores"], out["frame_mask"], out["score"])
    singles = []
    for i in idx:
        o = model(qset.waves[i][None, :])
        singles.append(quality_net_loss(qset.scores[[i]], o["frame_scores"], o["frame_mask"], o["score"])["loss"])
    np.testing.assert_allclose(padded["loss"].numpy(), np.mean(singles), rtol=1e-5)


def test_bad_manifest_rows_are_named_or_skipped(tmp_path, toy):
    good = pd.read_csv(toy["train"])
    rows = good.head(4).copy()
    rows["path"] = [str((toy["train"].parent / p).resolve()) for p in rows["path"]]
    rows.loc[1, "score"] = np.nan
    rows.loc[2, "path"] = str(tmp_path / "missing.wav")
    bad = tmp_path / "bad.csv"
    rows.to_csv(bad, index=False)
    with pytest.raises(ManifestError) as exc:
        D.load_quality_set(bad, progress=False)
    assert "line 3" in str(exc.value) and "missing.wav" in str(exc.value)
    qset = D.load_quality_set(bad, skip_bad=True, progress=False)
    assert len(qset) == 2


def test_bad_audio_is_an_error_naming_it_or_a_listed_skip(tmp_path, toy):
    rows = pd.read_csv(toy["train"]).head(3)
    rows["path"] = [str((toy["train"].parent / p).resolve()) for p in rows["path"]]
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"this is not audio")
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0, np.float32), 16000)
    nan = tmp_path / "nan.wav"
    sf.write(nan, np.full(800, np.nan, np.float32), 16000, subtype="FLOAT")
    rows = pd.concat([rows, pd.DataFrame({"path": [str(junk), str(empty), str(nan)], "score": [1.0, 2.0, 3.0]})])
    manifest = tmp_path / "m.csv"
    rows.to_csv(manifest, index=False)
    with pytest.raises(AudioError, match="junk.wav"):
        D.load_quality_set(manifest, progress=False)
    qset = D.load_quality_set(manifest, skip_bad=True, progress=False)
    assert len(qset) == 3
    reasons = dict(qset.skipped)
    assert set(reasons) == {str(junk), str(empty), str(nan)}
    assert "NaN" in reasons[str(nan)] and "empty" in reasons[str(empty)]


def test_audio_shorter_than_one_frame_is_refused_or_a_listed_skip(tmp_path, toy):
    rows = pd.read_csv(toy["train"]).head(3)
    rows["path"] = [str((toy["train"].parent / p).resolve()) for p in rows["path"]]
    tiny = tmp_path / "tiny.wav"
    sf.write(tiny, np.full(10, 0.1, np.float32), 16000)
    edge = tmp_path / "edge.wav"  # exactly one frame: accepted
    sf.write(edge, np.full(512, 0.1, np.float32), 16000)
    rows = pd.concat([rows, pd.DataFrame({"path": [str(tiny), str(edge)], "score": [1.0, 2.0]})])
    manifest = tmp_path / "m.csv"
    rows.to_csv(manifest, index=False)
    with pytest.raises(AudioError) as exc:
        D.load_quality_set(manifest, progress=False)
    assert exc.value.path == str(tiny) and "too short" in str(exc.value)
    assert "10 samples" in str(exc.value) and "--skip-bad" in str(exc.value)
    qset = D.load_quality_set(manifest, skip_bad=True, progress=False)
    assert len(qset) == 4 and str(edge) in qset.paths
    assert [p for p, _ in qset.skipped] == [str(tiny)]
    assert min(qset.lengths) >= 512


def test_dev_split_is_speaker_disjoint(toy):
    qset = D.load_quality_set(toy["train"], progress=False)
    train, dev = D.split_dev(qset, 0.34, seed=0)
    assert len(train) + len(dev) == len(qset) and len(dev) > 0
    assert not set(train.rows["speaker"]) & set(dev.rows["speaker"])


# -------------------------------------------------------------------------- training
def test_train_then_resume_matches_uninterrupted(tmp_path, toy):
    cfg = tiny_config(toy)
    full = T.train(cfg, tmp_path / "full", progress=False, say=lambda *_: None)
    assert full.epochs_run == 2 and core.stage_complete(R.stage_dir(tmp_path / "full"))
    saved = json.loads((tmp_path / "full" / "train" / "config.json").read_text())
    assert saved["system"] == "qualitynet" and saved["model"]["lstm_units"] == 8
    assert R.load_run_config(tmp_path / "full") == cfg
    record = json.loads((tmp_path / "full" / "train" / "metrics.jsonl").read_text().splitlines()[-1])
    assert {"train_loss", "train_utterance_mse", "train_frame_constraint",
            "dev_mse", "dev_lcc", "dev_srcc"} <= set(record)

    one = T.with_overrides(cfg, {"train": {"epochs": 1}})
    T.train(one, tmp_path / "split", progress=False, say=lambda *_: None)
    with pytest.raises(core.RunDirError):  # no silent overwrite
        T.train(cfg, tmp_path / "split", progress=False, say=lambda *_: None)
    with pytest.raises(core.RunDirError, match="forget_bias"):  # resume keeps the config
        T.train(T.with_overrides(cfg, {"model": {"forget_bias": 1.0}}), tmp_path / "split",
                resume=True, progress=False, say=lambda *_: None)
    resumed = T.train(cfg, tmp_path / "split", resume=True, progress=False, say=lambda *_: None)
    assert resumed.epochs_run == 1
    a, _ = R.load_trained_model(tmp_path / "full")
    b, _ = R.load_trained_model(tmp_path / "split")
    if full.best_epoch == resumed.best_epoch:
        for va, vb in zip(a.weights, b.weights):
            np.testing.assert_allclose(va.numpy(), vb.numpy(), atol=1e-5)
    lines = (tmp_path / "split" / "train" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(l)["epoch"] for l in lines] == [1, 2]
    np.testing.assert_allclose(json.loads(lines[1])["train_loss"], full.history[1]["train_loss"], rtol=1e-4)


@pytest.mark.slow
def test_default_embedded_training_reaches_lcc_08(tmp_path):
    """`tfaudio-train qualitynet` defaults: LCC >= 0.8 on the embedded test set (minutes)."""
    from tfaudio.systems.qualitynet.evaluate import evaluate_run

    T.train(T.default_config(), tmp_path / "run", progress=False)
    res = evaluate_run(tmp_path / "run", progress=False)
    assert res["metrics"]["overall"]["lcc"] >= 0.8


def test_batch_size_every_batch_has_is_declared_to_the_training_loop():
    """Batch 1 (the paper recipe) reaches the loop as [1, None]: one compile of the step
    for every utterance length, with a static batch axis."""
    waves = [np.zeros(n, np.float32) for n in (400, 900, 650, 1200)]
    qset = D.QualitySet(waves=waves, rows=D._dummy_rows(len(waves)))
    ones = D.batches_dataset(qset, [np.array([i]) for i in range(4)])
    assert ones.element_spec["waveform"].shape.as_list() == [1, None]
    assert ones.element_spec["score"].shape.as_list() == [1]
    uneven = D.batches_dataset(qset, [np.array([0, 1, 2]), np.array([3])])
    assert uneven.element_spec["waveform"].shape.as_list() == [None, None]
    got = [b["waveform"].shape[1] for b in ones]
    assert got == [400, 900, 650, 1200]
