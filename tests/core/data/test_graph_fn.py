"""graph_fn: one compiled function per model. Many models each traced once (a sweep's
stages) print no "triggered tf.function retracing" warning, while one function that
really retraces still gets it."""
import logging

import keras
import numpy as np
import tensorflow as tf

from tfaudio.data.pipeline import graph_fn

RETRACING = "triggered tf.function retracing"


def _model():
    inp = keras.Input((3,))
    return keras.Model(inp, keras.layers.Dense(2)(inp))


def test_many_models_traced_once_each_are_not_retracing(caplog):
    x = np.ones((4, 3), np.float32)
    with caplog.at_level(logging.WARNING, logger="tensorflow"):
        for _ in range(12):
            model = _model()
            fn = graph_fn(model)
            np.testing.assert_allclose(fn(tf.constant(x)).numpy(), model(x).numpy(), rtol=1e-6)
            assert graph_fn(model) is fn  # one function per model
    assert not [r for r in caplog.records if RETRACING in r.getMessage()]


def test_a_function_that_really_retraces_is_still_reported(caplog):
    model = _model()
    fn = graph_fn(model, lambda x: x + x, name="dtypes")
    with caplog.at_level(logging.WARNING, logger="tensorflow"):
        for dtype in (tf.float32, tf.float64, tf.int32, tf.int64, tf.float16, tf.int16, tf.int8):
            fn(tf.ones((2, 3), dtype))  # a new dtype every call: nothing to relax, a trace each
    assert [r for r in caplog.records if RETRACING in r.getMessage()]
