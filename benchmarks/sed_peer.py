"""tfaudio's SED training step against the DCASE task 4 baseline CRNN in PyTorch.

The peer is written here in PyTorch from the DCASE 2019/2020 task 4 baseline's
description, at the shapes of the recipe (``sed/dcase2019`` by default: 640 frames x
128 mel bands, 10 classes): per-band normalisation, CNN blocks of 3x3 conv (2F
channels) + batch norm + GLU + (time, freq) max pooling + dropout, filters 16, 32, 64,
128, 128, 128, 128, pools (2,2), (2,2), then (1,2) five times; two bidirectional GRU
layers of 128; a head of one ReLU dense layer, a sigmoid frame output and attention
pooling over time for the clip output. tfaudio's side is the real baseline
``train_step`` of :class:`tfaudio.systems.sed.train.SEDTask` (F + Ft). Both train one
step the same way: forward, masked BCE on the frame outputs of the frame-labelled
half of the batch plus BCE on every clip output, backward, Adam (lr, betas and
epsilon of the recipe / Keras). Same batch, input shape, device and thread count;
the two models must have the same number of parameters (checked, printed; exit 1
if not). The timed blocks of the two alternate, so load from other work on the
machine hits both alike.

    python benchmarks/sed_peer.py [--recipe sed/dcase2019] [--batch 64] [--steps 3] [--repeats 2]
                                  [--threads N] [--device auto|cpu|gpu] [--quick]

PyTorch is a benchmark-only dependency (``pip install -e ".[bench]"``); without it
this prints one line and exits 2. Last line: one JSON object (clips/s of both, the
ratio tfaudio / PyTorch, parameter counts, device, threads).
"""
import argparse
import importlib.util
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def torch_crnn(m, mels: int):
    """The peer CRNN for a :class:`tfaudio.systems.sed.config.SEDModelConfig` ``m``."""
    import torch
    from torch import nn

    class Block(nn.Module):
        def __init__(self, cin: int, filters: int, pool, dropout: float):
            super().__init__()
            self.conv = nn.Conv2d(cin, 2 * filters, 3, padding=1)
            # Keras' BatchNormalization defaults: moving average 0.99, epsilon 1e-3
            self.bn = nn.BatchNorm2d(2 * filters, eps=1e-3, momentum=0.01)
            self.pool = nn.MaxPool2d(tuple(pool))
            self.drop = nn.Dropout(dropout)

        def forward(self, x):
            a, b = self.bn(self.conv(x)).chunk(2, dim=1)  # GLU: linear half gated by the sigmoid half
            return self.drop(self.pool(a * torch.sigmoid(b)))

    class CRNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("band_mean", torch.zeros(mels))
            self.register_buffer("band_std", torch.ones(mels))
            chans = (1,) + tuple(m.filters[:-1])
            self.blocks = nn.ModuleList(Block(c, f, p, m.dropout) for c, f, p in zip(chans, m.filters, m.pools))
            freq = mels
            for p in m.pools:
                freq //= p[1]
            self.gru = nn.GRU(freq * m.filters[-1], m.gru_units, num_layers=m.gru_layers, batch_first=True,
                              bidirectional=True)
            self.first = nn.Linear(2 * m.gru_units, m.head_units)
            self.frame = nn.Linear(m.head_units, m.num_classes)
            self.attention = nn.Linear(m.head_units, m.num_classes)

        def forward(self, features):  # [batch, frames, mels]
            x = ((features - self.band_mean) / self.band_std)[:, None]  # [B, 1, T, F]
            for block in self.blocks:
                x = block(x)
            b, c, t, f = x.shape
            h, _ = self.gru(x.permute(0, 2, 3, 1).reshape(b, t, f * c))  # (freq, channel) order, as tfaudio
            z = torch.relu(self.first(h))
            frame = torch.sigmoid(self.frame(z))
            clip = (frame * torch.softmax(self.attention(z), dim=1)).sum(dim=1)
            return frame, clip

    return CRNN()


def torch_step(model, optimizer, eps: float = 1e-7):
    """One training step of the peer, as tfaudio's baseline step trains F + Ft."""
    import torch

    def bce(p, y):
        p = p.clamp(eps, 1 - eps)
        return -(y * torch.log(p) + (1 - y) * torch.log(1 - p))

    def masked(p, y, w):
        return (bce(p, y) * w).sum() / w.sum().clamp(min=1.0)

    def step(batch):
        frame, clip = model(batch["features"])
        loss = (masked(frame, batch["frame_target"], batch["frame_mask"])
                + masked(clip, batch["clip_target"], batch["clip_mask"]))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss

    return step


def counts_tf(task):
    """(trainable, non-trainable) parameter counts of tfaudio's F + Ft."""
    parts = [task.parts["F"], task.parts["Ft"]]
    trainable = sum(int(v.shape.num_elements()) for p in parts for v in p.trainable_weights)
    frozen = sum(int(v.shape.num_elements()) for p in parts for v in p.non_trainable_weights)
    return trainable, frozen


def counts_torch(model):
    """(trainable, non-trainable) counts of the peer: parameters, and the float buffers
    (batch-norm running statistics, band statistics; not the step counters)."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    frozen = sum(b.numel() for b in model.buffers() if b.is_floating_point())
    return trainable, frozen


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--recipe", default="sed/dcase2019", help="recipe giving the model and feature shapes")
    ap.add_argument("--batch", type=int, help="clips per step (default: the recipe's train.batch_size)")
    ap.add_argument("--steps", type=int, default=3, help="steps per timed block")
    ap.add_argument("--repeats", type=int, default=2, help="timed blocks per side (the best counts)")
    ap.add_argument("--threads", type=int, default=0, help="intra- and inter-op threads of both (0: the cores "
                    "this process may use)")
    ap.add_argument("--device", choices=("auto", "cpu", "gpu"), default="auto",
                    help="auto: a GPU when both TensorFlow and PyTorch (CUDA) see one, else the CPU")
    ap.add_argument("--quick", action="store_true", help="one timed step per side")
    a = ap.parse_args()
    if importlib.util.find_spec("torch") is None:
        print("sed_peer: PyTorch is not installed; it is a benchmark-only dependency: "
              "pip install -e \".[bench]\"", file=sys.stderr)
        raise SystemExit(2)
    if a.quick:
        a.steps, a.repeats = 1, 1
    threads = a.threads or (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count())

    import torch
    import tensorflow as tf

    torch_cuda = torch.cuda.is_available()
    tf_gpu = bool(tf.config.list_physical_devices("GPU"))
    if a.device == "gpu" and not (torch_cuda and tf_gpu):
        print(f"sed_peer: --device gpu needs a GPU for both (TensorFlow: {'yes' if tf_gpu else 'no'}, "
              f"PyTorch CUDA: {'yes' if torch_cuda else 'no'})", file=sys.stderr)
        raise SystemExit(2)
    on_gpu = a.device != "cpu" and torch_cuda and tf_gpu
    if not on_gpu and tf_gpu:
        tf.config.set_visible_devices([], "GPU")  # both on the CPU
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    torch.set_num_threads(threads)
    torch.set_num_interop_threads(threads)
    tdev = torch.device("cuda" if on_gpu else "cpu")
    if on_gpu:
        torch.backends.cudnn.benchmark = True  # TensorFlow autotunes its cuDNN convolutions too

    from _sed_steps import feature_shape, random_batch, task_step
    from _timing import cpu_name, tf_device
    from tfaudio.config import from_dict, load_recipe
    from tfaudio.systems.sed.config import SEDConfig

    cfg = from_dict(SEDConfig, load_recipe(a.recipe), where=a.recipe)
    batch = a.batch or cfg.train.batch_size
    frames, mels, out_frames, classes = feature_shape(cfg)

    tf_step, tf_batch, task = task_step(cfg, ("t",), "none", False, batch)
    torch.manual_seed(0)
    model = torch_crnn(cfg.model, mels).to(tdev).train()
    t = cfg.train
    optimizer = torch.optim.Adam(model.parameters(), lr=t.learning_rate, betas=(t.beta_1, t.beta_2),
                                 eps=1e-7)  # Keras' Adam epsilon
    pt_step = torch_step(model, optimizer)
    pt_batch = {k: torch.from_numpy(v).to(tdev) for k, v in random_batch(cfg, batch).items()}

    tf_counts, pt_counts = counts_tf(task), counts_torch(model)
    print(f"parameters: tfaudio {tf_counts[0]:,} trainable + {tf_counts[1]:,} statistics; "
          f"PyTorch {pt_counts[0]:,} + {pt_counts[1]:,}")
    if tf_counts != pt_counts:
        print(f"sed_peer: the two models differ in size (tfaudio {tf_counts}, PyTorch {pt_counts}): "
              f"not the same architecture, nothing timed", file=sys.stderr)
        raise SystemExit(1)
    with torch.no_grad():
        frame, clip = model(pt_batch["features"])
    tf_out = task.detector(tf_batch["features"][:2], training=False)
    shapes = (tuple(frame.shape[1:]), tuple(clip.shape[1:]))
    if shapes != (tuple(tf_out["frame"].shape[1:]), tuple(tf_out["clip"].shape[1:])) or shapes[0] != (out_frames, classes):
        print(f"sed_peer: output shapes differ (PyTorch {shapes}, tfaudio "
              f"{tuple(tf_out['frame'].shape[1:])}, {tuple(tf_out['clip'].shape[1:])})", file=sys.stderr)
        raise SystemExit(1)

    def run_tf():
        tf_step(tf_batch)["loss"].numpy()

    def run_pt():
        pt_step(pt_batch).item()  # .item() waits for the device

    run_tf(), run_pt()  # trace / warm up
    best = {"tfaudio": float("inf"), "pytorch": float("inf")}
    for _ in range(a.repeats):  # alternate the two, so other load on the machine hits both alike
        for name, fn in (("tfaudio", run_tf), ("pytorch", run_pt)):
            t0 = time.perf_counter()
            for _ in range(a.steps):
                fn()
            best[name] = min(best[name], (time.perf_counter() - t0) / a.steps)
    rate = {k: batch / v for k, v in best.items()}
    ratio = rate["tfaudio"] / rate["pytorch"]
    device = tf_device() if on_gpu else {"device": "CPU", "device_name": cpu_name()}
    if on_gpu:
        device["device_name"] += f" (PyTorch: {torch.cuda.get_device_name(0)})"
    print(f"{a.recipe}: batch {batch} x {frames} frames x {mels} mel, {classes} classes; "
          f"{device['device']} ({device['device_name']}), {threads} threads; best of {a.repeats} x {a.steps} steps")
    print(f"{'tfaudio SEDTask.train_step (F + Ft)':40s} {rate['tfaudio']:8.2f} clips/s "
          f"({best['tfaudio'] * 1000:.0f} ms/step)")
    print(f"{'PyTorch CRNN (same architecture)':40s} {rate['pytorch']:8.2f} clips/s "
          f"({best['pytorch'] * 1000:.0f} ms/step)")
    print(f"tfaudio / PyTorch = {ratio:.2f}  (goal >= 1.0)")
    print(json.dumps({
        "recipe": a.recipe, "batch_size": batch, "frames": frames, "mels": mels, "classes": classes,
        "device": device["device"], "device_name": device["device_name"], "threads": threads,
        "tfaudio_clips_per_s": round(rate["tfaudio"], 2), "pytorch_clips_per_s": round(rate["pytorch"], 2),
        "tfaudio_over_pytorch": round(ratio, 3), "tfaudio_ms_per_step": round(best["tfaudio"] * 1000, 1),
        "pytorch_ms_per_step": round(best["pytorch"] * 1000, 1), "params_tfaudio": tf_counts[0],
        "params_pytorch": pt_counts[0], "statistics_tfaudio": tf_counts[1], "statistics_pytorch": pt_counts[1],
        "tensorflow": tf.__version__, "torch": torch.__version__, "steps": a.steps, "repeats": a.repeats}))


if __name__ == "__main__":
    main()
