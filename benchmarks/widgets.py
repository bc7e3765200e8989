"""Benchmark: what a slider move costs the kernel, now (bqplot: send the run's arrays) and before (matplotlib:
render the same panels to a PNG in the kernel), side by side in one run.

1. The drag the notebooks ask for, on each 2-D toy with 1,000 steps: η across the stability edge in 2%
   steps (minimalist: 0.2 -> 0.36; quadratic: 0.16 -> 0.28; scalar network: 0.6 -> 1.1), each value set
   from Python (synchronous, so the time is the kernel's whole update). Split: model (``train`` + the
   batched exact curvature) and draw (every panel's marks updated and serialised for the page). Target:
   median ≤ 30 ms per update.
2. The peer, on the same runs: the matplotlib path the widgets used to take: the same five panels drawn
   with :mod:`eostutor.plots` into one figure and rendered by Agg to a PNG (what ipympl sends on a
   full render). Reported as a ratio (matplotlib render / our draw).
3. A network (2×32 tanh MLP on 500 digits, 200 steps, streamed in a background thread): how long the
   control callback blocks, the first streamed frame, and the finished run.

The browser side (input event -> changed pixels, in Chromium) is ``benchmarks/browser_latency.py``.

Usage:  python benchmarks/widgets.py [--quick]
Writes benchmarks/results/widgets.json and prints a table.
"""

from __future__ import annotations

import argparse
import io
import platform
import statistics
import time
from pathlib import Path

import matplotlib
import scipy.sparse.linalg  # noqa: F401  (load SciPy's BLAS before limiting threads)
import torch

matplotlib.use("Agg")

import numpy as np  # noqa: E402
from _results import save  # noqa: E402  (benchmarks/_results.py, beside this script)

from eostutor import plots  # noqa: E402
from eostutor.widgets import StepSizeExplorer  # noqa: E402

DRAGS = {"quadratic": (0.16, 0.28), "minimalist": (0.2, 0.36), "scalar-net": (0.6, 1.1)}
TARGET_MS = 30.0


def _ms(xs) -> dict:
    xs = sorted(1000.0 * x for x in xs)
    return {"median": statistics.median(xs), "p90": xs[min(len(xs) - 1, int(0.9 * len(xs)))], "n": len(xs)}


class MatplotlibPeer:
    """The path the widgets took before: one figure (built once, landscape contours cached) whose five
    panels are redrawn in place by :mod:`eostutor.plots` and fully rendered by Agg to a PNG per update."""

    def __init__(self, problem, extent):
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        self.problem, self.extent = problem, extent
        self.fig = Figure(figsize=(9, 6), dpi=100, layout="constrained")
        FigureCanvasAgg(self.fig)
        gs = self.fig.add_gridspec(2, 3)
        self.axes = {"trajectory": self.fig.add_subplot(gs[:, 0])}
        for i, name in enumerate(("loss", "sharpness", "eta_sharpness", "step_size")):
            self.axes[name] = self.fig.add_subplot(gs[i // 2, 1 + i % 2])

    def render(self, run) -> float:
        """Seconds to redraw every panel from ``run`` and encode the PNG."""
        start = time.perf_counter()
        plots.trajectory(self.problem, run, ax=self.axes["trajectory"], extent=self.extent, markers=False)
        for name in ("loss", "sharpness", "eta_sharpness", "step_size"):
            plots.DASHBOARD_PANELS[name](run, ax=self.axes[name])
        self.fig.canvas.draw()
        buf = io.BytesIO()
        self.fig.canvas.print_png(buf)
        return time.perf_counter() - start


def drag(name: str, moves: int, num_steps: int, peer_every: int) -> dict:
    ex = StepSizeExplorer(name, num_steps=num_steps)
    lo, hi = DRAGS[name]
    values = np.geomspace(lo, hi, moves)
    totals, model, draw, peer = [], [], [], []
    diverged = 0
    problem = ex.model.problem(name)
    matplotlib_peer = MatplotlibPeer(problem, ex._extent(problem, ex.settings))
    matplotlib_peer.render(ex.run)  # warm-up: contours and layout computed once, as the old widget did
    for i, eta in enumerate(values):
        start = time.perf_counter()
        ex.controls["eta"].value = float(eta)
        totals.append(time.perf_counter() - start)
        model.append(ex.timings["model"])
        draw.append(ex.timings["draw"])
        diverged += ex.run.diverged
        if i % peer_every == 0:
            peer.append(matplotlib_peer.render(ex.run))
    ex.close()
    return {"problem": name, "num_steps": num_steps, "etas": [lo, hi], "moves": moves, "diverged_runs": diverged,
            "update_ms": _ms(totals), "model_ms": _ms(model), "draw_ms": _ms(draw),
            "matplotlib_render_ms": _ms(peer),
            "matplotlib_over_draw": statistics.median(peer) / statistics.median(draw),
            "meets_target": statistics.median(totals) * 1000.0 <= TARGET_MS}


def network(num_steps: int) -> dict:
    ex = StepSizeExplorer("mlp-digits", num_steps=num_steps)
    ex.wait(300)  # the initial run
    first = {}
    original = ex._draw

    def timed_draw(*args, **kwargs):
        first.setdefault("t", time.perf_counter())
        return original(*args, **kwargs)

    ex._draw = timed_draw
    start = time.perf_counter()
    ex.controls["eta"].value = 1.5
    returned = time.perf_counter() - start
    ex.wait(600)
    done = time.perf_counter() - start
    out = {"num_steps": num_steps, "callback_returns_ms": 1000 * returned,
           "first_frame_ms": 1000 * (first.get("t", np.nan) - start), "finished_ms": 1000 * done}
    ex.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer moves (a smoke run)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "widgets.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    moves = 8 if args.quick else 30
    num_steps = 1000
    result = {
        "machine": {"python": platform.python_version(), "torch": torch.__version__,
                    "matplotlib": matplotlib.__version__, "processor": platform.processor() or platform.machine(),
                    "threads": args.threads},
        "target_ms": TARGET_MS,
        "drags": [drag(name, moves, num_steps, peer_every=4 if args.quick else 6) for name in DRAGS],
        "network": network(60 if args.quick else 200),
    }
    print(f"A drag across the edge, 2-D toys, {num_steps} steps, {moves} moves (median ms; target ≤ "
          f"{TARGET_MS:.0f} ms per update)")
    print(f"{'problem':<12} {'η from-to':>12} {'update':>8} {'p90':>7} {'model':>7} {'draw':>7} "
          f"{'matplotlib':>11} {'ratio':>7}")
    for r in result["drags"]:
        print(f"{r['problem']:<12} {r['etas'][0]:>5.2f}-{r['etas'][1]:<5.2f} {r['update_ms']['median']:8.1f} "
              f"{r['update_ms']['p90']:7.1f} {r['model_ms']['median']:7.1f} {r['draw_ms']['median']:7.1f} "
              f"{r['matplotlib_render_ms']['median']:11.1f} {r['matplotlib_over_draw']:6.1f}x")
    print("  (draw: our marks updated and serialised; matplotlib: the same panels rendered to a PNG, the old path)")
    n = result["network"]
    print(f"network ({n['num_steps']} steps, streamed): the control callback returns in "
          f"{n['callback_returns_ms']:.1f} ms, first frame {n['first_frame_ms']:.0f} ms, finished "
          f"{n['finished_ms']:.0f} ms")
    save(result, args.out)


if __name__ == "__main__":
    main()
