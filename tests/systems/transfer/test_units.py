"""Hand-checked pieces: context windows, alignments, Viterbi decoding, PER, VAD,
utterance decisions, and the freezing / warm-up of a trained transfer."""
from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from tfaudio.systems.transfer import align, decode, scoring
from tfaudio.systems.transfer import data as D
from tfaudio.systems.transfer import model as M


def test_context_windows_clamp_at_the_edges():
    idx = M.context_indices(5, 2).numpy()
    assert idx.tolist() == [[0, 0, 0, 1, 2], [0, 0, 1, 2, 3], [0, 1, 2, 3, 4], [1, 2, 3, 4, 4], [2, 3, 4, 4, 4]]
    feats = np.arange(5, dtype=np.float32)[None, :, None]  # [1, frames, 1]
    win = M.context_windows(tf.constant(feats), 2).numpy()[0, :, :, 0]
    np.testing.assert_array_equal(win, idx)


def test_training_windows_stay_inside_their_utterance():
    feats = np.arange(7, dtype=np.float32)[:, None]  # two utterances: frames 0-2 and 3-6
    fr = D.Frames(feats, np.zeros(7, np.int32), np.array([0, 3, 7]), ["a", "b"])
    wins = np.concatenate(list(D.all_windows(fr, 2)))[:, :, 0]
    assert wins[0].tolist() == [0, 0, 0, 1, 2] and wins[2].tolist() == [0, 1, 2, 2, 2]
    assert wins[3].tolist() == [3, 3, 3, 4, 5] and wins[6].tolist() == [4, 5, 6, 6, 6]
    start, end = fr.bounds()
    tfw = D.window_ids(tf.constant([2, 3]), tf.constant(start[[2, 3]]), tf.constant(end[[2, 3]]), 2).numpy()
    np.testing.assert_array_equal(tfw, wins[[2, 3]])
    batches = list(D.training_batches(fr, 2, 7, seed=0)(0))
    x, y = batches[0]
    assert x.shape == (7, 5, 1)
    assert sorted(map(tuple, x.numpy()[:, :, 0].astype(int).tolist())) == sorted(map(tuple, wins.astype(int).tolist()))


def test_frame_to_phone_and_q_removal():
    segs = align.drop_q([(0, 500, "h#"), (500, 700, "q"), (700, 1300, "ix"), (1300, 2000, "h#")])
    assert segs == [(0, 700, "h#"), (700, 1300, "ix"), (1300, 2000, "h#")]
    assert align.drop_q([(0, 100, "q"), (100, 300, "aa")]) == [(0, 300, "aa")]
    # frame t covers samples [160 t, 160 t + 400): centre 160 t + 200
    idx = align.frame_phone_index(segs, 12, 400, 160)
    centres = np.arange(12) * 160 + 200
    want = [0 if c < 700 else 1 if c < 1300 else 2 for c in centres]
    assert idx.tolist() == want


def test_equal_alignment_thirds():
    assert align.equal_states(7).tolist() == [0, 0, 0, 1, 1, 2, 2]
    assert align.equal_states(3).tolist() == [0, 1, 2]
    assert align.equal_states(2).tolist() == [0, 1]
    assert align.equal_states(1).tolist() == [0]


def test_forced_viterbi_by_hand():
    ll = np.log(np.array([[.9, .05, .05], [.6, .3, .1], [.2, .7, .1], [.1, .8, .1], [.1, .6, .3], [.1, .1, .8]]))
    trans = np.log(np.array([[.5, .5, 0.], [0., .5, .5], [0., 0., 1.]]) + 1e-300)
    assert align.forced_states(ll, trans).tolist() == [0, 0, 1, 1, 1, 2]
    # the path must end in the last state even if the emissions say otherwise
    ll2 = np.log(np.array([[.9, .05, .05], [.05, .9, .05], [.05, .9, .05], [.05, .9, .05]]))
    assert align.forced_states(ll2, trans).tolist() == [0, 1, 1, 2]


def test_gmm_alignment_finds_unequal_state_boundaries():
    """Segments whose three parts last 2, 6 and 2 frames (distinct means): the trained
    three-state HMM recovers the boundaries, equal thirds cannot."""
    rng = np.random.default_rng(0)
    means = np.array([[0.0] * 4, [4.0] * 4, [-4.0] * 4])
    truth = np.array([0, 0, 1, 1, 1, 1, 1, 1, 2, 2])
    segs = [means[truth] + 0.3 * rng.standard_normal((10, 4)) for _ in range(20)]
    aligner = align.PhoneAligner(iterations=10, seed=0).fit({"aa": segs})
    got = np.array([aligner.states("aa", s) for s in segs])
    assert (got == truth).mean() > 0.95
    assert (align.equal_states(10) == truth).mean() < 0.8
    assert aligner.states("zz", segs[0]).tolist() == align.equal_states(10).tolist()  # no model: thirds


def _decoder(num_phones=2):
    k = num_phones * 3
    return decode.HybridDecoder(log_priors=np.log(np.full(k, 1 / k)), log_bigram=np.log(np.full((num_phones,) * 2, .5)),
                                log_start=np.log(np.full(num_phones, 1 / num_phones)),
                                log_end=np.log(np.full(num_phones, .5)), log_stay=np.log(np.full(k, .5)),
                                log_leave=np.log(np.full(k, .5)), phones=["aa", "iy"][:num_phones])


def _posteriors(states, k=6, p=0.9):
    post = np.full((len(states), k), (1 - p) / (k - 1))
    post[np.arange(len(states)), states] = p
    return post


def test_viterbi_decodes_a_hand_made_example():
    dec = _decoder()
    assert dec.decode(_posteriors([0, 1, 2, 3, 4, 5])) == [0, 1]
    assert dec.decode(_posteriors([3, 3, 4, 5, 0, 1, 1, 2])) == [1, 0]
    # the same phone twice: leaves its last state and enters its first again
    assert dec.decode(_posteriors([0, 1, 2, 0, 1, 2])) == [0, 0]
    # three frames can hold only one phone (three states each)
    assert dec.decode(_posteriors([0, 4, 2])) == [0]
    assert dec.to39([0, 1]) == ["aa", "iy"]


def test_insertion_penalty_and_bigram_shape_the_path():
    dec = _decoder()
    ambiguous = _posteriors([0, 1, 2, 3, 4, 5], p=0.3)
    assert dec.decode(ambiguous, 1.0, 0.0) == [0, 1]
    assert dec.decode(ambiguous, 1.0, 50.0) in ([0], [1])  # a huge penalty leaves a single phone
    # a bigram that forbids aa -> iy turns the path into one phone
    lm = dec.log_bigram.copy()
    lm[0, 1] = -1e9
    strict = decode.HybridDecoder(dec.log_priors, lm, dec.log_start, dec.log_end, dec.log_stay, dec.log_leave)
    seq = strict.decode(_posteriors([0, 1, 2, 3, 4, 5], p=0.5))
    assert seq != [0, 1] and not any(a == 0 and b == 1 for a, b in zip(seq, seq[1:]))


def test_decoder_estimates_from_training_labels():
    labels = np.array([0, 0, 1, 2, 3, 4, 4, 4, 5])  # aa (4 frames) then iy (5)
    dec = decode.HybridDecoder.from_training(labels, np.array([0, 9]), [[0, 1]], num_phones=2, smoothing=0.0,
                                             prior_floor=1e-9, phones=["aa", "iy"])
    np.testing.assert_allclose(np.exp(dec.log_priors), np.bincount(labels, minlength=6) / 9)
    # state 0 lasts 2 frames in one visit: stay = 1 - 1/2; state 4 lasts 3: 1 - 1/3
    assert np.exp(dec.log_stay[0]) == pytest.approx(0.5) and np.exp(dec.log_stay[4]) == pytest.approx(2 / 3)
    assert np.exp(dec.log_bigram[0, 1]) == pytest.approx(1.0) and np.exp(dec.log_end[1]) == pytest.approx(1.0)
    assert np.exp(dec.log_start[0]) == pytest.approx(1.0)


def test_per_against_hand_computed_edit_distance():
    ref = "sil k ae t sil".split()
    hyp = "sil k ah t t sil".split()  # one substitution, one insertion
    assert decode.edit_distance(ref, hyp) == 2
    assert decode.edit_distance("a b c".split(), []) == 3
    assert decode.edit_distance([], "a".split()) == 1
    assert decode.phone_error_rate([ref, "a b c".split()], [hyp, "a c".split()]) == pytest.approx((2 + 1) / 8)


def test_vad_marks_quiet_frames():
    loud = np.log(np.full((3, 4), 1.0))
    quiet = np.log(np.full((2, 4), 1e-4))  # 40 dB below
    mid = np.log(np.full((1, 4), 1e-2))  # 20 dB below
    flags = D.vad_silence(np.concatenate([quiet, loud, mid]), 30.0)
    assert flags.tolist() == [True, True, False, False, False, False]


def test_utterance_decision_is_the_majority_of_non_silent_frames():
    # frames: silence x3, anger x1, sadness x2 -> sadness
    post = np.eye(5)[[4, 4, 4, 0, 2, 2]] * 0.9 + 0.02
    fr = D.Frames(np.zeros((6, 1), np.float32), np.zeros(6, np.int32), np.array([0, 6]), ["u"], {"emotion": [2]})
    assert scoring.utterance_decisions(post, fr).tolist() == [2]
    probs = M.utterance_emotions(tf.constant(post[None], tf.float32), D.SILENCE).numpy()[0]
    np.testing.assert_allclose(probs, [1 / 3, 0, 2 / 3, 0], atol=1e-6)
    allsil = np.eye(5)[[4, 4]] * 0.5 + np.array([0.1, 0.3, 0, 0, 0])
    fr2 = D.Frames(np.zeros((2, 1), np.float32), np.zeros(2, np.int32), np.array([0, 2]), ["v"], {"emotion": [1]})
    assert scoring.utterance_decisions(allsil, fr2).tolist() == [1]
    assert np.argmax(M.utterance_emotions(tf.constant(allsil[None], tf.float32), D.SILENCE).numpy()[0]) == 1


def test_unweighted_error_by_hand():
    labels = np.array([0, 0, 0, 1])
    pred = np.array([0, 0, 0, 0])
    assert scoring.error(pred, labels) == pytest.approx(0.25)
    assert scoring.unweighted_error(pred, labels) == pytest.approx(0.5)  # recalls 1 and 0


# ----------------------------------------------------------------------------------
# freezing and warm-up on the tiny trained sweep
# ----------------------------------------------------------------------------------
def _weights(run_dir, cfg, task, stage):
    from tfaudio.systems.transfer import train as T

    m = T.build_model(cfg, task)
    from tfaudio.training import core

    core.restore_best(run_dir / stage, m.named_parts())
    return {n: [w.numpy().copy() for w in b.weights] for n, b in m.named_parts().items()}


def _same(a, b):
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))


@pytest.mark.parametrize("base, target, stage", [("asr", "ser", "ser/fold0/from-asr-l2"),
                                                 ("ser", "asr", "asr/from-ser-l2")])
def test_exactly_l_layers_are_held_constant(tiny_transfer_run, tiny_cfg, base, target, stage):
    base_stage = "asr/base" if base == "asr" else f"ser/fold{tiny_cfg.data.ser_base_fold}/base"
    b = _weights(tiny_transfer_run, tiny_cfg, base, base_stage)
    t = _weights(tiny_transfer_run, tiny_cfg, target, stage)
    # conv1 and conv2 (kernels, biases, BatchNorm scale / offset and moving statistics) unchanged
    assert _same(b["conv1"], t["conv1"]) and _same(b["conv2"], t["conv2"])
    # the next layers were trained
    for name in ("fc3", "fc4", "fc5"):
        assert not np.array_equal(b[name][0], t[name][0]), name


def test_warmup_trains_the_output_layer_alone_for_one_epoch(tiny_transfer_run, tiny_cfg):
    from tfaudio.training import core

    warm = "ser/fold0/from-asr-l2-warmup"
    assert core.stage_state(tiny_transfer_run / warm)["epochs_run"] == 1
    b = _weights(tiny_transfer_run, tiny_cfg, "asr", "asr/base")
    w = _weights(tiny_transfer_run, tiny_cfg, "ser", warm)
    for name in ("conv1", "conv2", "fc3", "fc4", "fc5"):
        assert _same(b[name], w[name]), name
    f = _weights(tiny_transfer_run, tiny_cfg, "ser", "ser/fold0/from-asr-l2")
    assert not np.array_equal(w["out"][0], f["out"][0])  # fine-tuning went on from there


def test_l5_is_a_feature_extractor(tiny_transfer_run, tiny_cfg):
    b = _weights(tiny_transfer_run, tiny_cfg, "asr", "asr/base")
    t = _weights(tiny_transfer_run, tiny_cfg, "ser", "ser/fold0/from-asr-l5")
    for name in ("conv1", "conv2", "fc3", "fc4", "fc5"):
        assert _same(b[name], t[name]), name
    assert not (tiny_transfer_run / "ser/fold0/from-asr-l5-warmup").exists()


def test_a_run_directory_keeps_its_settings_and_gains_a_corpus(tmp_path, tiny_cfg):
    """Base ASR on TIMIT, then base SER on IEMOCAP, then a transfer without flags: all
    in one directory with one configuration."""
    import argparse
    import json

    from tfaudio.config import merge
    from tfaudio.errors import RunDirError
    from tfaudio.systems.transfer import cli
    from tfaudio.systems.transfer import train as T

    parser = argparse.ArgumentParser()
    cli.add_train_args(parser)
    args = parser.parse_args(["--stage", "base", "--task", "asr", "--data-dir", "/data/TIMIT", "--run-dir",
                              str(tmp_path)])
    cfg = cli.build_config(args)
    assert cfg.data.timit_dir == "/data/TIMIT" and cfg.model.fc_units == (1024, 1024, 1024)  # paper recipe
    T.check_run_config(tmp_path, cfg)
    args = parser.parse_args(["--stage", "base", "--task", "ser", "--data-dir", "/data/IEMOCAP", "--run-dir",
                              str(tmp_path)])
    cfg2 = cli.build_config(args)
    assert (cfg2.data.timit_dir, cfg2.data.iemocap_dir) == ("/data/TIMIT", "/data/IEMOCAP")
    T.check_run_config(tmp_path, cfg2)
    assert json.loads((tmp_path / "config.json").read_text())["data"]["iemocap_dir"] == "/data/IEMOCAP"
    args = parser.parse_args(["--stage", "transfer", "--base", "asr", "--frozen", "2", "--run-dir", str(tmp_path)])
    assert cli.build_config(args) == cfg2
    with pytest.raises(RunDirError, match="data.iemocap_dir"):
        T.check_run_config(tmp_path, merge(cfg2, {"data": {"iemocap_dir": "/elsewhere"}}))
    with pytest.raises(RunDirError, match="model"):
        T.check_run_config(tmp_path, merge(cfg2, {"model": {"l2": 0.5}}))


def test_mel_stats_of_utterances_of_different_lengths():
    from tfaudio.evaluation.baselines import band_statistics

    a, b = np.arange(12.0).reshape(4, 3), np.ones((2, 3))
    got = band_statistics([a, b])
    np.testing.assert_allclose(got[0], np.concatenate([a.mean(0), a.std(0)]))
    np.testing.assert_allclose(got[1], [1, 1, 1, 0, 0, 0])
    np.testing.assert_allclose(band_statistics(a[None]), got[:1])


def test_frame_states_per_segment_for_both_methods():
    """Two segments of 4 and 5 frames: states restart in each; the GMM path uses a
    trained phone model where there is one and thirds where there is none."""
    seg_index = np.array([0, 0, 0, 0, 1, 1, 1, 1, 1])
    utt = {"logmel": np.random.default_rng(0).standard_normal((9, 8)), "seg_index": seg_index,
           "phones48": ["aa", "iy"]}
    eq = align.frame_states([utt], "equal")[0]
    assert eq.tolist() == [0, 0, 1, 2, 0, 0, 1, 1, 2]
    gmm = align.frame_states([utt], "gmm", align.PhoneAligner(), n_mfcc=4)[0]  # no models: thirds
    assert gmm.tolist() == eq.tolist()
    with pytest.raises(Exception, match="data.alignment"):
        align.frame_states([utt], "viterbi")


def _separable_frames(n: int, k: int, seed: int) -> D.Frames:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, k, n).astype(np.int32)
    feats = (rng.standard_normal((n, 40)) + 3.0 * np.eye(k, 40)[labels] + 5.0).astype(np.float32)
    return D.Frames(feats, labels, np.array([0, n], np.int64), ["u0"])


def test_frame_logreg_baseline_converges_and_says_so_in_one_line_if_not(capfd, caplog):
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    from tfaudio.systems.transfer import scoring

    train, test = _separable_frames(3000, 6, 0), _separable_frames(500, 6, 1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        post = scoring.logreg_frame_posteriors(train, {"test": test}, 8)
    assert not [w for w in caught if issubclass(w.category, ConvergenceWarning)]
    assert post["test"].shape == (500, 8) and np.mean(post["test"].argmax(1) == test.labels) > 0.8
    assert "not converging" not in caplog.text
    scoring.logreg_frame_posteriors(train, {"test": test}, 8, max_iter=2)  # cannot converge in 2 iterations
    err = capfd.readouterr().err
    assert "ConvergenceWarning" not in err and "lbfgs failed" not in err.lower() and "Increase the number" not in err
    assert caplog.text.count("stopped after 2 L-BFGS iterations before converging") == 1
