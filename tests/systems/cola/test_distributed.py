"""Negatives are gathered across replicas: on two logical CPU devices the loss of a
global batch equals the single-device loss of the same batch (and so do the gradients)."""
import numpy as np

from tests.harness import run_on_two_cpus

SCRIPT = """
    from tfaudio.systems.cola import model as M
    from tfaudio.systems.cola import train as T
    from tfaudio.systems.cola.config import ColaModelConfig
    from tfaudio.training import core

    out = {}
    h = np.random.default_rng(0).standard_normal((8, 12)).astype("float32")  # 4 anchors per replica
    for similarity in ("bilinear", "cosine"):
        cfg = ColaModelConfig(projection_units=6, similarity=similarity)

        def loss_of(head, h_anchor, h_positive):
            with tf.GradientTape() as tape:
                logits, labels = T.gathered_logits(head, head(h_anchor), head(h_positive))
                loss = core.replica_loss(M.contrastive_loss(logits, labels))
            grads = tape.gradient(loss, head.trainable_variables)
            grads = [tf.zeros_like(v) if g is None else g for g, v in zip(grads, head.trainable_variables)]
            return loss, grads, tf.cast(tf.shape(logits)[1], tf.float32)

        single = M.ProjectionHead(cfg)
        single.build((None, 12))
        start = [w.numpy() for w in single.weights]
        loss1, grads1, cols1 = loss_of(single, tf.constant(h[:, :]), tf.constant(h[:, ::-1].copy()))

        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        with strategy.scope():
            head = M.ProjectionHead(cfg)
            head.build((None, 12))
        for w, v in zip(head.weights, start):
            w.assign(v)
        ds = tf.data.Dataset.from_tensor_slices((h, h[:, ::-1].copy())).batch(8)
        batch = next(iter(strategy.experimental_distribute_dataset(ds)))
        res = strategy.run(lambda a, p: loss_of(head, a, p), args=batch)
        loss2 = strategy.reduce("SUM", res[0], axis=None)
        grads2 = [strategy.reduce("SUM", g, axis=None) for g in res[1]]
        cols = strategy.experimental_local_results(res[2])
        out[similarity + "_loss"] = np.array([float(loss1), float(loss2)])
        out[similarity + "_cols"] = np.array([float(cols1)] + [float(c) for c in cols])
        out[similarity + "_grad"] = np.array([float(np.max(np.abs(a.numpy() - b.numpy()))) for a, b in zip(grads1, grads2)])
        out["replicas"] = np.array([strategy.num_replicas_in_sync])
    np.savez(sys.argv[1], **out)
    """


def test_gathered_negatives_give_the_single_device_loss(tmp_path):
    out = run_on_two_cpus(SCRIPT, tmp_path)
    assert int(out["replicas"][0]) == 2
    for sim in ("bilinear", "cosine"):
        single, gathered = out[f"{sim}_loss"]
        assert np.isfinite(single) and single > 0.1
        np.testing.assert_allclose(gathered, single, rtol=1e-5, err_msg=sim)
        # every replica scores its 4 anchors against all 8 positives of the global batch
        np.testing.assert_array_equal(out[f"{sim}_cols"], [8, 8, 8])
        assert out[f"{sim}_grad"].max() < 1e-5, sim
