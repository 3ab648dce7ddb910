"""Tests for tfaudio.systems.qualitynet.model: masking, loss, init, export (SavedModel, TFLite)."""
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfaudio.features import Spectrogram
from tfaudio.layers.recurrent import configure_tflite_converter
from tfaudio.systems.qualitynet.export import (
    convert_qualitynet_tflite,
    qualitynet_serving_module,
    qualitynet_tflite_function,
)
from tfaudio.systems.qualitynet.model import QualityNet, QualityNetConfig, quality_net_loss, valid_frame_count
from tfaudio.systems.qualitynet.tflite_runtime import TFLiteQualityScorer

SR = 16000
SMALL = QualityNetConfig(lstm_units=8, dense_units=(6, 5))


def _clip(seconds, seed):
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    tone = 0.3 * np.sin(2 * np.pi * 440.0 * t) * (1 + np.sin(2 * np.pi * 3.0 * t))
    return (tone + 0.05 * rng.standard_normal(n)).astype(np.float32)


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(3)
    m = QualityNet(SMALL)
    m.build((None, None))
    return m


@pytest.fixture(scope="module")
def padded_batch():
    clips = [_clip(1.0, 0), _clip(0.61, 1), _clip(0.2, 2)]
    lengths = np.array([len(c) for c in clips], np.int32)
    batch = np.zeros((len(clips), lengths.max()), np.float32)
    for i, c in enumerate(clips):
        batch[i, : len(c)] = c
    return clips, batch, lengths


def test_output_shapes_and_frame_count(model):
    x = np.stack([_clip(1.0, 0), _clip(1.0, 1)])
    out = model(x)
    frames = 1 + x.shape[1] // 256
    assert out["score"].shape == (2,)
    assert out["frame_scores"].shape == (2, frames)
    assert out["frame_mask"].shape == (2, frames)
    assert model.num_frames(x.shape[1]) == frames
    np.testing.assert_array_equal(out["frame_mask"].numpy(), 1.0)
    np.testing.assert_allclose(
        out["score"].numpy(), out["frame_scores"].numpy().mean(axis=1), rtol=1e-6
    )


@pytest.mark.parametrize("center", [True, False])
def test_valid_frame_count_matches_feature_layer(center):
    spec = Spectrogram(512, 256, center=center)
    lengths = [1, 255, 256, 511, 512, 513, 767, 768, 16000, 16001]
    got = valid_frame_count(tf.constant(lengths), 512, 256, center).numpy().tolist()
    assert got == [spec.num_frames(n) for n in lengths]
    # and the count equals the frames of the clip actually run alone
    for n in (513, 16001):
        assert spec(np.zeros((1, n), np.float32)).shape[1] == spec.num_frames(n)


def test_padding_invariance(model, padded_batch):
    clips, batch, lengths = padded_batch
    out = model(batch, lengths=lengths)
    mask = out["frame_mask"].numpy()
    for i, clip in enumerate(clips):
        alone = model(clip[None, :])
        n = 1 + len(clip) // 256
        assert mask[i].sum() == n and np.all(mask[i, :n] == 1) and np.all(mask[i, n:] == 0)
        np.testing.assert_allclose(out["score"].numpy()[i], alone["score"].numpy()[0], atol=1e-5)
        np.testing.assert_allclose(
            out["frame_scores"].numpy()[i, :n], alone["frame_scores"].numpy()[0], atol=1e-5
        )
        assert np.all(out["frame_scores"].numpy()[i, n:] == 0.0)


def test_padding_content_is_ignored(model, padded_batch):
    _, batch, lengths = padded_batch
    dirty = batch.copy()
    for i, n in enumerate(lengths):
        dirty[i, n:] = 0.9  # not zero padded: the model must zero it itself
    a = model(batch, lengths=lengths)
    b = model(dirty, lengths=lengths)
    np.testing.assert_allclose(a["score"].numpy(), b["score"].numpy(), atol=1e-6)


def test_score_is_masked_mean_of_frame_scores(model, padded_batch):
    _, batch, lengths = padded_batch
    out = model(batch, lengths=lengths)
    q = out["frame_scores"].numpy()
    for i, n_samples in enumerate(lengths):
        n = 1 + n_samples // 256  # hand-computed valid frames
        np.testing.assert_allclose(out["score"].numpy()[i], q[i, :n].mean(), rtol=1e-5)


def test_silence_gives_finite_scores(model):
    zeros = np.zeros((2, 8000), np.float32)
    out = model(zeros, lengths=np.array([8000, 3000], np.int32))
    for key in ("score", "frame_scores"):
        assert np.all(np.isfinite(out[key].numpy()))
    mixed = np.stack([np.zeros(8000, np.float32), _clip(0.5, 4)])
    assert np.all(np.isfinite(model(mixed)["score"].numpy()))
    with tf.GradientTape() as tape:
        res = model(zeros, training=True)
        loss = model.loss_terms(tf.constant([4.5, 1.0]), res)["loss"]
    grads = tape.gradient(loss, model.trainable_variables)
    assert all(np.all(np.isfinite(g.numpy())) for g in grads if g is not None)


def test_peak_normalisation_makes_scale_irrelevant(model):
    clip = _clip(0.5, 5)[None, :]
    np.testing.assert_allclose(
        model(clip)["score"].numpy(), model(0.01 * clip)["score"].numpy(), atol=1e-5
    )


def test_forget_gate_bias_in_model(model):
    u = SMALL.lstm_units
    expected = np.concatenate([np.zeros(u), -3 * np.ones(u), np.zeros(2 * u)])
    for direction in (model.blstm.forward_layer, model.blstm.backward_layer):
        np.testing.assert_array_equal(direction.bias.numpy(), expected)


def _numpy_loss(true, q, mask, pred, q_max, constraint):
    total_u, total_f = 0.0, 0.0
    for s in range(len(true)):
        total_u += (true[s] - pred[s]) ** 2
        if constraint:
            valid = q[s][mask[s] > 0]
            alpha = 10 ** (true[s] - q_max)
            total_f += alpha * np.mean((true[s] - valid) ** 2)
    n = len(true)
    return total_u / n, total_f / n


@pytest.mark.parametrize("constraint", [True, False])
def test_loss_matches_hand_computed(constraint):
    true = np.array([4.2, 1.5, 3.0], np.float32)
    pred = np.array([3.9, 2.0, 3.1], np.float32)
    q = np.array(
        [[4.0, 3.5, 4.4, 99.0], [1.0, 2.0, -50.0, 77.0], [3.0, 3.3, 2.7, 3.1]], np.float32
    )  # 99 / -50 / 77 sit on padded frames and must not count
    mask = np.array([[1, 1, 1, 0], [1, 1, 0, 0], [1, 1, 1, 1]], np.float32)
    terms = quality_net_loss(true, q, mask, pred, q_max=4.5, frame_constraint=constraint)
    u, f = _numpy_loss(true, q, mask, pred, 4.5, constraint)
    np.testing.assert_allclose(terms["utterance_mse"].numpy(), u, rtol=1e-6)
    np.testing.assert_allclose(terms["frame_constraint"].numpy(), f, rtol=1e-6)
    np.testing.assert_allclose(terms["loss"].numpy(), u + f, rtol=1e-6)
    if constraint:
        # spelled out: alpha_s = 10 ** (Q_s - 4.5), mean over each row's valid frames
        by_hand = (
            10 ** (4.2 - 4.5) * ((0.2**2 + 0.7**2 + 0.2**2) / 3)
            + 10 ** (1.5 - 4.5) * ((0.5**2 + 0.5**2) / 2)
            + 10 ** (3.0 - 4.5) * ((0.0 + 0.3**2 + 0.3**2 + 0.1**2) / 4)
        ) / 3
        assert terms["frame_constraint"].numpy() == pytest.approx(by_hand, rel=1e-5)
        assert u == pytest.approx((0.3**2 + 0.5**2 + 0.1**2) / 3, rel=1e-5)
    else:
        assert terms["frame_constraint"].numpy() == 0.0


def test_loss_terms_and_one_training_step(model, padded_batch):
    _, batch, lengths = padded_batch
    true = tf.constant([3.5, 2.0, 4.4])
    optimizer = model.make_optimizer()
    assert isinstance(optimizer, keras.optimizers.RMSprop)
    with tf.GradientTape() as tape:
        out = model(batch, lengths=lengths, training=True)
        terms = model.loss_terms(true, out)
    assert set(terms) == {"utterance_mse", "frame_constraint", "loss"}
    grads = tape.gradient(terms["loss"], model.trainable_variables)
    assert all(g is not None for g in grads)
    before = [v.numpy().copy() for v in model.trainable_variables]
    clone = QualityNet.from_config(model.get_config())
    clone.build((None, None))
    clone.set_weights(model.get_weights())
    opt = clone.make_optimizer()
    opt.apply_gradients(zip(grads, clone.trainable_variables))
    assert any(
        not np.allclose(a, b.numpy()) for a, b in zip(before, clone.trainable_variables)
    )


def test_config_round_trip_and_variants():
    config = QualityNetConfig()
    assert config.dense_units == (50, 50) and config.lstm_units == 100
    assert config.center and not config.log_magnitude and config.peak_normalize
    assert QualityNetConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="unknown"):
        QualityNetConfig.from_dict({"lstm_unit": 3})
    code = QualityNetConfig.authors_code(lstm_units=4)
    assert code.dense_units == (50,) and code.dropout == 0.3 and code.lstm_units == 4
    m = QualityNet(code)
    out = m(np.zeros((1, 4000), np.float32) + 0.1, training=True)
    assert out["score"].shape == (1,)
    assert len(m.hidden) == 1
    log_model = QualityNet(QualityNetConfig(lstm_units=4, dense_units=(3,), log_magnitude=True))
    assert np.all(np.isfinite(log_model(np.zeros((1, 4000), np.float32))["score"].numpy()))


def test_keras_save_and_load(tmp_path, model):
    path = os.path.join(tmp_path, "qn.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert loaded.config == model.config
    x = _clip(0.5, 6)[None, :]
    np.testing.assert_allclose(loaded(x)["score"].numpy(), model(x)["score"].numpy(), atol=1e-6)


def test_serving_module_dynamic_batch_and_length(model, padded_batch):
    _, batch, lengths = padded_batch
    serving = qualitynet_serving_module(model)
    for n in (4000, 9000):
        x = tf.constant(batch[:, :n])
        scores = serving.score(x)
        frames = serving.frame_scores(x)
        np.testing.assert_allclose(scores["score"].numpy(), model(x)["score"].numpy(), atol=1e-6)
        assert frames["frame_scores"].shape == (3, 1 + n // 256)
    padded = serving.padded_scores(tf.constant(batch), tf.constant(lengths))
    np.testing.assert_allclose(
        padded["score"].numpy(), model(batch, lengths=lengths)["score"].numpy(), atol=1e-6
    )


def test_saved_model_round_trip(tmp_path, model):
    serving = qualitynet_serving_module(model)
    path = os.path.join(tmp_path, "sm")
    tf.saved_model.save(
        serving, path,
        signatures={"serving_default": serving.score, "frame_scores": serving.frame_scores},
    )
    loaded = tf.saved_model.load(path)
    x = tf.constant(_clip(0.7, 8)[None, :])
    np.testing.assert_allclose(
        loaded.signatures["serving_default"](waveform=x)["score"].numpy(),
        model(x)["score"].numpy(), atol=1e-6,
    )


@pytest.fixture(scope="module")
def tflite_bytes(model, tmp_path_factory):
    path = tmp_path_factory.mktemp("tflite") / "qn.tflite"
    data = convert_qualitynet_tflite(model, path)
    assert path.read_bytes() == data
    return data


def test_tflite_builtin_only_and_signature(tflite_bytes):
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_content=tflite_bytes)
    sig = interp.get_signature_list()["serving_default"]
    assert sig["inputs"] == ["waveform"]
    assert sorted(sig["outputs"]) == ["frame_scores", "score"]
    detail = interp.get_input_details()[0]
    assert detail["shape_signature"].tolist() == [1, -1]
    assert b"Flex" not in tflite_bytes  # builtins only (the converter would also refuse)


def test_tflite_matches_tf_at_several_lengths(model, tflite_bytes):
    scorer = TFLiteQualityScorer(tflite_bytes, num_threads=1)
    reference = qualitynet_serving_module(model).frame_scores  # graph mode: fast
    # 1 s -> 5 s -> 20 s -> 1 s: the interpreter is resized up and back down.
    for seconds, seed in ((1.0, 10), (5.0, 11), (20.0, 12), (1.0, 14)):
        clip = _clip(seconds, seed)
        lite = scorer(clip)
        ref = reference(tf.constant(clip[None, :]))
        assert lite["frame_scores"].shape == (1 + len(clip) // 256,)
        assert abs(lite["score"] - float(ref["score"][0])) < 1e-5
        np.testing.assert_allclose(lite["frame_scores"], ref["frame_scores"].numpy()[0], atol=1e-5)
    # silence on device: peak normalisation must not divide by zero
    assert np.isfinite(scorer(np.zeros(3000, np.float32))["score"])


def test_tflite_function_is_builtin_convertible(model):
    # The concrete function converted directly (variables frozen, no signature):
    # the scorer falls back to telling the outputs apart by rank.
    fn = qualitynet_tflite_function(model)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([fn])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    configure_tflite_converter(converter)
    scorer = TFLiteQualityScorer(converter.convert())
    clip = _clip(1.5, 15)
    lite = scorer(clip)
    ref = fn(tf.constant(clip[None, :]))
    assert abs(lite["score"] - float(ref["score"][0])) < 1e-5
    np.testing.assert_allclose(lite["frame_scores"], ref["frame_scores"].numpy()[0], atol=1e-5)


@pytest.mark.parametrize("quantization,tolerance", [("float16", 5e-3), ("int8", 0.1)])
def test_quantized_tflite_close_to_float(model, quantization, tolerance):
    data = convert_qualitynet_tflite(model, quantization=quantization)
    scorer = TFLiteQualityScorer(data)
    clip = _clip(2.0, 13)
    assert abs(scorer(clip)["score"] - float(model(clip[None, :])["score"][0])) < tolerance


def test_rejects_unknown_quantization(model):
    with pytest.raises(ValueError):
        convert_qualitynet_tflite(model, quantization="int4")


def test_dropout_is_training_only_and_stays_builtin_tflite(model):
    """The regularised variant (LSTM input / recurrent dropout, dense dropout) scores
    exactly like the plain model with the same weights, adds no variable to the
    plain model, and converts to builtin TFLite ops with the same outputs."""
    reg_config = QualityNetConfig(**{**SMALL.to_dict(), "lstm_dropout": 0.3,
                                     "lstm_recurrent_dropout": 0.3, "dropout": 0.3})
    reg = QualityNet(reg_config)
    reg.build((None, None))
    # the plain model holds only the trainable weights (checkpoints keyed by position)
    assert len(model.weights) == len(model.trainable_weights)
    assert len(reg.trainable_weights) == len(model.trainable_weights)
    for a, b in zip(reg.trainable_weights, model.trainable_weights):
        assert a.shape == b.shape
        a.assign(b)
    clip = _clip(1.3, 21)[None, :]
    plain = model(clip, training=False)
    out = reg(clip, training=False)
    np.testing.assert_allclose(out["frame_scores"].numpy(), plain["frame_scores"].numpy(), atol=1e-6)
    trained = reg(clip, training=True)["frame_scores"].numpy()
    assert not np.allclose(trained, plain["frame_scores"].numpy(), atol=1e-3)  # dropout acts
    data = convert_qualitynet_tflite(reg)
    assert b"Flex" not in data
    lite = TFLiteQualityScorer(data)(clip[0])
    assert abs(lite["score"] - float(plain["score"][0])) < 1e-5
    np.testing.assert_allclose(lite["frame_scores"], plain["frame_scores"].numpy()[0], atol=1e-5)
