"""Forward + backward time of DFE's dynamic convolution in each formulation.

The five dynamic convs of the DFE mask net at the paper's shapes: features laid out
as the model does (``[B, 40 mel, 249 frames, C]``), 3x3 kernels per example with the
channels 1 -> 24 -> 96 -> 96 -> 96 -> 1 and dilations 1, 2, 4, 8, 1. Each layer is timed
on its own (``training=True``, gradient with respect to the input and the per-example
kernels, as a DFE training step takes it) in every formulation of
:class:`tfaudio.layers.dynamic.DynamicConv2D`, on the device TensorFlow finds; the
step time is the sum over the five layers and is compared with "map" in the same run.

    python benchmarks/dynamic_conv.py [--batches 16 64] [--steps 2] [--repeats 2] [--quick]

Last line: one JSON object (ms per step and ratio to "map" per batch and formulation,
the device, and what "auto" picks on it).
"""
import argparse
import gc
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from _timing import best_seconds_per_step, tf_device  # noqa: E402
from tfaudio.layers.dynamic import FORMULATIONS, DynamicConv2D, resolve_formulation  # noqa: E402
from tfaudio.systems.dfe.config import DFEModelConfig  # noqa: E402

tf.get_logger().setLevel("ERROR")  # one tf.function per layer and formulation is intended


def dfe_layers(cfg: DFEModelConfig = DFEModelConfig()):
    """``[(C_in, C_out, dilation)]`` of the DFE mask net's dynamic convs."""
    ins = (1,) + tuple(cfg.mask_filters[:-1])
    return list(zip(ins, cfg.mask_filters, cfg.mask_dilations))


def layer_seconds(formulation: str, batch: int, mels: int, frames: int, cin: int, cout: int, dilation: int,
                  steps: int, repeats: int, k: int = 3) -> float:
    rng = np.random.default_rng(cin * 1000 + cout)
    x = tf.constant(rng.uniform(size=(batch, mels, frames, cin)).astype(np.float32))
    kernels = tf.constant((rng.standard_normal((batch, k, k, cin, cout)) / np.sqrt(k * k * cin)).astype(np.float32))
    w = tf.constant(rng.standard_normal((batch, mels, frames, cout)).astype(np.float32))
    layer = DynamicConv2D(dilation, formulation=formulation)

    @tf.function
    def step(x, kernels):
        with tf.GradientTape() as tape:
            tape.watch([x, kernels])
            loss = tf.reduce_sum(layer(x, kernels, training=True) * w)
        dx, dk = tape.gradient(loss, [x, kernels])
        return {"loss": loss + 0.0 * (tf.reduce_sum(dx) + tf.reduce_sum(dk))}  # waits for both gradients

    return best_seconds_per_step(step, (x, kernels), steps, repeats)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batches", type=int, nargs="+", default=[16, 64])
    ap.add_argument("--frames", type=int, default=249)
    ap.add_argument("--mels", type=int, default=40)
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--formulations", nargs="+", choices=FORMULATIONS, default=list(FORMULATIONS))
    ap.add_argument("--quick", action="store_true", help="batch 2, 40 x 32 features, one step (a smoke test)")
    a = ap.parse_args()
    if a.quick:
        a.batches, a.frames, a.steps, a.repeats = [2], 32, 1, 1
    if "map" not in a.formulations:
        a.formulations = ["map"] + a.formulations  # the reference
    device = tf_device()
    layers = dfe_layers()
    ms, layer_ms = {}, {}
    for batch in a.batches:
        ms[str(batch)], layer_ms[str(batch)] = {}, {}
        for f in a.formulations:
            per_layer = []
            for cin, cout, d in layers:
                per_layer.append(1000 * layer_seconds(f, batch, a.mels, a.frames, cin, cout, d, a.steps, a.repeats))
                gc.collect()
            layer_ms[str(batch)][f] = [round(t, 1) for t in per_layer]
            ms[str(batch)][f] = round(sum(per_layer), 1)
            print(f"batch {batch:3d} {f:8s} {sum(per_layer):9.1f} ms/step  (layers: "
                  + ", ".join(f"{t:.1f}" for t in per_layer) + ")", flush=True)
    vs_map = {b: {f: round(t / r["map"], 3) for f, t in r.items()} for b, r in ms.items()}
    winner = {b: min(r, key=r.get) for b, r in ms.items()}
    auto = resolve_formulation("auto")
    print(f"{device['device']} ({device['device_name']}); {a.mels} mel x {a.frames} frames; layers "
          + ", ".join(f"{ci}->{co} d{d}" for ci, co, d in layers) + f"; best of {a.repeats} x {a.steps} steps")
    for b in ms:
        print(f"batch {b}: " + ", ".join(f"{f} {vs_map[b][f]:.2f}x" for f in ms[b]) + f" of map; fastest: {winner[b]}")
    print(f"'auto' picks {auto} on {device['device']}")
    print(json.dumps({"device": device["device"], "device_name": device["device_name"], "auto": auto, "mels": a.mels, "frames": a.frames, "batches": a.batches,
                      "layers": [list(layer) for layer in layers], "ms_per_step": ms, "vs_map": vs_map,
                      "winner": winner, "layer_ms": layer_ms, "steps": a.steps, "repeats": a.repeats}))


if __name__ == "__main__":
    main()
