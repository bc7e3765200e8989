"""Benchmark: what sharpness tracking costs inside the one training loop, and line-search costs.

On the reference EoS run (2x32 tanh MLP on 1,000 standardized digits, MSE over n·K outputs, eta = 2.0,
float32) it times, in one process and interleaved so that machine noise hits every variant alike:
plain GD, GD with the sharpness every 10 steps (tol 1e-3), and every step at tol 1e-2 and 1e-3.
Ratios to plain GD are the result; absolute seconds are for orientation only (shared machines are noisy).
It also counts loss evaluations per step for each line-search rule.

Usage:  python benchmarks/training.py [--quick] [--steps N] [--repeats R]
Writes benchmarks/results/training.json and prints a table.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path

import scipy.sparse.linalg  # noqa: F401  (load SciPy's BLAS before limiting threads)
import torch
from _results import save  # noqa: E402  (benchmarks/_results.py, beside this script)

import eostutor as eos
from eostutor.experiments import reference_problem

VARIANTS = {
    "plain GD": {"sharpness_every": 0},
    "sharpness every 10 steps (tol 1e-3)": {"sharpness_every": 10, "sharpness_tol": 1e-3},
    "sharpness every step (tol 1e-2)": {"sharpness_every": 1, "sharpness_tol": 1e-2},
    "sharpness every step (tol 1e-3)": {"sharpness_every": 1, "sharpness_tol": 1e-3},
}
LINE_SEARCHES = ("ls", "nls", "nls-ub", "ponls")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="300 steps, 1 repeat (a smoke run)")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "training.json"))
    args = parser.parse_args()
    steps, repeats = (300, 1) if args.quick else (args.steps, args.repeats)
    torch.set_num_threads(args.threads)
    problem = reference_problem(dtype=torch.float32)

    times = {name: [] for name in VARIANTS}
    hvps = {}
    for _ in range(repeats):
        for name, kwargs in VARIANTS.items():  # interleaved: noise spreads over all variants
            start = time.perf_counter()
            run = eos.train(problem, 2.0, steps, evaluate_every=steps, **kwargs)
            times[name].append(time.perf_counter() - start)
            measured = run.measured
            hvps[name] = float(run.sharpness_hvps[measured].mean()) if measured.any() else 0.0
    base = statistics.median(times["plain GD"])
    rows = []
    for name in VARIANTS:
        t = statistics.median(times[name])
        rows.append({"variant": name, "seconds": t, "ratio_to_plain": t / base, "hvps_per_estimate": hvps[name]})

    ls_rows = []
    ls_steps = min(steps, 300)
    for name in LINE_SEARCHES:
        run = eos.train(problem, eos.make_rule(name), ls_steps, evaluate_every=ls_steps)
        ls_rows.append({"rule": name, "steps": ls_steps, "loss_evals_per_step": float(run.loss_evals.mean()),
                        "backtracks_per_step": float(run.backtracks.mean()), "final_loss": run.final_loss})

    print(f"\nTraining-loop cost on {problem!r}, eta = 2.0, {steps} steps, {args.threads} thread(s), "
          f"median of {repeats}")
    print(f"{'variant':<40} {'seconds':>8} {'x plain GD':>11} {'HVPs/estimate':>14}")
    for r in rows:
        print(f"{r['variant']:<40} {r['seconds']:>8.2f} {r['ratio_to_plain']:>11.2f} {r['hvps_per_estimate']:>14.1f}")
    print(f"\nLine searches ({ls_steps} steps): loss evaluations per step (incl. f(w_k))")
    print(f"{'rule':<8} {'loss evals/step':>16} {'backtracks/step':>16} {'final loss':>11}")
    for r in ls_rows:
        print(f"{r['rule']:<8} {r['loss_evals_per_step']:>16.2f} {r['backtracks_per_step']:>16.2f} "
              f"{r['final_loss']:>11.4g}")

    result = {"date": time.strftime("%Y-%m-%d"), "machine": {"cores": torch.get_num_threads(),
              "threads": args.threads, "python": platform.python_version(), "torch": torch.__version__},
              "problem": repr(problem), "eta": 2.0, "steps": steps, "repeats": repeats,
              "variants": rows, "line_searches": ls_rows}
    save(result, args.out)


if __name__ == "__main__":
    main()
