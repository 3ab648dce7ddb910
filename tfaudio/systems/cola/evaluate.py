"""COLA evaluation: Table 1 (one task) and Tables 3-4 (ablations over run directories).

Test accuracy is top-1 on whole clips: each test clip is cut into non-overlapping
960 ms segments, their logits are averaged. Every table states n (test clips) and
carries the baseline row: logistic regression on per-clip log-mel statistics
(:class:`tfaudio.evaluation.baselines.MelStatsLogReg`), fit on the same training
clips, tested on the same test clips.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np
import pandas as pd

from tfaudio.config import merge
from tfaudio.data.pipeline import graph_fn
from tfaudio.evaluation.baselines import MelStatsLogReg
from tfaudio.evaluation.metrics import accuracy
from tfaudio.evaluation.tables import write_table
from tfaudio.systems.cola import data as D
from tfaudio.systems.cola import run as R
from tfaudio.systems.cola.config import PRETRAIN
from tfaudio.training import core

log = logging.getLogger(__name__)

ROWS = {"linear-random": "Random init. (linear probe on a frozen random encoder)",
        "finetune-random": "Supervised (trained from scratch)",
        "linear-pretrained": "COLA frozen (linear probe)",
        "finetune-pretrained": "COLA fine-tuned"}
#: Table 1 of the paper, average over its nine tasks (%).
PAPER_AVERAGE = {"linear-random": 29.1, "finetune-random": 83.9, "linear-pretrained": 74.3,
                 "finetune-pretrained": 85.1}


def test_accuracy(stage_dir, segs: D.Segmented) -> float:
    frontend, encoder, head, cfg, _ = R.load_classifier(stage_dir)
    fn = graph_fn(head, lambda x: head(encoder(x[..., None], training=False)), name="clip_logits")
    return accuracy(R.clip_logits(fn, segs), segs.labels)


def _stage_dirs(run_dir: Path, task: str, run: str) -> List[Path]:
    mode, init = run.split("-")
    d = R.downstream_dir(run_dir, task, mode, init)
    return sorted(p for p in d.glob("cv*") if core.stage_complete(p)) or [d]


def table1(run_dir, task: Optional[str] = None, out_dir=None, progress: bool = True, say=print,
           skip_bad: bool = False) -> Dict[str, Path]:
    run_dir = Path(run_dir)
    name = D.task_name(task)
    trained = R.trained_downstream(run_dir, name)
    if not trained:
        raise core.RunDirError(f"{run_dir}: no downstream run on task {name!r} (train one with "
                               f"tfaudio-train cola --stage linear{' --task ' + task if task else ''})")
    first = _stage_dirs(run_dir, name, trained[0])
    folds = [p.name for p in first] if first[0].name.startswith("cv") else [None]
    rows: Dict[str, List[float]] = {k: [] for k in ["baseline"] + list(ROWS)}
    n_test, n_train, classes = 0, 0, 0
    for fold in folds:
        raw = R.load_stage_config(R.downstream_dir(run_dir, name, *trained[0].split("-"), fold))
        cfg = merge(R.config_of(raw), {"downstream": {"task": task}})
        data = D.DownstreamData(cfg, fold, progress, skip_bad)
        test, train = data.segmented("test"), data.segmented("train")
        n_test += test.num_clips
        n_train += train.num_clips
        classes = len(data.classes)
        base = MelStatsLogReg(seed=cfg.downstream.seed).fit(train.stats_frames, train.labels)
        rows["baseline"].append(accuracy(base.predict(test.stats_frames), test.labels))
        for run in ROWS:
            stage = R.downstream_dir(run_dir, name, *run.split("-"), fold)
            if core.stage_complete(stage):
                rows[run].append(test_accuracy(stage, test))
    labels = {"baseline": MelStatsLogReg.name, **ROWS}
    table = pd.DataFrame(
        [{"Method": labels[k], "Test accuracy (%)": 100 * float(np.mean(v)) if v else float("nan"),
          "n test clips": n_test if v else 0, "folds": len(v),
          "Paper avg. of 9 tasks (%)": PAPER_AVERAGE.get(k, float("nan"))} for k, v in rows.items()]
    ).set_index("Method")
    missing = [r for r in ROWS if not rows[r]]
    note = (f"Task {name}: {classes} classes, n = {n_test} test clips ({n_train} training clips"
            f"{', summed over ' + str(len(folds)) + ' folds' if folds[0] else ''}). Accuracy on whole clips "
            f"(logits averaged over non-overlapping 960 ms segments). Baseline row: logistic regression on per-clip "
            f"log-mel mean and std, same training and test clips. Random init. rows: the encoder's "
            f"random weights; for the linear probe its batch-norm statistics are estimated on the task's training "
            f"segments first (untrained statistics collapse the activations).")
    commands = {r: train_command(r, task, run_dir) for r in missing}
    if missing:
        note += " Not trained yet: " + ", ".join(f"{r} ({commands[r]})" for r in missing) + "."
    out = Path(out_dir or run_dir / "eval")
    written = write_table(table, out, f"table1_{name}", note=note, decimals=2)
    say(table.drop(index=[ROWS[r] for r in missing]).to_string(na_rep="-"))
    for r in missing:
        say(f"{ROWS[r]}: not trained yet; train it with: {commands[r]}")
    return written


def train_command(run: str, task: Optional[str], run_dir) -> str:
    """The command that trains downstream ``run`` (e.g. ``linear-random``) on ``task``."""
    mode, init = run.split("-")
    return (f"tfaudio-train cola --stage {mode} --init {init}" + (f" --task {task}" if task else "")
            + (f" --run-dir {run_dir}" if str(run_dir) != "runs/cola" else ""))


def ablation_table(table: int, runs: Sequence, task: Optional[str] = None, out_dir=None, progress: bool = True,
                   say=print, skip_bad: bool = False) -> Dict[str, Path]:
    """Table 3 (similarity) / 4 (pretraining batch size): the linear probe of each run directory."""
    if not runs:
        raise core.RunDirError(f"--table {table} compares run directories: pass them with --compare")
    name = D.task_name(task)
    records = []
    for run_dir in map(Path, runs):
        pre = R.load_stage_config(run_dir / PRETRAIN)
        stages = _stage_dirs(run_dir, name, "linear-pretrained")
        if not all(core.stage_complete(s) for s in stages):
            raise core.RunDirError(f"{run_dir}: no linear probe on task {name!r} (tfaudio-train cola --stage linear)")
        accs, n = [], 0
        for stage in stages:
            raw = R.load_stage_config(stage)
            cfg = merge(R.config_of(raw), {"downstream": {"task": task}})
            fold = stage.name if stage.name.startswith("cv") else None
            test = D.DownstreamData(cfg, fold, progress, skip_bad).segmented("test")
            accs.append(test_accuracy(stage, test))
            n += test.num_clips
        records.append({"Run": str(run_dir), "Similarity": pre["model"]["similarity"],
                        "Batch size": int(pre["train"]["batch_size"]),
                        "Linear probe accuracy (%)": 100 * float(np.mean(accs)), "n test clips": n})
    df = pd.DataFrame(records).set_index("Run")
    key = "Similarity" if table == 3 else "Batch size"
    df = df.sort_values(key)
    note = (f"Task {name}; linear probe on each run's pretrained encoder; n test clips as listed. Table 1 "
            f"(tfaudio-eval cola --table 1) holds the baseline rows of this task.")
    written = write_table(df, Path(out_dir or Path(runs[0]) / "eval"), f"table{table}_{name}", note=note, decimals=2)
    say(df.to_string())
    return written


def evaluate_run(run_dir, task: Optional[str] = None, table: int = 1, compare=None, out_dir=None,
                 progress: bool = True, say=print, skip_bad: bool = False) -> Dict[str, Path]:
    """``skip_bad``: a bad clip is a listed skip (its table's n counts only the clips
    read) instead of an error naming it."""
    if table == 1:
        return table1(run_dir, task, out_dir, progress, say, skip_bad)
    return ablation_table(table, compare or [run_dir], task, out_dir, progress, say, skip_bad)
