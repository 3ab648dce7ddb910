"""The DFE training step of every stage, built once for the DFE benchmarks.

``stage_step(stage, batch, frames, mels)`` returns what ``dfe_step.py`` times and
``dfe_memory.py`` measures: the stage's compiled train step (Adam, softmax cross
entropy through the frozen CNN-FC for the enhancer stages, as
``tfaudio.systems.dfe.train.EnhancerTask`` trains them), a fixed random batch, the
model and the trained variables.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def stage_step(stage: str, batch: int, frames: int, mels: int, num_classes: int = 10):
    """``(step, x, y, model, variables)``; ``step(x, y)`` runs one training step."""
    import keras
    import numpy as np
    import tensorflow as tf

    from tfaudio.systems.dfe import model as M
    from tfaudio.systems.dfe.run import mask_nets_for, unique_nets

    cfg = M.DFEModelConfig(num_classes=num_classes)
    clf = M.build(M.CNNFC(cfg), frames, mels)
    if stage == "classifier":
        model, variables = clf, clf.trainable_variables

        def logits_of(x):
            return model(x, training=True)
    else:
        clf.trainable = False
        nets = mask_nets_for(stage, cfg)
        model = M.build(M.MaskedClassifier(clf, nets), frames, mels)
        trained = list(unique_nets(nets).values())
        if stage == "cascade":  # the first (static) enhancer is frozen in the cascade
            nets[0].trainable = False
            trained = [nets[1]]
        variables = [v for n in trained for v in n.trainable_variables]

        def logits_of(x):
            return model(x, training=True)["logits"]

    opt = keras.optimizers.Adam(1e-3)
    opt.build(variables)
    rng = np.random.default_rng(0)
    x = tf.constant(rng.uniform(size=(batch, frames, mels)).astype(np.float32))
    y = tf.constant(rng.integers(0, num_classes, size=batch).astype(np.int32))

    @tf.function
    def step(x, y):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(y, logits_of(x)))
        opt.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    return step, x, y, model, variables
