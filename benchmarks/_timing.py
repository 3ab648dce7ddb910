"""Best-of-repeats step timing, shared by the step benchmarks."""
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
