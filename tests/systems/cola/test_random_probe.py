"""The frozen random encoder of Table 1's random-init. linear probe: its batch-norm
statistics come from the task's training segments, so its embeddings are not
collapsed (with the untrained statistics they nearly vanish and barely vary)."""
import numpy as np

from tests.systems.cola.conftest import COLA_TINY


def test_random_encoder_statistics_come_from_the_task():
    from tfaudio.config import merge
    from tfaudio.systems.cola import data as D
    from tfaudio.systems.cola import train as T
    from tfaudio.systems.cola.config import ColaConfig

    cfg = merge(ColaConfig(), {**COLA_TINY, "model": {**COLA_TINY["model"], "width": 1.0, "depth": 1.0}})
    data = D.DownstreamData(cfg, progress=False)
    train, test = data.segmented("train"), data.segmented("test")
    spread = {}
    for name, bn in (("untrained", None), ("estimated", train.features)):
        task = T.DownstreamTask(cfg, "linear", len(data.classes), None, bn)
        task.build()
        h = task.encoder(test.features[..., None], training=False).numpy()
        spread[name] = (float(np.abs(h).mean()), float(h.std(axis=0).mean()))
    assert spread["estimated"][0] > 100 * spread["untrained"][0], spread
    assert spread["estimated"][1] > 100 * spread["untrained"][1], spread
