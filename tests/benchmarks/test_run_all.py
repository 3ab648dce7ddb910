"""benchmarks/run_all.py rewrites the README's benchmark rows from each benchmark's JSON."""
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("run_all", ROOT / "benchmarks" / "run_all.py")
run_all = importlib.util.module_from_spec(spec)
spec.loader.exec_module(run_all)

#: Results in the shape each benchmark prints as its last line (values made up).
SAMPLES = {
    "frontend": {"speedup_vs_librosa": 1.77, "speedup_vs_librosa_melspectrogram": 2.53, "max_abs_error": 1.3e-5,
                 "batch_size": 64, "clips": 256},
    "dfe_step": {"dfe_sfe_ratio": 1.12, "dfe_ms_per_step": 1638.0, "sfe_ms_per_step": 1460.0, "batch_size": 16,
                 "frames": 249, "mels": 40},
    "dynamic_conv": {"device": "CPU", "device_name": "AMD EPYC, 2 cores", "auto": "map", "mels": 40, "frames": 249,
                     "batches": [16, 64], "layers": [[1, 24, 1], [24, 96, 2], [96, 96, 4], [96, 96, 8], [96, 1, 1]],
                     "ms_per_step": {"16": {"map": 977.0, "grouped": 1917.8, "matmul": 9424.0},
                                     "64": {"map": 6394.6, "grouped": 11998.4, "matmul": 21602.3}},
                     "vs_map": {"16": {"map": 1.0, "grouped": 1.963, "matmul": 9.646},
                                "64": {"map": 1.0, "grouped": 1.876, "matmul": 3.378}},
                     "winner": {"16": "map", "64": "map"}, "layer_ms": {}, "steps": 2, "repeats": 2},
    "quality_rtf": {"tflite_ms_per_audio_s": 1.57, "tf_ms_per_audio_s": 2.11, "max_abs_score_diff_tf_tflite": 6e-8,
                    "float16_max_abs_score_diff": 1.3e-4, "int8_max_abs_score_diff": 9e-3},
    "quality_stream": {"model": "exported_models/qualitynet/1", "minutes": 60.0,
                       "stream_ms_per_audio_s": 4.1, "stream_peak_rss_mib": 120.0,
                       "whole_file_ms_per_audio_s": 1.6, "whole_file_peak_rss_mib": 200.0,
                       "ratio": 2.56, "frames": 225001},
    "long_audio": {"model": "TFLite", "rows": [
        {"minutes": 1 / 60, "mode": "runtime (1 s file)", "peak_rss_mib": 180.0, "wall_s": 1.0},
        {"minutes": 60, "mode": "blocks", "peak_rss_mib": 225.0, "wall_s": 10.7, "score": 3.1},
        {"minutes": 60, "mode": "whole file", "peak_rss_mib": 5666.0, "wall_s": 53.0, "score": 3.1}], "check": {}},
    "dfe_memory": {"results": [{"stage": s, "batch": b, "peak_mb": 1024.0 * b / 8} for s in ("dfe", "shared")
                               for b in (16, 32, 64)], "steps": 2, "frames": 249, "mels": 40},
    "quality_trace": {"recipe": "qualitynet/timit", "seconds": [2.0], "results": {
        "reduce_retracing": {"traces": 2, "cpu_s_total": 12.3}, "signature_b1": {"traces": 1, "cpu_s_total": 6.0}}},
    "cola_step": {"encoder": "efficientnet w1.0 d1.0", "pretrain_examples_per_s_b16": 43.7,
                  "pretrain_examples_per_s_b32": 50.0, "contrastive_over_supervised": 0.82,
                  "contrastive_ms_per_step": 366.0, "supervised_ms_per_step": 448.0},
    "sed_step": {"recipe": "sed/embedded", "batch_size": 16, "baseline_clips_per_s": 20.0, "tri_adv_clips_per_s": 19.8,
                 "baseline_over_tri_adv": 1.01},
    "sed_peer": {"recipe": "sed/dcase2019", "batch_size": 64, "frames": 640, "mels": 128, "classes": 10,
                 "device": "CPU", "device_name": "AMD EPYC, 2 cores", "threads": 2, "tfaudio_clips_per_s": 6.5,
                 "pytorch_clips_per_s": 2.6, "tfaudio_over_pytorch": 2.5, "tfaudio_ms_per_step": 9846.0,
                 "pytorch_ms_per_step": 24615.0, "params_tfaudio": 1612372, "params_pytorch": 1612372,
                 "statistics_tfaudio": 2752, "statistics_pytorch": 2752, "tensorflow": "2.21.0",
                 "torch": "2.13.0+cpu", "steps": 3, "repeats": 2},
    "scaling": {"train_1_worker_examples_per_s": 410.0, "train_2_workers_examples_per_s": 190.0,
                "train_2_over_1": 0.46, "input_local_examples_per_s": 3106.0, "input_service_examples_per_s": 1423.0,
                "input_service_over_local": 0.46, "input_first_batch_s_local": 0.13, "input_first_batch_s_service": 0.22},
}


def test_every_benchmark_has_a_row_formatter_and_a_sample():
    assert set(run_all.benchmarks()) == set(run_all.ROWS) == set(SAMPLES)
    for name in run_all.benchmarks():  # each benchmark prints what its formatter reads
        source = (ROOT / "benchmarks" / f"{name}.py").read_text()
        keys = [k for k in SAMPLES[name] if not isinstance(SAMPLES[name][k], (list, dict))]
        missing = [k for k in keys if f'"{k}"' not in source and f"{k}=" not in source
                   and not k.startswith("pretrain_examples_per_s_b")
                   and not k.endswith("_max_abs_score_diff")]
        assert not missing, (name, missing)


def test_rows_are_rewritten_in_place_and_a_misfit_keeps_its_row():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    new = run_all.rewrite_table(readme, SAMPLES)
    table = new[new.index(run_all.HEADER):].split("\n\n")[0].splitlines()
    assert len(table) == 2 + len(SAMPLES)  # rewritten in place, none appended twice
    rows = {name: [r for r in table if r.startswith(f"| `benchmarks/{name}.py` |")] for name in SAMPLES}
    assert all(len(r) == 1 for r in rows.values())
    assert "DFE/SFE = **1.12**" in rows["dfe_step"][0] and "<= 1.3: met" in rows["dfe_step"][0]
    assert "cost per clip **1.01x** (19.8 vs 20.0 clips/s)" in rows["sed_step"][0]
    peer = rows["sed_peer"][0]
    assert "tfaudio / PyTorch = **2.50** (6.50 vs 2.60 clips/s" in peer and ">= 1.0: met" in peer
    assert "1,612,372 parameters each" in peer and "batch 64" in peer
    dyn = rows["dynamic_conv"][0]
    assert "batch 16: map 977 ms, grouped 1918 (**1.96x**), matmul 9424 (**9.65x**)" in dyn
    assert "batch 64: map 6395 ms" in dyn and '"auto" picks map' in dyn and "fastest on CPU: met" in dyn
    gpu = dict(SAMPLES["dynamic_conv"], device="GPU", auto="grouped", winner={"16": "matmul", "64": "grouped"})
    gpu_row = run_all.rewrite_table(readme, {"dynamic_conv": gpu})
    assert "fastest on GPU: **not met**" in gpu_row
    assert "contrastive / supervised = **0.82**" in rows["cola_step"][0] and "met" in rows["cola_step"][0]
    assert "60 min: blocks 225 MiB / 10.7 s; whole file 5,666 MiB / 53.0 s" in rows["long_audio"][0]
    assert "shared 8.0" in rows["dfe_memory"][0]
    assert "**1.77x**" in rows["frontend"][0] and "**not reached**" in rows["frontend"][0]
    before = [r for r in readme.splitlines() if r.startswith("| `benchmarks/sed_step.py` |")]
    kept = run_all.rewrite_table(readme, {"sed_step": {"unexpected": 1}})
    assert [r for r in kept.splitlines() if r.startswith("| `benchmarks/sed_step.py` |")] == before


def test_the_dynamic_conv_benchmark_prints_what_its_row_reads():
    """A real (tiny) run: its last line fits the README row formatter."""
    import json
    import os
    import subprocess
    import sys

    env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="2")
    res = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "dynamic_conv.py"), "--quick"],
                         capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    result = json.loads(res.stdout.strip().splitlines()[-1])
    assert set(result["ms_per_step"]["2"]) == {"map", "grouped", "matmul"}
    assert all(t > 0 for t in result["ms_per_step"]["2"].values()) and result["vs_map"]["2"]["map"] == 1.0
    what, value, goal = run_all.ROWS["dynamic_conv"](result)
    assert "batch 2: map" in value and result["auto"] in value


def test_a_benchmark_that_cannot_run_here_is_skipped_with_its_reason(monkeypatch):
    import subprocess

    import pytest

    def fake(status, err):
        return lambda *a, **k: subprocess.CompletedProcess(a, status, "", err)

    monkeypatch.setattr(run_all.subprocess, "run", fake(2, "noise\nsed_peer: PyTorch is not installed\n"))
    with pytest.raises(run_all.Skipped, match="^sed_peer: PyTorch is not installed$"):
        run_all.run("sed_peer")
    monkeypatch.setattr(run_all.subprocess, "run", fake(1, "Traceback ...\n"))
    with pytest.raises(SystemExit, match="failed \\(exit 1\\)"):  # any other failure stops the run
        run_all.run("sed_peer")


def test_torch_stays_out_of_the_package_and_the_tests():
    """PyTorch is a benchmark-only dependency (the setup.py extra "bench")."""
    import ast

    offenders = []
    for folder in ("tfaudio", "tests"):
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                         else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
                offenders += [f"{path.relative_to(ROOT)}: {n}" for n in names if n.split(".")[0] == "torch"]
    assert not offenders, offenders
    setup = (ROOT / "setup.py").read_text()
    assert '"bench": ["torch==2.13.0"]' in setup
    install_requires = setup[setup.index("install_requires"):setup.index("extras_require")]
    assert "torch" not in install_requires
