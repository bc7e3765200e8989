"""Benchmark: the cost of Hessian-vector products and of certified sharpness estimates, side by side with
SciPy in one process.

Reference problem: MLPProblem(digits(n_train=1000), hidden=(32, 32), activation="tanh", loss="mse",
dtype=float32), 3,466 parameters; every solver multiplies through the same ``HessianOperator``, so HVP
counts compare directly. Measures

1. HVP time / gradient time: a fresh double backward, the reused graph of ``HessianOperator``, and
   torch.func forward-over-reverse (interleaved repeats, medians).
2. Cold λ_max at relative residual 1e-3 at the initial point and at a point deep in the Edge of
   Stability: HVPs, milliseconds and true relative error (against a solve at 1e-9) for eostutor's Lanczos,
   SciPy ``eigsh`` (ARPACK, which="LA", tol=1e-3: the same residual test) and SciPy ``lobpcg``.
3. Tracking along GD deep in the Edge of Stability, every step, at 1e-3 and 1e-2: eostutor's
   ``SharpnessTracker`` (warm-started subspace) against SciPy ``lobpcg`` warm-started from its previous
   block and against ``eigsh`` cold at every step; HVPs per step, ms per step, and the true error at every
   step against cold solves at 1e-7. Also the cost of ``train`` with the sharpness every step, as a ratio
   to plain GD on the same 500 steps.

Run: ``.venv/bin/python benchmarks/spectrum.py [--quick] [--threads N]``. Prints tables and writes
``benchmarks/results/spectrum.json``.
"""

# Thread trap: thread limits reach only the BLAS/OpenMP libraries already loaded. Load SciPy's BLAS
# (through scipy.sparse.linalg), torch and scikit-learn's OpenMP (digits comes from sklearn) first,
# then limit.
import scipy.sparse.linalg  # noqa: I001  (must come before the thread limits)
import sklearn.datasets  # noqa: F401
import torch
from threadpoolctl import threadpool_info, threadpool_limits

import argparse
import datetime
import os
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _results import save  # noqa: E402  (benchmarks/_results.py, beside this script)

import eostutor as eos  # noqa: E402
from eostutor.curvature import HessianOperator, hvp  # noqa: E402
from eostutor.spectrum import SharpnessTracker  # noqa: E402


# ---------------------------------------------------------------------------------------------------
# 1. HVP cost
# ---------------------------------------------------------------------------------------------------
def hvp_costs(problem, w, repeats: int) -> dict:
    gen = torch.Generator().manual_seed(0)
    v = torch.randn(problem.dim, generator=gen).to(problem.dtype)
    H = HessianOperator(problem, w)

    from torch.func import grad as fgrad
    from torch.func import jvp

    grad_fn = fgrad(problem.objective)

    variants = {
        "gradient": lambda: problem.loss_and_grad(w),
        "hvp_fresh_double_backward": lambda: hvp(problem, w, v),
        "hvp_reused_graph": lambda: H @ v,
        "hvp_forward_over_reverse": lambda: jvp(grad_fn, (w,), (v,))[1],
    }
    ref = (H @ v).double()
    for name in ("hvp_fresh_double_backward", "hvp_forward_over_reverse"):  # the same answer by every route
        err = float((variants[name]().double() - ref).norm() / ref.norm())
        assert err < 1e-4, (name, err)
    times = {name: [] for name in variants}
    for fn in variants.values():
        fn()
    for _ in range(repeats):  # interleaved: every variant sees the same machine load
        for name, fn in variants.items():
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    med = {name: statistics.median(ts) * 1e3 for name, ts in times.items()}
    return {name: {"ms": ms, "per_gradient": ms / med["gradient"]} for name, ms in med.items()}


# ---------------------------------------------------------------------------------------------------
# 2. Cold starts
# ---------------------------------------------------------------------------------------------------
def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, (time.perf_counter() - t) * 1e3


def ours_cold(H, seed, tol):
    before = H.num_hvps
    res, ms = timed(lambda: eos.spectrum.lanczos(H, tol=tol, seed=seed))
    return res.value, H.num_hvps - before, ms


def eigsh_cold(H, seed, tol):
    v0 = np.random.default_rng(seed).standard_normal(H.dim)
    before = H.num_hvps
    (vals, _), ms = timed(lambda: scipy.sparse.linalg.eigsh(H.to_scipy(), k=1, which="LA", tol=tol, v0=v0))
    return float(vals[0]), H.num_hvps - before, ms


def lobpcg_run(H, X, tol, maxiter=200):
    """SciPy's lobpcg (its tol is an absolute residual norm: given as tol·θ with θ ≈ the sharpness)."""
    before = H.num_hvps
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "not reaching the requested tolerance": counted as it is
        (vals, vecs), ms = timed(lambda: scipy.sparse.linalg.lobpcg(H.to_scipy(), X, largest=True, tol=tol,
                                                                    maxiter=maxiter))
    return float(np.max(vals)), vecs, H.num_hvps - before, ms


def cold_table(H, lam, seeds, tol=1e-3) -> dict:
    rows = {"eostutor Lanczos": [], "SciPy eigsh": [], "SciPy lobpcg": []}
    for seed in seeds:  # interleaved
        for name, fn in (("eostutor Lanczos", ours_cold), ("SciPy eigsh", eigsh_cold)):
            val, n, ms = fn(H, seed, tol)
            rows[name].append({"hvps": n, "ms": ms, "rel_error": abs(val - lam) / lam})
        x = np.random.default_rng(seed).standard_normal((H.dim, 1))
        val, _, n, ms = lobpcg_run(H, x, tol * lam)
        rows["SciPy lobpcg"].append({"hvps": n, "ms": ms, "rel_error": abs(val - lam) / lam})
    return {name: {"mean_hvps": float(np.mean([r["hvps"] for r in rs])),
                   "min_hvps": int(min(r["hvps"] for r in rs)), "max_hvps": int(max(r["hvps"] for r in rs)),
                   "median_ms": float(np.median([r["ms"] for r in rs])),
                   "max_rel_error": float(max(r["rel_error"] for r in rs)), "runs": rs}
            for name, rs in rows.items()}


# ---------------------------------------------------------------------------------------------------
# 3. Tracking every step deep in the Edge of Stability
# ---------------------------------------------------------------------------------------------------
def tracking(problem, points, tol, refs, with_eigsh: bool) -> dict:
    """Every solver runs over the same consecutive iterates (one operator per point, shared)."""
    ours = SharpnessTracker(problem, method="lanczos", tol=tol)
    lob_x = None
    out = {name: {"hvps": [], "ms": [], "values": []} for name in ("eostutor tracker", "SciPy lobpcg (warm, block 3)",
                                                                   "SciPy eigsh (cold)")}
    for k, w in enumerate(points):
        H = HessianOperator(problem, w)
        before = H.num_hvps
        res, ms = timed(lambda H=H, k=k: ours.measure(H, step=k))
        out["eostutor tracker"]["hvps"].append(H.num_hvps - before)
        out["eostutor tracker"]["ms"].append(ms)
        out["eostutor tracker"]["values"].append(res.value)
        x = lob_x if lob_x is not None else np.random.default_rng(k).standard_normal((H.dim, 3))
        val, lob_x, n, ms = lobpcg_run(H, x, tol * res.value, maxiter=100)
        for key, v in (("hvps", n), ("ms", ms), ("values", val)):
            out["SciPy lobpcg (warm, block 3)"][key].append(v)
        if with_eigsh:
            val, n, ms = eigsh_cold(H, k, tol)
            for key, v in (("hvps", n), ("ms", ms), ("values", val)):
                out["SciPy eigsh (cold)"][key].append(v)
    summary = {}
    for name, d in out.items():
        if not d["values"]:
            continue
        err = np.abs(np.array(d["values"]) - refs) / refs
        summary[name] = {"mean_hvps": float(np.mean(d["hvps"][1:])), "max_hvps": int(max(d["hvps"][1:])),
                         "mean_ms": float(np.mean(d["ms"][1:])), "frac_within_1e-3": float(np.mean(err <= 1e-3)),
                         "max_rel_error": float(err.max())}
    return summary


def train_ratio(problem, w_start, steps, repeats) -> dict:
    """train() with the sharpness every step vs plain GD over the same steps (same evaluate_every)."""
    variants = {"plain GD": {}, "every step, tol 1e-3": {"sharpness_every": 1, "sharpness_tol": 1e-3},
                "every step, tol 1e-2": {"sharpness_every": 1, "sharpness_tol": 1e-2},
                "every 10 steps, tol 1e-3": {"sharpness_every": 10, "sharpness_tol": 1e-3}}
    times = {name: [] for name in variants}
    hvps = {}
    for _ in range(repeats):
        for name, kwargs in variants.items():
            run, ms = timed(lambda kwargs=kwargs: eos.train(problem, 2.0, steps, w0=w_start, evaluate_every=steps,
                                                            **kwargs))
            times[name].append(ms)
            m = run.measured
            hvps[name] = float(np.nanmean(run.sharpness_hvps[m][1:])) if m.sum() > 1 else 0.0
    base = statistics.median(times["plain GD"])
    return {name: {"ms": statistics.median(t), "ratio": statistics.median(t) / base, "hvps": hvps[name]}
            for name, t in times.items()}


# ---------------------------------------------------------------------------------------------------
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats, seeds and steps")
    parser.add_argument("--threads", type=int, default=1, help="torch and BLAS threads (default 1)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "spectrum.json"))
    args = parser.parse_args(argv)
    threadpool_limits(limits=args.threads)
    torch.set_num_threads(args.threads)

    problem = eos.experiments.reference_problem()
    w0 = problem.init(0)
    print(f"{problem!r}: dim={problem.dim}; torch threads={torch.get_num_threads()}, "
          f"BLAS threads={[i['num_threads'] for i in threadpool_info()]}, cores={os.cpu_count()}")

    repeats = 30 if args.quick else 200
    costs = hvp_costs(problem, w0, repeats)
    print(f"\n1. Cost per product (median of {repeats} interleaved repeats)")
    print(f"{'route':32s} {'ms':>8s} {'/ gradient':>11s}")
    for name, c in costs.items():
        print(f"{name:32s} {c['ms']:8.3f} {c['per_gradient']:11.2f}")

    # A GD run into the Edge of Stability: its iterates are the test points of sections 2 and 3.
    deep_start, window = (1000, 100) if args.quick else (1000, 400)
    run = eos.train(problem, 2.0, deep_start + window, record_params=True, evaluate_every=10_000)
    points = [problem.check_params(run.params[deep_start + j]) for j in range(window)]

    seeds = list(range(3 if args.quick else 10))
    cold = {}
    print(f"\n2. Cold λ_max at relative residual 1e-3, {len(seeds)} random starts each")
    print(f"{'point':10s} {'solver':18s} {'HVPs mean [min-max]':>20s} {'median ms':>10s} {'max rel. error':>15s}")
    for label, w in (("initial", w0), (f"step {deep_start}", points[0])):
        H = HessianOperator(problem, w)
        lam = eos.spectrum.lanczos(H, tol=1e-9, max_hvps=600).value
        cold[label] = {"reference": lam, "solvers": cold_table(H, lam, seeds)}
        for name, s in cold[label]["solvers"].items():
            print(f"{label:10s} {name:18s} {s['mean_hvps']:9.1f} [{s['min_hvps']}-{s['max_hvps']}]{'':>4s} "
                  f"{s['median_ms']:10.1f} {s['max_rel_error']:15.1e}")

    print(f"\n3. Every step from step {deep_start} (deep in EoS, {window} steps); errors against cold solves at 1e-7")
    refs = np.array([eos.spectrum.lanczos(HessianOperator(problem, w), tol=1e-7, max_hvps=600, seed=10**6 + j).value
                     for j, w in enumerate(points)])
    track = {}
    print(f"{'tol':6s} {'solver':30s} {'HVPs/step':>10s} {'max':>5s} {'ms/step':>8s} {'within 1e-3':>12s} "
          f"{'max rel. err':>13s}")
    for tol in (1e-3, 1e-2):
        track[str(tol)] = tracking(problem, points, tol, refs, with_eigsh=tol == 1e-3)
        for name, s in track[str(tol)].items():
            print(f"{tol:<6g} {name:30s} {s['mean_hvps']:10.2f} {s['max_hvps']:5d} {s['mean_ms']:8.2f} "
                  f"{100 * s['frac_within_1e-3']:11.1f}% {s['max_rel_error']:13.1e}")
    ratio_steps = 200 if args.quick else 500
    ratios = train_ratio(problem, run.params[deep_start], ratio_steps, 1 if args.quick else 3)
    print(f"\n   train() over {ratio_steps} steps from step {deep_start}, time as a ratio to plain GD "
          f"(median of {1 if args.quick else 3}):")
    for name, r in ratios.items():
        print(f"   {name:26s} {r['ratio']:6.2f}x   {r['hvps']:5.2f} HVPs per estimate")

    result = {
        "date": datetime.date.today().isoformat(),
        "machine": {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
                    "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                    "blas_threads": [i["num_threads"] for i in threadpool_info()],
                    "torch": torch.__version__, "scipy": scipy.__version__, "numpy": np.__version__,
                    "python": platform.python_version()},
        "quick": args.quick, "problem": repr(problem), "dim": problem.dim,
        "hvp_cost": costs, "cold": cold, "tracking": {"start_step": deep_start, "steps": window, "solvers": track},
        "train_ratio": {"steps": ratio_steps, "variants": ratios},
        "goals": {"cold_hvps_and_ms": "at most eigsh's", "tracking_1e-3_hvps_per_step": 4,
                  "tracking_1e-3_ratio_to_plain_gd": 6},
    }
    save(result, args.out)


if __name__ == "__main__":
    main()
