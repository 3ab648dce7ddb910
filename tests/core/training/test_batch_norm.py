"""Batch-norm statistics estimated from data: the moving mean / variance become the
average of the batch statistics (numpy reference), weights and dropout are untouched."""
import keras
import numpy as np
import pytest

from tfaudio.training.batch_norm import estimate_batch_norm_statistics


def _model():
    keras.utils.set_random_seed(0)
    inp = keras.Input((5,))
    h = keras.layers.Dense(4, name="d")(inp)
    h = keras.layers.Dropout(0.5, name="drop")(h)
    out = keras.layers.BatchNormalization(momentum=0.99, name="bn")(h)
    return keras.Model(inp, out)


def test_moving_statistics_are_the_mean_of_the_batch_statistics():
    model = _model()
    rng = np.random.default_rng(0)
    batches = [(3.0 + 2.0 * rng.standard_normal((16, 5))).astype(np.float32) for _ in range(3)]
    weights = [w.numpy().copy() for w in model.get_layer("d").weights + model.get_layer("bn").trainable_weights]
    assert estimate_batch_norm_statistics(model, iter(batches)) == 3
    kernel, bias = weights[0], weights[1]
    h = [b @ kernel + bias for b in batches]  # dropout off while estimating
    bn = model.get_layer("bn")
    np.testing.assert_allclose(bn.moving_mean.numpy(), np.mean([x.mean(0) for x in h], 0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(bn.moving_variance.numpy(), np.mean([x.var(0) for x in h], 0), rtol=1e-4, atol=1e-5)
    after = [w.numpy() for w in model.get_layer("d").weights + bn.trainable_weights]
    assert all(np.array_equal(a, b) for a, b in zip(weights, after))
    assert bn.momentum == 0.99 and model.get_layer("drop").rate == 0.5
    y = model(batches[0], training=False).numpy()  # now normalised to about zero mean, unit variance
    assert abs(y.mean()) < 0.5 and 0.5 < y.std() < 1.5


def test_no_batches_is_an_error():
    with pytest.raises(ValueError, match="no batches"):
        estimate_batch_norm_statistics(_model(), [])
