"""The ablation runs of the paper's Tables 1 (frame constraint) and 2 (forget-gate
bias): one training run per variant, trained on demand when ``tfaudio-eval
qualitynet --table 1|2`` finds it missing (the evaluation itself only scores runs).
A variant equal to the main run reuses it; the others live in
``<run-dir>/ablations/<table>/<variant>/`` and a half-trained one is resumed."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, Mapping, Optional

from tfaudio.systems.qualitynet import data as D
from tfaudio.systems.qualitynet import run as R
from tfaudio.systems.qualitynet import train as T
from tfaudio.systems.qualitynet.config import default_config, with_overrides
from tfaudio.training import core


def _slug(text: str) -> str:
    """Folder name of a variant: "Fgb = -1" -> "fgb_-1", "without constraint" -> "without_constraint"."""
    words = text.lower().replace("=", " ").split()
    return "_".join("".join(c for c in w if c.isalnum() or c in "-.") for w in words)


def ablation_runs(run_dir, variants: Mapping[str, dict], table: str, epochs: Optional[int] = None,
                  progress: bool = True, say=print, data=None) -> Dict[str, Path]:
    """Train (or reuse) one run per variant; returns ``{variant: run dir}``.

    Variants are config overrides of the main run's config (the embedded recipe if
    ``run_dir`` holds no run). A variant equal to the main run's (complete) config
    reuses it; the others live in ``<run_dir>/ablations/<table>/<variant>/`` and a
    half-trained one is resumed.
    """
    run_dir = Path(run_dir)
    main = R.load_run_config(run_dir) if (R.stage_dir(run_dir) / "config.json").exists() else None
    base = main or default_config()
    out = {}
    for name, over in variants.items():
        over = json.loads(json.dumps(over))
        if epochs is not None:
            over.setdefault("train", {})["epochs"] = int(epochs)
        cfg = with_overrides(base, over)
        if main is not None and core.stage_complete(R.stage_dir(run_dir)) and cfg == main:
            say(f"[{table}] {name}: the main run {run_dir} has exactly this config; reusing it")
            out[name] = run_dir
            continue
        sub = run_dir / "ablations" / table / _slug(name)
        if (core.stage_complete(R.stage_dir(sub)) and (R.stage_dir(sub) / "config.json").exists()
                and R.load_run_config(sub) == cfg):
            say(f"[{table}] {name}: already trained in {sub}")
            out[name] = sub
            continue
        if data is None:
            train_set, dev_set, _ = D.load_train_dev(cfg, progress)
            data = (train_set, dev_set)
        say(f"[{table}] training {name} in {sub}")
        T.train(cfg, sub, resume=True, progress=progress, data=data, say=say)
        out[name] = sub
    return out
