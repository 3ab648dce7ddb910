"""Best-of-repeats step timing and the device description, shared by the step benchmarks."""
import time


def best_seconds_per_step(step, args: tuple, steps: int, repeats: int) -> float:
    """Seconds per call of ``step(*args)`` (its result has ``["loss"]`` or is the loss):
    one call to trace and warm up, then the fastest of ``repeats`` runs of ``steps`` calls."""

    def call():
        out = step(*args)
        (out["loss"] if isinstance(out, dict) else out).numpy()

    call()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(steps):
            call()
        best = min(best, (time.perf_counter() - t0) / steps)
    return best


def tf_device() -> dict:
    """``{"device": "GPU" | "CPU", "device_name": ...}`` of where TensorFlow runs by default."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        details = tf.config.experimental.get_device_details(gpus[0])
        return {"device": "GPU", "device_name": details.get("device_name", gpus[0].name)}
    return {"device": "CPU", "device_name": cpu_name()}


def cpu_name() -> str:
    """The CPU model and the number of cores this process may use."""
    import os
    import platform

    name = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            name = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{name}, {cores} cores"
