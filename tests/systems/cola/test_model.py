"""COLA's parts against hand computations: the encoder without the image stem, pair
sampling, the contrastive loss (numpy, bilinear and cosine), whole-clip averaging."""
import numpy as np
import pytest
import tensorflow as tf

from tfaudio.systems.cola import model as M
from tfaudio.systems.cola.config import ColaFrontendConfig, ColaModelConfig

FE = ColaFrontendConfig()


def test_encoder_is_efficientnet_b0_without_the_image_stem():
    import keras

    enc = M.build_encoder(ColaModelConfig(), FE)
    assert M.stem_layers(enc) == []
    assert enc.input.shape[1:] == (96, 64, 1) and enc.output.shape[-1] == 1280
    assert enc.layers[1].name == "stem_conv_pad" and enc.layers[2].name == "stem_conv"
    ref = keras.applications.EfficientNetB0(include_top=False, weights=None, input_shape=(96, 64, 1), pooling="max")
    assert sorted(M.stem_layers(ref)) != []  # what Keras puts in front, and we leave out
    stem_params = sum(int(np.prod(w.shape)) for layer in ref.layers if type(layer).__name__ in M.STEM_LAYERS
                      for w in layer.weights)
    assert enc.count_params() == ref.count_params() - stem_params
    # The first convolution sees the features themselves: a 2x input gives 2x its output.
    x = np.random.default_rng(0).standard_normal((1, 96, 64, 1)).astype(np.float32)
    pad, conv = enc.get_layer("stem_conv_pad"), enc.get_layer("stem_conv")
    np.testing.assert_allclose(conv(pad(2 * x)).numpy(), 2 * conv(pad(x)).numpy(), rtol=1e-4, atol=1e-5)


def test_segment_is_96_frames_of_the_paper_frontend():
    fe = M.make_frontend(FE)
    n = M.segment_samples(FE)
    assert n == 15600 and fe.num_frames(n) == 96 and fe.num_frames(n - 1) == 95
    assert fe.num_features == 64 and fe.fmin == 60.0 and fe.fmax == 7800.0


def test_pairs_are_two_distinct_segments_of_the_same_clip():
    seg = 100
    lengths = np.array([seg, seg + 1, seg + 5, 400, 1000, 50], np.int32)
    wave = np.zeros((len(lengths), lengths.max()), np.float32)
    for i, n in enumerate(lengths):  # clip i holds the values 1000 i + position: a crop says where it came from
        wave[i, :n] = 1000 * i + np.arange(n)
    seen = set()
    for s in range(30):
        seed = tf.constant([7, s], tf.int64)
        first, second = [t.numpy() for t in M.pair_offsets(tf.constant(lengths), seg, seed)]
        a = M.crop(tf.constant(wave), first, seg).numpy()
        p = M.crop(tf.constant(wave), second, seg).numpy()
        for i, n in enumerate(lengths):
            assert 0 <= first[i] <= max(n - seg, 0) and 0 <= second[i] <= max(n - seg, 0)
            valid = min(n, seg)
            assert np.all(a[i, :valid] // 1000 == i) and np.all(p[i, :valid] // 1000 == i)  # same clip
            if n > seg:
                assert first[i] != second[i]  # distinct segments
            else:
                assert first[i] == second[i] == 0 and np.all(a[i, n:] == 0)  # short clip: padded
        seen.add((int(first[4]), int(second[4])))
        again = [t.numpy() for t in M.pair_offsets(tf.constant(lengths), seg, seed)]
        np.testing.assert_array_equal(again[0], first)  # a function of the seed only
    assert len(seen) > 20  # new pairs for new seeds


def _numpy_loss(za, zp, w=None, temperature=None):
    if w is not None:
        s = za @ (zp @ w).T
    else:
        a = za / np.linalg.norm(za, axis=1, keepdims=True)
        p = zp / np.linalg.norm(zp, axis=1, keepdims=True)
        s = a @ p.T / temperature
    out = []
    for i in range(len(za)):
        out.append(-s[i, i] + np.log(np.sum(np.exp(s[i]))))
    return np.array(out)


@pytest.mark.parametrize("similarity", ["bilinear", "cosine"])
def test_loss_equals_the_hand_computed_cross_entropy(similarity):
    cfg = ColaModelConfig(projection_units=6, similarity=similarity)
    head = M.ProjectionHead(cfg)
    head.build((None, 10))
    rng = np.random.default_rng(3)
    h = rng.standard_normal((10, 10)).astype(np.float32)
    z = head(tf.constant(h)).numpy()
    # g by hand: dense -> layer norm (eps 1e-3, gamma 1, beta 0 at init) -> tanh
    d = h @ head.dense.kernel.numpy() + head.dense.bias.numpy()
    d = (d - d.mean(1, keepdims=True)) / np.sqrt(d.var(1, keepdims=True) + head.norm.epsilon)
    np.testing.assert_allclose(z, np.tanh(d), atol=1e-5)
    za, zp = z[:5], z[5:]
    logits = head.logits(tf.constant(za), tf.constant(zp))
    got = M.contrastive_loss(logits, tf.range(5)).numpy()
    if similarity == "bilinear":
        want = _numpy_loss(za.astype(np.float64), zp.astype(np.float64), w=head.bilinear.kernel.numpy())
    else:
        want = _numpy_loss(za.astype(np.float64), zp.astype(np.float64), temperature=0.2)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_similarity_choice_is_checked():
    from tfaudio.config import ConfigError, from_dict
    from tfaudio.systems.cola.config import ColaConfig

    with pytest.raises(ConfigError, match="similarity"):
        from_dict(ColaConfig, {"model": {"similarity": "dot"}})


def test_whole_clip_logits_are_the_mean_over_non_overlapping_segments():
    import keras

    fe = ColaFrontendConfig()
    frontend = M.make_frontend(fe)
    rng = np.random.default_rng(0)
    encoder = keras.Sequential([keras.Input((96, 64, 1)), keras.layers.Flatten(), keras.layers.Dense(5)])
    head = M.make_classifier_head(3, 5)
    seg = M.segment_samples(fe)
    wave = (0.1 * rng.standard_normal((2, 3 * 96 * 160 + 400 + 500))).astype(np.float32)
    clip, per_segment = M.classify_waveform(frontend, encoder, head, tf.constant(wave), fe)
    assert per_segment.shape == (2, 3, 3)
    feats = frontend(tf.constant(wave)).numpy()
    for b in range(2):
        logits = [head(encoder(feats[b : b + 1, k * 96 : (k + 1) * 96, :, None])).numpy()[0] for k in range(3)]
        np.testing.assert_allclose(clip.numpy()[b], np.mean(logits, axis=0), rtol=1e-4, atol=1e-5)
        # segment k of the whole clip = features of the waveform cut at sample 160 * 96 k
        cut = wave[b : b + 1, 160 * 96 : 160 * 96 + seg]
        np.testing.assert_allclose(frontend(tf.constant(cut)).numpy()[0], feats[b, 96:192], atol=1e-4)
    short = tf.constant(wave[:, :4000])  # shorter than a segment: zero padded to one
    assert M.classify_waveform(frontend, encoder, head, short, fe)[1].shape == (2, 1, 3)
    np.testing.assert_allclose(M.average_by_clip(np.array([[1.0], [3.0], [5.0]]), np.array([0, 0, 1]), 2),
                               [[2.0], [5.0]])
