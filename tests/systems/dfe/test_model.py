"""DFE networks have the paper's layer sizes and wire masks as described."""
import tempfile
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from tfaudio.systems.dfe import model as M

PAPER = M.DFEModelConfig()
FRAMES, MELS = 249, 40  # 4 s at 16 kHz, 512/256 framing, 40 mel bands


def conv_filters(model):
    return [l.filters for l in model._flatten_layers() if hasattr(l, "filters") and hasattr(l, "dilation_rate")]


def test_classifier_has_paper_convs_pools_and_one_fc():
    clf = M.build(M.CNNFC(PAPER), FRAMES, MELS)
    convs = [l for block in clf.blocks for l in block if l.__class__.__name__ == "Conv2D"]
    pools = [l for block in clf.blocks for l in block if l.__class__.__name__ == "MaxPooling2D"]
    assert [c.filters for c in convs] == [12, 36, 72, 96, 96]
    assert all(c.kernel_size == (3, 3) for c in convs)
    assert [(p.pool_size, p.strides) for p in pools] == [((3, 3), (2, 2)), ((3, 4), (2, 3)), ((3, 4), (2, 3))]
    logits = clf(tf.random.uniform([2, FRAMES, MELS]))
    assert logits.shape == (2, 10)


def test_generator_heads_emit_the_dynamic_layers_parameters():
    gen = M.FilterGenerator(PAPER)
    kernels, affines = gen(tf.random.uniform([2, MELS, FRAMES, 1]))
    assert [c.filters for c in gen.convs] == [12, 72, 256]
    assert [c.dilation_rate for c in gen.convs] == [(6, 6), (4, 4), (1, 1)]
    assert [tuple(k.shape) for k in kernels] == [
        (2, 3, 3, 1, 24), (2, 3, 3, 24, 96), (2, 3, 3, 96, 96), (2, 3, 3, 96, 96), (2, 3, 3, 96, 1)]
    assert [fc.units for fc in gen.kernel_fcs] == [216, 20736, 82944, 82944, 864]
    assert [fc.units for fc in gen.affine_fcs] == [48, 192, 192, 192, 2]
    assert [tuple(s.shape) for s, _ in affines] == [(2, 24), (2, 96), (2, 96), (2, 96), (2, 1)]
    assert gen.kernel_fcs[2].kernel.shape == (256, 82944)


def test_dynamic_mask_net_structure_and_range():
    net = M.DynamicMaskNet(PAPER)
    image = tf.random.uniform([2, MELS, FRAMES, 1])
    mask = net(image).numpy()
    assert mask.shape == (2, MELS, FRAMES, 1)
    assert np.all((mask > 0) & (mask < 1))
    assert [c.dilation_rate for c in net.dyn_convs] == [(1, 1), (2, 2), (4, 4), (8, 8), (1, 1)]
    # the mask depends on the input through the generated weights
    other = net(tf.random.uniform([2, MELS, FRAMES, 1], seed=3)).numpy()
    assert not np.allclose(mask, other)


def test_static_mask_net_matches_dynamic_layer_structure():
    sfe = M.StaticMaskNet(PAPER)
    mask = sfe(tf.random.uniform([1, MELS, FRAMES, 1]))
    assert mask.shape == (1, MELS, FRAMES, 1)
    assert [c.filters for c in sfe.convs] == [24, 96, 96, 96, 1]
    assert [c.dilation_rate for c in sfe.convs] == [(1, 1), (2, 2), (4, 4), (8, 8), (1, 1)]


def test_masked_classifier_multiplies_masks_in_sequence():
    tiny = M.DFEModelConfig(classifier_filters=(4,) * 5, mask_filters=(4, 4, 4, 4, 1), generator_filters=(4, 4, 8))
    clf = M.build(M.CNNFC(tiny), 30, 8)
    g = M.DynamicMaskNet(tiny)
    model = M.build(M.MaskedClassifier(clf, [g, g]), 30, 8)
    x = tf.random.uniform([2, 30, 8])
    out = model(x)
    m1, m2 = [m.numpy() for m in out["masks"]]
    np.testing.assert_allclose(out["enhanced"].numpy(), x.numpy() * m1 * m2, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out["probs"].numpy().sum(-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(out["logits"].numpy(), clf(out["enhanced"]).numpy(), atol=1e-5)


TINY = M.DFEModelConfig(num_classes=3, classifier_filters=(4,) * 5, mask_filters=(4, 5, 5, 5, 1),
                        generator_filters=(4, 4, 8))


def test_dynamic_conv_choice_is_validated_and_reaches_every_dynamic_layer():
    from tfaudio.config import ConfigError, from_dict
    from tfaudio.layers.dynamic import DYNAMIC_CONV_CHOICES
    from tfaudio.systems.dfe.config import DYNAMIC_CONV_CHOICES as DFE_CHOICES
    from tfaudio.systems.dfe.config import DFEConfig

    assert M.DFEModelConfig().dynamic_conv == "auto"
    assert DFE_CHOICES == DYNAMIC_CONV_CHOICES  # the config's copy of the layer's names
    with pytest.raises(ConfigError, match="model.dynamic_conv must be one of"):
        from_dict(DFEConfig, {"model": {"dynamic_conv": "loop"}})
    for f in DYNAMIC_CONV_CHOICES:
        net = M.DynamicMaskNet(M.DFEModelConfig(dynamic_conv=f))
        assert [c.formulation for c in net.dyn_convs] == [f] * 5


def test_every_formulation_gives_the_same_mask_net_outputs_and_gradients():
    frames, mels = 21, 8
    nets = {f: M.build(M.DynamicMaskNet(M.DFEModelConfig(**{**TINY.__dict__, "dynamic_conv": f})), frames, mels)
            for f in ("map", "grouped", "matmul")}
    weights = nets["map"].get_weights()
    for net in nets.values():
        net.set_weights(weights)
    image = tf.random.stateless_uniform([3, mels, frames, 1], seed=(1, 2))
    results = {}
    for f, net in nets.items():
        with tf.GradientTape() as tape:
            mask = net(image, training=True)
            loss = tf.reduce_sum(mask * tf.range(frames, dtype=tf.float32))
        results[f] = [mask.numpy()] + [g.numpy() for g in tape.gradient(loss, net.trainable_variables)]
    for f in ("grouped", "matmul"):
        for a, b in zip(results[f], results["map"]):  # float32 rounding, relative to each tensor's scale
            assert np.abs(b).max() > 0
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5 * max(1.0, np.abs(b).max()))


@pytest.mark.parametrize("formulation", ["map", "grouped", "matmul"])
def test_the_tflite_export_of_each_formulation_is_builtin_and_matches(formulation):
    """The DFE export's TFLite function (a trained stage's is written the same way)."""
    from tfaudio.export.core import run_tflite, tflite_ops
    from tfaudio.systems.dfe.config import FrontendConfig
    from tfaudio.systems.dfe.data import make_frontend
    from tfaudio.systems.dfe.export import DFEServing

    cfg = M.DFEModelConfig(**{**TINY.__dict__, "dynamic_conv": formulation})
    frontend = make_frontend(FrontendConfig())
    n = 8000
    frames, mels = frontend.num_frames(n), FrontendConfig().num_mel_bins
    model = M.build(M.MaskedClassifier(M.build(M.CNNFC(cfg), frames, mels), [M.DynamicMaskNet(cfg)]), frames, mels)
    serving = DFEServing(frontend, model, ["a", "b", "c"], n)
    serving._fixed(tf.zeros([1, n]))  # builds the front-end
    data = serving.tflite_bytes()
    assert "CUSTOM" not in tflite_ops(data) and "CONV_2D" in tflite_ops(data)
    rng = np.random.default_rng(0)
    path = Path(tempfile.mkdtemp(prefix="tfaudio-test-")) / "model.tflite"
    path.write_bytes(data)
    for _ in range(2):  # two different inputs in a row
        wave = (0.3 * rng.standard_normal((1, n))).astype(np.float32)
        lite = run_tflite(path, {"waveform": wave})
        ref = serving._fixed(tf.constant(wave))
        np.testing.assert_allclose(lite["mask"], ref["mask"].numpy(), atol=1e-5)
        np.testing.assert_allclose(lite["probabilities"], ref["probabilities"].numpy(), atol=1e-5)
