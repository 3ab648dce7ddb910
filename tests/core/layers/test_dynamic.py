"""The per-sample dynamic convolution against a direct numpy reference."""
import numpy as np
import pytest
import tensorflow as tf

from tfaudio.layers.dynamic import AffineLayerNorm, DynamicConv2D, layer_norm_hwc


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
