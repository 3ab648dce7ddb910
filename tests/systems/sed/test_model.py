"""Gradient reversal, the labeler-diversity term (eq. 8), masked losses, the pseudo-label rule."""
import numpy as np
import pytest
import tensorflow as tf

from tfaudio.layers import GradientReversal
from tfaudio.systems.sed import model as M
from tfaudio.systems.sed import train as T
from tfaudio.systems.sed.config import SEDModelConfig
from tfaudio.systems.sed.data import frame_targets, pseudo_labels

TINY = SEDModelConfig(filters=(4, 8), pools=((2, 2), (2, 4)), dropout=0.0, gru_units=8, gru_layers=1,
                      head_units=8, domain_units=8, num_classes=3)


@pytest.mark.parametrize("alpha", [1.0, 0.3, 2.5])
def test_gradient_reversal_sign_and_scale(alpha):
    layer = GradientReversal(alpha)
    x = tf.constant(np.random.default_rng(0).standard_normal((2, 5, 3)), tf.float32)
    w = tf.constant(np.random.default_rng(1).standard_normal((2, 5, 3)), tf.float32)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = layer(x)
        loss = tf.reduce_sum(w * y)
        plain = tf.reduce_sum(w * x)
    np.testing.assert_array_equal(y.numpy(), x.numpy())  # identity forward
    np.testing.assert_allclose(tape.gradient(loss, x).numpy(), -alpha * tape.gradient(plain, x).numpy(), rtol=1e-6)


def test_gradient_reversal_serializes():
    layer = GradientReversal(0.7, name="grl")
    again = GradientReversal.from_config(layer.get_config())
    assert again.alpha == 0.7 and again.name == "grl"


def test_domain_classifier_trains_d_and_reverses_into_f():
    """One loss, one tape: D's weights get the plain gradient, F's features the reversed one."""
    h = tf.Variable(np.random.default_rng(0).standard_normal((2, 6, 4)).astype(np.float32))
    d = M.DomainClassifier(TINY, "time")
    d(h)
    labels = tf.constant([0.0, 1.0])
    # alpha = 1 vs a copy of D whose layer passes gradients unchanged (alpha = -1)
    d2 = M.DomainClassifier(TINY, "time")
    d2(h)
    d2.set_weights(d.get_weights())
    d.grl.alpha_variable.assign(1.0)
    d2.grl.alpha_variable.assign(-1.0)  # -(-1) = identity backward
    with tf.GradientTape(persistent=True) as tape:
        l1 = T.domain_loss(d(h), labels)
        l2 = T.domain_loss(d2(h), labels)
    np.testing.assert_allclose(tape.gradient(l1, h).numpy(), -tape.gradient(l2, h).numpy(), rtol=1e-5, atol=1e-7)
    for g1, g2 in zip(tape.gradient(l1, d.trainable_variables), tape.gradient(l2, d2.trainable_variables)):
        np.testing.assert_allclose(g1.numpy(), g2.numpy(), rtol=1e-5, atol=1e-7)
    assert d(h).shape == (2, 6)
    assert M.DomainClassifier(TINY, "whole")(h).shape == (2,)


def test_diversity_regulariser_eq8():
    a, b = tf.keras.layers.Dense(3), tf.keras.layers.Dense(3)
    a.build((None, 2))
    b.build((None, 2))
    w = np.array([[1.0, 2.0, 0.0], [0.0, 1.0, 3.0]], np.float32)
    a.kernel.assign(w)
    b.kernel.assign(-2.5 * w)  # parallel (opposite sign): |cos| = 1
    assert float(M.diversity(a, b)) == pytest.approx(1.0, abs=1e-6)
    v = np.array([[0.0, 0.0, 1.0], [3.0, 0.0, 0.0]], np.float32)  # flattened orthogonal to w
    assert float(np.sum(w * v)) == 0.0
    b.kernel.assign(v)
    assert float(M.diversity(a, b)) == pytest.approx(0.0, abs=1e-7)
    r = np.random.default_rng(0).standard_normal((2, 3)).astype(np.float32)
    b.kernel.assign(r)
    want = abs(np.sum(w * r)) / (np.linalg.norm(w) * np.linalg.norm(r))
    assert float(M.diversity(a, b)) == pytest.approx(want, rel=1e-5)
    with tf.GradientTape() as tape:  # the term pushes the two kernels apart
        d = M.diversity(a, b)
    assert all(g is not None for g in tape.gradient(d, [a.kernel, b.kernel]))


def test_masked_loss_sees_only_labelled_samples():
    prob = tf.constant([[0.9, 0.2], [0.1, 0.7], [0.5, 0.5]])
    target = tf.constant([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    mask = tf.constant([[1.0, 1.0], [0.0, 0.0], [1.0, 0.0]])
    bce = -(target * np.log(prob) + (1 - target) * np.log(1 - prob)).numpy()
    want = (bce * mask.numpy()).sum() / mask.numpy().sum()
    assert float(T.masked_loss(prob, target, mask)) == pytest.approx(want, rel=1e-6)
    # changing an unlabelled sample's target changes nothing
    target2 = tf.tensor_scatter_nd_update(target, [[1, 0]], [0.0])
    assert float(T.masked_loss(prob, target2, mask)) == pytest.approx(want, rel=1e-6)
    # no labelled element -> 0, not NaN
    assert float(T.masked_loss(prob, target, tf.zeros_like(mask))) == 0.0


def test_loss_terms_follow_the_masks():
    """A batch of unlabeled clips only: the label losses are 0, the domain loss is not."""
    frames, mels = 16, 8
    task = T.SEDTask.__new__(T.SEDTask)
    from tfaudio.systems.sed.config import SEDConfig

    task.cfg = SEDConfig(model=TINY)
    task.heads, task.adversarial, task.use_diversity = ("1", "2", "t"), "time", True
    task.parts = M.build_parts(TINY, frames, mels, task.heads, "time")
    T_out = M.output_frames(frames, TINY)
    batch = {"features": tf.random.stateless_normal([2, frames, mels], [1, 2]),
             "frame_target": tf.ones([2, T_out, 3]), "frame_mask": tf.zeros([2, T_out, 3]),
             "clip_target": tf.ones([2, 3]), "clip_mask": tf.zeros([2, 3]), "domain": tf.ones([2])}
    out = task.losses(batch, training=False)
    for k in ("F1_frame", "F1_clip", "F2_frame", "F2_clip", "Ft_frame", "Ft_clip"):
        assert float(out[k]) == 0.0, k
    assert float(out["domain"]) > 0 and 0 <= float(out["diversity"]) <= 1
    assert float(out["loss"]) == pytest.approx(float(out["domain"]) + float(out["diversity"]), rel=1e-6)


def test_pseudo_label_rule():
    p1 = np.array([0.9, 0.8, 0.2, 0.1, 0.6, 0.55])
    p2 = np.array([0.7, 0.3, 0.4, 0.6, 0.9, 0.45])
    labels, mask = pseudo_labels(p1, p2, threshold=0.5)
    np.testing.assert_array_equal(mask, [1, 0, 1, 0, 1, 0])  # agree on the side of 0.5
    np.testing.assert_array_equal(labels, [1, 0, 0, 0, 1, 0])  # positive where both say so
    labels, mask = pseudo_labels(p1, p2, threshold=0.5, margin=0.15)
    np.testing.assert_array_equal(mask, [1, 0, 0, 0, 0, 0])  # both confident by 0.15 as well


def test_weak_clips_keep_their_labels_and_exclude_absent_classes():
    from tfaudio.systems.sed.config import SEDConfig
    from tfaudio.systems.sed.data import Part

    n, t, k = 1, 4, 3
    part = Part("W", ["w.wav"], {"clip_target": np.array([[1.0, 0.0, 0.0]], np.float32),
                                 "clip_mask": np.ones((1, 3), np.float32),
                                 "frame_target": np.zeros((n, t, k), np.float32),
                                 "frame_mask": np.zeros((n, t, k), np.float32)})
    p1 = {"frame": np.full((n, t, k), 0.9), "clip": np.full((n, k), 0.9)}
    p2 = {"frame": np.array([[[0.8, 0.9, 0.2]] * t]), "clip": np.full((n, k), 0.9)}
    out = T.pseudo_label_part(part, p1, p2, SEDConfig(), weak=True)
    np.testing.assert_array_equal(out.arrays["clip_target"], part.arrays["clip_target"])
    np.testing.assert_array_equal(out.arrays["frame_target"][0, 0], [1, 0, 0])  # class 1 absent from the weak label
    np.testing.assert_array_equal(out.arrays["frame_mask"][0, 0], [1, 1, 1])  # class 2: absent -> labelled 0


def test_frame_targets_use_frame_centres():
    t = frame_targets([(0.3, 0.9, "b")], ["a", "b"], n_frames=5, hop=0.25)
    np.testing.assert_array_equal(t[:, 1], [0, 1, 1, 1, 0])  # centres .125 .375 .625 .875 1.125
    assert t[:, 0].sum() == 0


def test_run_names():
    assert T.run_names("tri-training", "time") == ["tri-adv-time"]
    assert T.run_names("adversarial", None) == ["adv-time"]
    assert T.run_names("baseline", None) == ["baseline"]
    assert len(T.run_names("all", None)) == 6
    with pytest.raises(T.ConfigError, match="--adversarial"):
        T.run_names("adversarial", "none")
