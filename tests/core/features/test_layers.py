"""Tests for tfaudio.features: librosa parity, serialization, TFLite (builtins only)."""
import os

import keras
import librosa
import numpy as np
import pytest
import scipy.signal
import tensorflow as tf

from tfaudio.features import (
    FeatureFrontend,
    LogCompression,
    MeanVarianceNormalization,
    MelFilterbank,
    MinMaxNormalization,
    Spectrogram,
    frontend_from_config,
)

SR = 16000
N = 4 * SR  # 64000 samples -> 249 frames with 512/256, no centering


def _signals():
    """Deterministic [2, 64000]: white-ish noise and a 100 Hz -> 7 kHz chirp."""
    rng = np.random.default_rng(1234)
    noise = 0.1 * rng.standard_normal(N)
    t = np.arange(N) / SR
    chirp = 0.5 * scipy.signal.chirp(t, f0=100.0, t1=t[-1], f1=7000.0, method="logarithmic")
    return np.stack([noise, chirp]).astype(np.float32)


@pytest.fixture(scope="module")
def signals():
    return _signals()


@pytest.fixture(scope="module")
def realistic(signals):
    """[noise, chirp + noise at -34 dB]: a spectral floor like real recordings have.

    A pure synthetic chirp has mel bands ~100 dB below its peak.  There the float32
    FFT round-off (~1e-7 of the frame peak, the same for TF and scipy's float32 FFT)
    is a large *relative* error, which log compression and normalisation amplify;
    librosa itself is not affected because it windows in float64.  End-to-end log
    feature comparisons therefore use this better-conditioned pair (the pure chirp
    has its own, looser test).
    """
    return np.stack([signals[0], signals[1] + 0.01 * signals[0]]).astype(np.float32)


def _librosa_spec(y, n_fft=512, hop=256, win_length=None, window="hamming", center=False,
                  power=1.0):
    """librosa reference, transposed to [batch, frames, bins]."""
    s = np.abs(librosa.stft(y, n_fft=n_fft, hop_length=hop, win_length=win_length,
                            window=window, center=center)) ** power
    return np.swapaxes(s, -1, -2)


def _rel_err(out, ref):
    return float(np.max(np.abs(out - ref)) / np.max(np.abs(ref)))


def _librosa_dfe(y, power=2.0):
    """The DFE reference: librosa STFT -> 40 mel -> log -> per-clip min-max."""
    out = []
    for clip in y:
        s = np.abs(librosa.stft(clip, n_fft=512, hop_length=256, window="hamming",
                                center=False)) ** power
        mel = librosa.feature.melspectrogram(S=s, sr=SR, n_fft=512, n_mels=40)
        logmel = np.log(np.maximum(mel, 1e-10)).T
        out.append((logmel - logmel.min()) / max(logmel.max() - logmel.min(), 1e-8))
    return np.stack(out)


# ----------------------------------------------------------------------------
# Spectrogram
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("window", ["hamming", "hann"])
@pytest.mark.parametrize("center", [False, True])
@pytest.mark.parametrize("power", [1.0, 2.0])
def test_spectrogram_matches_librosa(signals, window, center, power):
    layer = Spectrogram(frame_length=512, frame_step=256, window=window, power=power,
                        center=center)
    out = layer(signals).numpy()
    ref = _librosa_spec(signals, window=window, center=center, power=power)
    assert out.shape == ref.shape
    assert out.dtype == np.float32
    for b in range(len(signals)):  # each clip relative to its own peak
        assert _rel_err(out[b], ref[b]) < 1e-4


def test_spectrogram_shapes(signals):
    layer = Spectrogram()
    out = layer(signals)
    assert tuple(out.shape) == (2, 249, 257)
    assert layer.num_frames(N) == 249
    assert layer.compute_output_shape((2, N)) == (2, 249, 257)
    assert layer.compute_output_shape((None, None)) == (None, None, 257)
    centered = Spectrogram(center=True)
    assert centered.num_frames(N) == 1 + N // 256 == 251
    assert tuple(centered(signals).shape) == (2, 251, 257)


@pytest.mark.parametrize("center", [False, True])
@pytest.mark.parametrize("num_samples", [511, 512, 513, 1000, 16000, 16257])
def test_num_frames_matches_output(center, num_samples):
    layer = Spectrogram(center=center)
    y = np.zeros((1, num_samples), np.float32)
    assert layer(y).shape[1] == layer.num_frames(num_samples)
    if num_samples >= 512:  # librosa refuses shorter inputs with center=False
        ref = librosa.stft(y[0], n_fft=512, hop_length=256, center=center)
        assert ref.shape[1] == layer.num_frames(num_samples)


def test_spectrogram_dynamic_samples_axis(signals):
    layer = Spectrogram(power=2.0)
    fn = tf.function(layer, input_signature=[tf.TensorSpec([None, None], tf.float32)])
    for n in (16000, 40000):
        out = fn(tf.constant(signals[:, :n])).numpy()
        ref = _librosa_spec(signals[:, :n], power=2.0)
        assert out.shape == ref.shape
        assert _rel_err(out, ref) < 1e-4


def test_spectrogram_zero_padded_fft_centered_matches_librosa(signals):
    # frame_length < fft_length with center=True frames exactly like librosa.
    layer = Spectrogram(frame_length=400, frame_step=160, fft_length=512, window="hann",
                        center=True)
    out = layer(signals).numpy()
    ref = _librosa_spec(signals, n_fft=512, hop=160, win_length=400, window="hann",
                        center=True)
    assert out.shape == ref.shape == (2, 1 + N // 160, 257)
    assert _rel_err(out, ref) < 1e-4


def test_spectrogram_validation():
    with pytest.raises(ValueError):
        Spectrogram(frame_length=512, fft_length=256)
    with pytest.raises(ValueError):
        Spectrogram(window="no-such-window")
    with pytest.raises(ValueError):
        Spectrogram(power=0)


# ----------------------------------------------------------------------------
# MelFilterbank / LogCompression
# ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def power_spec(signals):
    return _librosa_spec(signals, power=2.0).astype(np.float32)  # [2, 249, 257]


def test_mel_filterbank_matches_librosa(power_spec):
    layer = MelFilterbank(sample_rate=SR, n_fft=512, num_mel_bins=40)
    out = layer(power_spec).numpy()
    ref = np.stack([librosa.feature.melspectrogram(S=s.T, sr=SR, n_fft=512, n_mels=40).T
                    for s in power_spec])
    assert out.shape == (2, 249, 40)
    assert _rel_err(out, ref) < 1e-5
    assert layer.weights == []  # a graph constant, not a variable
    assert layer.compute_output_shape((None, None, 257)) == (None, None, 40)


def test_mel_filterbank_options_match_librosa(power_spec):
    layer = MelFilterbank(sample_rate=SR, n_fft=512, num_mel_bins=64, fmin=50.0,
                          fmax=7600.0, htk=True, norm=None)
    ref_matrix = librosa.filters.mel(sr=SR, n_fft=512, n_mels=64, fmin=50.0, fmax=7600.0,
                                     htk=True, norm=None)
    np.testing.assert_array_equal(layer.matrix, ref_matrix.T.astype(np.float32))
    out = layer(power_spec).numpy()
    assert _rel_err(out, power_spec @ ref_matrix.T) < 1e-5


def test_log_compression_matches_librosa(power_spec):
    mel = MelFilterbank(num_mel_bins=40)(power_spec).numpy()
    mel[0, :5] = 0.0  # exercise the floor
    natural = LogCompression(floor=1e-10, scale="natural")(mel).numpy()
    np.testing.assert_allclose(natural, np.log(np.maximum(mel, 1e-10)), rtol=1e-5, atol=1e-4)
    db = LogCompression(floor=1e-10, scale="db")(mel).numpy()
    ref_db = librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=None)
    np.testing.assert_allclose(db, ref_db, rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(natural[0, :5], np.log(1e-10), rtol=1e-6)


# ----------------------------------------------------------------------------
# normalisation
# ----------------------------------------------------------------------------
def test_minmax_matches_numpy():
    x = np.random.default_rng(0).standard_normal((3, 20, 8)).astype(np.float32) * 5 + 2
    out = MinMaxNormalization()(x).numpy()
    lo = x.min(axis=(1, 2), keepdims=True)
    hi = x.max(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(out, (x - lo) / (hi - lo), atol=1e-6)
    assert out.min() == 0.0 and np.isclose(out.max(), 1.0)
    out1 = MinMaxNormalization(axes=(1,))(x).numpy()
    lo, hi = x.min(axis=1, keepdims=True), x.max(axis=1, keepdims=True)
    np.testing.assert_allclose(out1, (x - lo) / (hi - lo), atol=1e-6)


def test_meanvar_matches_numpy():
    x = np.random.default_rng(1).standard_normal((3, 50, 8)).astype(np.float32) * 3 - 1
    out = MeanVarianceNormalization()(x).numpy()
    ref = (x - x.mean(axis=1, keepdims=True)) / np.sqrt(x.var(axis=1, keepdims=True) + 1e-5)
    np.testing.assert_allclose(out, ref, atol=1e-5)
    out12 = MeanVarianceNormalization(axes=(1, 2), epsilon=1e-3)(x).numpy()
    ref12 = (x - x.mean(axis=(1, 2), keepdims=True)) / np.sqrt(
        x.var(axis=(1, 2), keepdims=True) + 1e-3)
    np.testing.assert_allclose(out12, ref12, atol=1e-5)


def test_normalization_rejects_batch_axis():
    with pytest.raises(ValueError):
        MinMaxNormalization(axes=(0, 1))
    with pytest.raises(ValueError):
        MeanVarianceNormalization(axes=())


# ----------------------------------------------------------------------------
# FeatureFrontend
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("power", [2.0, 1.0])
def test_frontend_dfe_matches_librosa(realistic, power):
    fe = FeatureFrontend(num_mel_bins=40, power=power, log="natural", normalization="minmax")
    out = fe(realistic).numpy()
    ref = _librosa_dfe(realistic, power=power)
    assert out.shape == (2, 249, 40) == fe.compute_output_shape((2, N))
    assert fe.num_features == 40 and fe.num_frames(N) == 249
    np.testing.assert_allclose(out, ref, atol=1e-4)


def test_frontend_dfe_pure_chirp_float32_limit(signals):
    # See `realistic`: bands ~100 dB down are dominated by float32 FFT round-off.
    fe = FeatureFrontend(num_mel_bins=40, power=2.0, log="natural", normalization="minmax")
    chirp = signals[1:]
    err = np.abs(fe(chirp).numpy() - _librosa_dfe(chirp))
    assert err.max() < 1e-3
    assert err.mean() < 1e-4


def test_frontend_quality_net_matches_librosa(signals):
    fe = FeatureFrontend(power=1.0, center=True)
    out = fe(signals).numpy()
    ref = _librosa_spec(signals, center=True, power=1.0)
    assert out.shape == (2, 251, 257) and fe.num_features == 257
    assert _rel_err(out, ref) < 1e-4


def test_frontend_meanvar_db(realistic):
    fe = FeatureFrontend(num_mel_bins=64, window="hann", power=2.0, log="db",
                         normalization="meanvar")
    out = fe(realistic).numpy()
    s = _librosa_spec(realistic, window="hann", power=2.0)
    mel = s @ librosa.filters.mel(sr=SR, n_fft=512, n_mels=64).T
    db = librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=None)
    ref = (db - db.mean(axis=1, keepdims=True)) / np.sqrt(db.var(axis=1, keepdims=True) + 1e-5)
    np.testing.assert_allclose(out, ref, atol=1e-3)


def test_frontend_validation():
    with pytest.raises(ValueError):
        FeatureFrontend(log="log2")
    with pytest.raises(ValueError):
        FeatureFrontend(normalization="zscore")
    with pytest.raises(ValueError, match="num_mel_bin"):
        frontend_from_config({"num_mel_bin": 40})
    fe = frontend_from_config({"num_mel_bins": 40, "log": "natural"})
    assert fe.num_features == 40 and fe.log == "natural"


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(num_mel_bins=40, power=2.0, log="natural", normalization="minmax"),
        dict(num_mel_bins=64, power=2.0, log="db", normalization="meanvar"),
        dict(power=1.0, center=True),
    ],
)
def test_silence_is_finite(kwargs):
    fe = FeatureFrontend(**kwargs)
    out = fe(np.zeros((2, 8000), np.float32)).numpy()
    assert np.all(np.isfinite(out))


def test_mixed_precision_policy_keeps_float32(realistic):
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        fe = FeatureFrontend(num_mel_bins=40, power=2.0, log="natural",
                             normalization="minmax")
        out = fe(realistic)
    finally:
        keras.config.set_dtype_policy(previous)
    assert out.dtype == tf.float32
    np.testing.assert_allclose(out.numpy(), _librosa_dfe(realistic), atol=1e-4)


# ----------------------------------------------------------------------------
# serialization
# ----------------------------------------------------------------------------
_LAYERS = [
    Spectrogram(frame_length=400, frame_step=160, fft_length=512, window="hann", power=2.0,
                center=True),
    MelFilterbank(sample_rate=SR, n_fft=512, num_mel_bins=64, fmin=20.0, fmax=8000.0),
    LogCompression(floor=1e-6, scale="db"),
    MinMaxNormalization(axes=(1,), epsilon=1e-6),
    MeanVarianceNormalization(axes=(1, 2), epsilon=1e-4),
    FeatureFrontend(num_mel_bins=40, power=2.0, log="natural", normalization="minmax"),
    FeatureFrontend(power=1.0, center=True),
]


def _plain(value):
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    return value is None or isinstance(value, (bool, int, float, str))


@pytest.mark.parametrize("layer", _LAYERS, ids=lambda l: type(l).__name__)
def test_config_round_trip(layer, signals, power_spec):
    config = layer.get_config()
    assert _plain(config)
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    if isinstance(layer, (Spectrogram, FeatureFrontend)):
        x = signals
    elif isinstance(layer, MelFilterbank):
        x = power_spec
    else:
        x = np.log(MelFilterbank(num_mel_bins=40)(power_spec).numpy() + 1e-6)
    np.testing.assert_array_equal(clone(x).numpy(), layer(x).numpy())


def test_keras_save_load(tmp_path, signals):
    inputs = keras.Input((None,))
    feats = FeatureFrontend(num_mel_bins=40, power=2.0, log="natural",
                            normalization="minmax")(inputs)
    pooled = keras.layers.GlobalAveragePooling1D()(feats)
    outputs = keras.layers.Dense(3)(pooled)
    model = keras.Model(inputs, outputs)
    path = os.path.join(tmp_path, "frontend_model.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_allclose(loaded(signals).numpy(), model(signals).numpy(), atol=1e-6)
    fe = loaded.layers[1]
    assert isinstance(fe, FeatureFrontend) and fe.num_features == 40


# ----------------------------------------------------------------------------
# TFLite: builtin ops only, run with the LiteRT interpreter
# ----------------------------------------------------------------------------
_TFLITE_CASES = {
    "dfe": dict(num_mel_bins=40, power=2.0, log="natural", normalization="minmax"),
    "quality_net": dict(power=1.0, center=True),
    # every other layer/option: hann, zero-padded FFT, dB, mean/variance
    "mel64_db_meanvar": dict(window="hann", fft_length=1024, num_mel_bins=64, power=1.0,
                             log="db", normalization="meanvar"),
}


def _to_tflite(layer, shape):
    fn = tf.function(lambda x: layer(x))
    concrete = fn.get_concrete_function(tf.TensorSpec(shape, tf.float32))
    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete], fn)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]  # no Flex
    return converter.convert()


def _interpreter(model_bytes):
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=model_bytes)
    op_names = {op["op_name"] for op in interpreter._get_ops_details()}
    assert not any(name.startswith("Flex") or name == "CUSTOM" for name in op_names), op_names
    assert "RFFT2D" in op_names
    return interpreter


def _run(interpreter, x):
    inp = interpreter.get_input_details()[0]
    if tuple(inp["shape"]) != x.shape:
        interpreter.resize_tensor_input(inp["index"], list(x.shape))
    interpreter.allocate_tensors()
    interpreter.set_tensor(inp["index"], x)
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])


def _check_close(out, ref, normalization):
    """[0, 1] min-max features: 1e-4 absolute.  Unbounded features (linear
    magnitudes, z-scores that reach ~12 where the chirp crosses a band): 1e-4
    relative to the largest value -- TFLite's FFT rounds differently from TF's."""
    assert out.shape == ref.shape
    if normalization == "minmax":
        assert np.max(np.abs(out - ref)) <= 1e-4
    else:
        assert _rel_err(out, ref) <= 1e-4


@pytest.mark.parametrize("case", sorted(_TFLITE_CASES))
def test_tflite_static_shape(case, realistic):
    kwargs = _TFLITE_CASES[case]
    fe = FeatureFrontend(**kwargs)
    interpreter = _interpreter(_to_tflite(fe, [1, N]))
    x = realistic[1:2]
    _check_close(_run(interpreter, x), fe(x).numpy(), kwargs.get("normalization"))


@pytest.mark.parametrize("case", sorted(_TFLITE_CASES))
def test_tflite_dynamic_samples_axis(case, realistic):
    kwargs = _TFLITE_CASES[case]
    fe = FeatureFrontend(**kwargs)
    interpreter = _interpreter(_to_tflite(fe, [1, None]))
    for n, row in ((24000, 1), (64000, 0)):  # two lengths through one interpreter
        x = np.ascontiguousarray(realistic[row:row + 1, :n])
        out = _run(interpreter, x)
        assert out.shape == (1, fe.num_frames(n), fe.num_features)
        _check_close(out, fe(x).numpy(), kwargs.get("normalization"))


def test_tflite_from_exported_saved_model(tmp_path, realistic):
    """The route tfaudio-export takes: keras Model.export -> SavedModel -> TFLite,
    with batch and samples both dynamic."""
    inputs = keras.Input((None,))
    feats = FeatureFrontend(**_TFLITE_CASES["dfe"])(inputs)
    model = keras.Model(inputs, keras.layers.Dense(4)(feats))
    export_dir = os.path.join(tmp_path, "saved_model")
    model.export(export_dir, verbose=False)
    converter = tf.lite.TFLiteConverter.from_saved_model(export_dir)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    interpreter = _interpreter(converter.convert())
    assert list(interpreter.get_input_details()[0]["shape_signature"]) == [-1, -1]
    for n in (16000, N):
        x = np.ascontiguousarray(realistic[:, :n])
        out = _run(interpreter, x)
        assert out.shape == (2, 1 + (n - 512) // 256, 4)
        np.testing.assert_allclose(out, model(x).numpy(), atol=1e-4)
