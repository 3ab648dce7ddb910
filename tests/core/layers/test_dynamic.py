"""The per-sample dynamic convolution against a direct numpy reference, and its
formulations against each other."""
import tempfile
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfaudio.layers.dynamic import (AUTO, DYNAMIC_CONV_CHOICES, FORMULATIONS, AffineLayerNorm, DynamicConv2D,
                                    device_kind, layer_norm_hwc, resolve_formulation)


def dilated_conv_reference(x, k, dilation):
    """Direct 'SAME' dilated cross-correlation of one example, in numpy float64."""
    h, w, cin = x.shape
    kh, kw, _, cout = k.shape
    eh, ew = (kh - 1) * dilation + 1, (kw - 1) * dilation + 1
    ph, pw = (eh - 1) // 2, (ew - 1) // 2
    xp = np.zeros((h + eh - 1, w + ew - 1, cin))
    xp[ph : ph + h, pw : pw + w] = x
    out = np.zeros((h, w, cout))
    for i in range(kh):
        for j in range(kw):
            patch = xp[i * dilation : i * dilation + h, j * dilation : j * dilation + w]
            out += patch @ k[i, j]
    return out


@pytest.mark.parametrize("dilation", [1, 2, 4])
def test_dynamic_conv_uses_each_examples_kernel(dilation):
    rng = np.random.default_rng(dilation)
    x = rng.standard_normal((3, 9, 13, 2)).astype(np.float32)
    k = rng.standard_normal((3, 3, 3, 2, 5)).astype(np.float32)
    y = DynamicConv2D(dilation)(tf.constant(x), tf.constant(k)).numpy()
    assert y.shape == (3, 9, 13, 5)
    for b in range(3):
        ref = dilated_conv_reference(x[b].astype(np.float64), k[b].astype(np.float64), dilation)
        np.testing.assert_allclose(y[b], ref, atol=1e-4)
    # a different kernel per example really changes the output
    assert not np.allclose(y[0], DynamicConv2D(dilation)(tf.constant(x[:1]), tf.constant(k[1:2])).numpy()[0])


def test_dynamic_conv_gradients_match_per_sample_static_conv():
    rng = np.random.default_rng(0)
    x = tf.constant(rng.standard_normal((2, 6, 7, 3)).astype(np.float32))
    k = tf.constant(rng.standard_normal((2, 3, 3, 3, 4)).astype(np.float32))
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([x, k])
        y = DynamicConv2D(2)(x, k)
        loss = tf.reduce_sum(tf.sin(y))
        refs = [tf.nn.conv2d(x[b : b + 1], k[b], 1, "SAME", dilations=2) for b in range(2)]
        ref_loss = tf.reduce_sum(tf.sin(tf.concat(refs, 0)))
    for a, b in zip(tape.gradient(loss, [x, k]), tape.gradient(ref_loss, [x, k])):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-4)


@pytest.mark.parametrize("dilation", [1, 4])
def test_training_mode_explicit_gradient_equals_the_map_fn_gradient(dilation):
    rng = np.random.default_rng(dilation)
    x = tf.constant(rng.standard_normal((3, 8, 11, 3)).astype(np.float32))
    k = tf.constant(rng.standard_normal((3, 3, 3, 3, 4)).astype(np.float32))
    w = tf.constant(rng.standard_normal((3, 8, 11, 4)).astype(np.float32))
    layer = DynamicConv2D(dilation)

    @tf.function
    def grads(training):
        with tf.GradientTape() as tape:
            tape.watch([x, k])
            y = layer(x, k, training=training)
            loss = tf.reduce_sum(tf.sin(y) * w)
        return y, tape.gradient(loss, [x, k])

    y_train, g_train = grads(True)
    y_infer, g_infer = grads(False)
    np.testing.assert_allclose(y_train.numpy(), y_infer.numpy(), atol=1e-6)
    for a, b in zip(g_train, g_infer):
        assert float(tf.reduce_max(tf.abs(b))) > 0
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-4)


# (batch, height, width, C_in, C_out, dilation, padding): odd sizes, dilation > 1, a dilated
# kernel wider than the input, one input channel (the DFE's first layer), one output channel
SHAPES = [
    (3, 11, 17, 5, 7, (2, 2), "SAME"),
    (2, 7, 9, 1, 4, (4, 4), "SAME"),
    (5, 13, 8, 3, 1, (8, 8), "SAME"),
    (3, 9, 19, 4, 3, (2, 3), "SAME"),
    (2, 15, 21, 3, 5, (2, 4), "VALID"),
]


def _outputs_and_gradients(formulation, x, k, w, dilation, padding, training):
    layer = DynamicConv2D(dilation, padding=padding, formulation=formulation)

    @tf.function
    def run(x, k):
        with tf.GradientTape() as tape:
            tape.watch([x, k])
            y = layer(x, k, training=training)
            loss = tf.reduce_sum(tf.sin(y) * w)
        return [y, *tape.gradient(loss, [x, k])]

    return [t.numpy() for t in run(x, k)]


@pytest.mark.parametrize("formulation", [f for f in FORMULATIONS if f != "map"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s[:5])) + f"-d{s[5][0]}{s[5][1]}-{s[6]}")
@pytest.mark.parametrize("training", [True, False])
def test_every_formulation_gives_the_outputs_and_gradients_of_map(formulation, shape, training):
    b, h, wd, cin, cout, dilation, padding = shape
    rng = np.random.default_rng(sum(shape[:5]))
    x = tf.constant(rng.standard_normal((b, h, wd, cin)).astype(np.float32))
    # kernels scaled as an initialiser would (fan-in), so outputs are O(1)
    k = tf.constant((rng.standard_normal((b, 3, 3, cin, cout)) / np.sqrt(9 * cin)).astype(np.float32))
    ref_y = _outputs_and_gradients("map", x, k, 1.0, dilation, padding, training)[0]
    w = tf.constant(rng.standard_normal(ref_y.shape).astype(np.float32))
    ref = _outputs_and_gradients("map", x, k, w, dilation, padding, training)
    got = _outputs_and_gradients(formulation, x, k, w, dilation, padding, training)
    for name, a, r in zip(("output", "d input", "d kernels"), got, ref):
        assert a.shape == r.shape, name
        assert np.abs(r).max() > 0, name  # something to compare
        np.testing.assert_allclose(a, r, rtol=1e-5, atol=1e-5, err_msg=f"{formulation} {name}")


@pytest.mark.parametrize("formulation", FORMULATIONS)
def test_every_formulation_matches_the_numpy_reference_with_a_dynamic_batch(formulation):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((4, 10, 13, 3)).astype(np.float32)
    k = rng.standard_normal((4, 3, 3, 3, 2)).astype(np.float32)
    layer = DynamicConv2D(4, formulation=formulation)
    fn = tf.function(lambda x, k: layer(x, k),
                     input_signature=[tf.TensorSpec([None, None, None, 3]), tf.TensorSpec([None, 3, 3, 3, 2])])
    for n in (4, 1):  # one graph, two batch sizes
        y = fn(tf.constant(x[:n]), tf.constant(k[:n])).numpy()
        for i in range(n):
            np.testing.assert_allclose(y[i], dilated_conv_reference(x[i].astype(np.float64), k[i].astype(np.float64), 4),
                                       atol=1e-4)


def test_auto_picks_per_device_kind_and_an_explicit_choice_stays():
    assert DYNAMIC_CONV_CHOICES == ("auto", "map", "grouped", "matmul")
    assert resolve_formulation("auto", "CPU") == "map"  # the measured CPU winner
    assert resolve_formulation("auto", "GPU") == "grouped"
    for f in FORMULATIONS:
        assert resolve_formulation(f, "GPU") == resolve_formulation(f, "CPU") == f
    with pytest.raises(ValueError, match="im2col"):
        resolve_formulation("im2col")
    with pytest.raises(ValueError, match="formulation 'loop'"):
        DynamicConv2D(2, formulation="loop")
    layer = DynamicConv2D(2)
    assert layer.formulation == "auto" and layer.resolved_formulation is None
    layer(tf.zeros([2, 5, 6, 1]), tf.zeros([2, 3, 3, 1, 2]))
    assert layer.resolved_formulation == AUTO[device_kind()]
    cfg = layer.get_config()
    assert cfg["formulation"] == "auto"
    again = DynamicConv2D.from_config({**cfg, "formulation": "matmul"})
    assert again.resolved_formulation == "matmul" and again.dilation_rate == (2, 2)


class GeneratedKernelConv(keras.Model):
    """A dynamic conv whose kernel a Dense layer computes from the input, as the DFE's."""

    def __init__(self, formulation):
        super().__init__()
        self.fc = keras.layers.Dense(3 * 3 * 2 * 4)
        self.conv = DynamicConv2D(2, formulation=formulation)

    def call(self, x):
        k = tf.reshape(self.fc(tf.reduce_mean(x, axis=[1, 2])), [-1, 3, 3, 2, 4])
        return self.conv(x, k)


@pytest.mark.parametrize("formulation", FORMULATIONS)
def test_every_formulation_converts_to_builtin_tflite_and_uses_each_inputs_kernel(formulation):
    from tfaudio.export.core import convert_tflite, run_tflite, tflite_ops

    rng = np.random.default_rng(3)
    net = GeneratedKernelConv(formulation)
    inputs = [rng.standard_normal((1, 9, 13, 2)).astype(np.float32) for _ in range(2)]
    net(inputs[0])
    data = convert_tflite(lambda x: {"y": net(x)}, [tf.TensorSpec([1, 9, 13, 2], tf.float32, name="x")], [net])
    ops = tflite_ops(data)
    assert "CUSTOM" not in ops and ("CONV_2D" in ops or "BATCH_MATMUL" in ops), ops
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.tflite"
        path.write_bytes(data)
        outs = [run_tflite(path, {"x": x})["y"] for x in inputs]  # two inputs in a row
    for x, out in zip(inputs, outs):
        np.testing.assert_allclose(out, net(x).numpy(), atol=1e-5)
    assert not np.allclose(outs[0], outs[1])


def test_layer_norm_is_per_example_over_hwc():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 5, 6, 3)).astype(np.float32) * np.arange(1, 5)[:, None, None, None]
    y = layer_norm_hwc(tf.constant(x)).numpy()
    flat = x.reshape(4, -1)
    ref = (flat - flat.mean(1, keepdims=True)) / np.sqrt(flat.var(1, keepdims=True) + 1e-5)
    np.testing.assert_allclose(y.reshape(4, -1), ref, atol=1e-5)
    ln = AffineLayerNorm()
    out = ln(tf.constant(x))
    assert ln.gamma.shape == (3,) and out.shape == x.shape
    assert AffineLayerNorm.from_config(ln.get_config()).epsilon == ln.epsilon


def test_constant_input_gives_finite_layer_norm():
    y = layer_norm_hwc(tf.zeros([2, 4, 4, 1])).numpy()
    assert np.all(np.isfinite(y)) and np.all(y == 0)


@pytest.mark.parametrize("per_example", [False, True])
def test_layer_norm_affine_matches_normalise_then_scale_and_shift(per_example):
    rng = np.random.default_rng(2)
    x = tf.constant(rng.standard_normal((3, 5, 7, 4)).astype(np.float32) * 2 + 1)
    shape = (3, 4) if per_example else (4,)
    scale = tf.constant(rng.standard_normal(shape).astype(np.float32))
    bias = tf.constant(rng.standard_normal(shape).astype(np.float32))

    def reference(x, scale, bias):
        flat = tf.reshape(x, [3, -1])
        mean = tf.reduce_mean(flat, 1)[:, None, None, None]
        var = tf.math.reduce_variance(flat, 1)[:, None, None, None]
        s = scale[:, None, None, :] if per_example else scale
        b = bias[:, None, None, :] if per_example else bias
        return (x - mean) / tf.sqrt(var + 1e-5) * s + b

    with tf.GradientTape(persistent=True) as tape:
        tape.watch([x, scale, bias])
        fused = layer_norm_hwc(x, 1e-5, scale, bias)
        ref = reference(x, scale, bias)
        w = tf.constant(rng.standard_normal(x.shape).astype(np.float32))
        lf, lr = tf.reduce_sum(fused * w), tf.reduce_sum(ref * w)
    np.testing.assert_allclose(fused.numpy(), ref.numpy(), atol=1e-5)
    for gf, gr in zip(tape.gradient(lf, [x, scale, bias]), tape.gradient(lr, [x, scale, bias])):
        np.testing.assert_allclose(gf.numpy(), gr.numpy(), atol=1e-4)
