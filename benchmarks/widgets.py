"""Benchmark: how fast the widgets respond.

1. Slider-to-redrawn latency on the 2-D toys (quadratic, minimalist, scalar network) with 1,000 steps:
   the time from setting ``controls["eta"]`` to the new picture being rendered, split into
   model (``train`` + the batched exact curvature), artists (``set_data`` in every panel) and render
   (blit or full render, plus the PNG encoding of the inline fallback). Target: ≤ 50 ms per update.
   Consecutive η values differ by ±2%, as with a slider moved a little; a full render (axis limits
   changed) is timed separately.
2. For orientation: the same 1,000 steps of ``train`` alone, and with the sharpness measured in the
   loop at every step (what the batched exact curvature replaces), plus a bare one-axes Agg draw
   (the machine's drawing speed).
3. Time to first frame of a network run (2×32 tanh MLP on 500 digits, streamed in a background thread):
   from the control change to the first drawn partial run, and to the finished run.

Usage:  python benchmarks/widgets.py [--quick] [--updates N]
Writes benchmarks/results/widgets.json and prints a table. Absolute times depend on the machine and its
load; the split shows where the time goes.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import matplotlib
import scipy.sparse.linalg  # noqa: F401  (load SciPy's BLAS before limiting threads)
import torch

matplotlib.use("Agg")

import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from eostutor.training import train  # noqa: E402
from eostutor.widgets import PRESETS, StepSizeExplorer  # noqa: E402

TOYS = ("quadratic", "minimalist", "scalar-net")
TARGET_MS = 50.0


def _ms(xs) -> dict:
    xs = sorted(1000.0 * x for x in xs)
    return {"median": statistics.median(xs), "p90": xs[min(len(xs) - 1, int(0.9 * len(xs)))], "n": len(xs)}


def toy_latency(name: str, updates: int, num_steps: int) -> dict:
    ex = StepSizeExplorer(name, interactive=False, num_steps=num_steps)
    eta0 = PRESETS[name].eta
    ex.controls["eta"].value = eta0 * 1.01  # warm-up (first full render)
    totals, parts = [], {"model": [], "artists": [], "render": []}
    blits0, full0 = ex.live.blits, ex.live.full_draws
    for i in range(updates):
        value = eta0 * (1.0 + 0.02 * ((i % 3) - 1))
        if value == ex.controls["eta"].value:
            value *= 1.001
        start = time.perf_counter()
        ex.controls["eta"].value = value
        totals.append(time.perf_counter() - start)
        for key in parts:
            parts[key].append(ex.timings[key])
    blits, fulls = ex.live.blits - blits0, ex.live.full_draws - full0
    # one full render (limits changed), for comparison
    full_times = []
    for _ in range(3):
        start = time.perf_counter()
        ex.live.draw(full=True)
        full_times.append(time.perf_counter() - start)
    run = ex.run
    ex.close()
    return {
        "problem": name, "num_steps": num_steps, "diverged": run.diverged,
        "update_ms": _ms(totals), **{f"{k}_ms": _ms(v) for k, v in parts.items()},
        "blits": blits, "full_renders": fulls, "forced_full_render_ms": _ms(full_times),
        "meets_target": statistics.median(totals) * 1000.0 <= TARGET_MS,
    }


def train_only(name: str, num_steps: int, repeats: int) -> dict:
    problem = PRESETS[name].make()
    eta = PRESETS[name].eta
    plain, in_loop = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        train(problem, eta, num_steps, record_params=True)
        plain.append(time.perf_counter() - start)
        start = time.perf_counter()
        train(problem, eta, num_steps, sharpness_every=1, sharpness_method="exact")
        in_loop.append(time.perf_counter() - start)
    return {"problem": name, "train_ms": _ms(plain), "train_with_sharpness_every_step_ms": _ms(in_loop),
            "per_step_us": 1e3 * statistics.median(plain) / num_steps * 1e3}


def bare_draw(repeats: int = 5) -> dict:
    fig = Figure(figsize=(6.4, 4.2), dpi=80)
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    fig.subplots().plot(np.arange(1000), np.sin(np.arange(1000) / 50))
    fig.canvas.draw()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fig.canvas.draw()
        times.append(time.perf_counter() - start)
    return {"one_axes_draw_ms": _ms(times)}


def network_first_frame(num_steps: int) -> dict:
    ex = StepSizeExplorer("mlp-digits", interactive=False, num_steps=num_steps)
    ex.wait(300)  # the initial run
    first = {}
    original = ex.live.draw

    def timed_draw(*args, **kwargs):
        first.setdefault("t", time.perf_counter())
        return original(*args, **kwargs)

    ex.live.draw = timed_draw
    start = time.perf_counter()
    ex.controls["eta"].value = 1.5
    returned = time.perf_counter() - start
    ex.wait(600)
    done = time.perf_counter() - start
    out = {"num_steps": num_steps, "callback_returns_ms": 1000 * returned,
           "first_frame_ms": 1000 * (first.get("t", np.nan) - start), "finished_ms": 1000 * done,
           "frames": ex.live.full_draws + ex.live.blits}
    ex.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer updates and steps (a smoke run)")
    parser.add_argument("--updates", type=int, default=15)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "widgets.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    updates = 4 if args.quick else args.updates
    num_steps = 1000
    result = {
        "machine": {"python": platform.python_version(), "torch": torch.__version__,
                    "matplotlib": matplotlib.__version__, "processor": platform.processor() or platform.machine(),
                    "threads": args.threads},
        "target_ms": TARGET_MS,
        "bare_draw": bare_draw(),
        "toys": [toy_latency(name, updates, num_steps) for name in TOYS],
        "train_only": [train_only(name, num_steps, 1 if args.quick else 3) for name in TOYS],
        "network": network_first_frame(60 if args.quick else 200),
    }
    print(f"Slider-to-redrawn latency, 2-D toys, {num_steps} steps (median ms; target ≤ {TARGET_MS:.0f} ms)")
    print(f"{'problem':<12} {'update':>8} {'model':>8} {'artists':>8} {'render':>8} {'p90':>8} "
          f"{'blits':>6} {'full':>5} {'full render':>12}")
    for r in result["toys"]:
        print(f"{r['problem']:<12} {r['update_ms']['median']:8.1f} {r['model_ms']['median']:8.1f} "
              f"{r['artists_ms']['median']:8.1f} {r['render_ms']['median']:8.1f} {r['update_ms']['p90']:8.1f} "
              f"{r['blits']:6d} {r['full_renders']:5d} {r['forced_full_render_ms']['median']:12.1f}")
    print("\ntrain() alone, 1,000 steps (median ms):")
    for r in result["train_only"]:
        print(f"  {r['problem']:<12} plain {r['train_ms']['median']:7.1f} ({r['per_step_us']:.0f} µs/step)   "
              f"sharpness in the loop every step {r['train_with_sharpness_every_step_ms']['median']:7.1f}")
    print(f"\nbare one-axes Agg draw: {result['bare_draw']['one_axes_draw_ms']['median']:.1f} ms")
    n = result["network"]
    print(f"network ({n['num_steps']} steps, streamed): control callback returns in {n['callback_returns_ms']:.1f} ms, "
          f"first frame {n['first_frame_ms']:.0f} ms, finished {n['finished_ms']:.0f} ms, {n['frames']} frames")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
