"""Benchmark: the cost of Hessian-vector products and of certified sharpness estimates.

Reference problem: MLPProblem(digits(n_train=1000), hidden=(32, 32), activation="tanh", loss="mse",
dtype=float32), 3,466 parameters. Measures

1. HVP time / gradient time: a fresh double backward, the reused graph of ``HessianOperator``, batched
   products, and torch.func forward-over-reverse (interleaved repeats, medians).
2. Cold start (random vector) at the initial point: HVPs and milliseconds to reach a relative eigenvalue
   error ≤ 1e-3 against a dense float64 ``eigvalsh`` reference (an oracle stop), and to *certify* a
   relative residual ≤ 1e-3 (the practical stop), for our Lanczos, power iteration and SciPy ``eigsh``
   (ARPACK, which="LA") on the same operator.
3. Warm starts along a constant-eta GD trajectory (eta = 2.0, into the Edge of Stability): HVPs per
   estimate at tol 1e-3 and 1e-2, each chain warm-started from its own previous eigenvector, and the true
   relative error against tight cold references at a few steps.

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
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from eostutor.curvature import HessianOperator, hvp  # noqa: E402
from eostutor.datasets import digits  # noqa: E402
from eostutor.problems import MLPProblem  # noqa: E402
from eostutor.spectrum import lanczos, power_iteration, sharpness  # noqa: E402


def reference_problem() -> MLPProblem:
    data = digits(n_train=1000, dtype=torch.float32)
    return MLPProblem(data, hidden=(32, 32), activation="tanh", loss="mse", dtype=torch.float32)


# ---------------------------------------------------------------------------------------------------
# 1. HVP cost
# ---------------------------------------------------------------------------------------------------
def hvp_costs(problem, w, repeats: int) -> dict:
    gen = torch.Generator().manual_seed(0)
    v = torch.randn(problem.dim, generator=gen).to(problem.dtype)
    block = torch.randn(problem.dim, 8, generator=gen).to(problem.dtype)
    H = HessianOperator(problem, w)

    from torch.func import grad as fgrad
    from torch.func import jvp

    grad_fn = fgrad(problem.objective)

    def forward_over_reverse():
        return jvp(grad_fn, (w,), (v,))[1]

    variants = {
        "gradient": lambda: problem.loss_and_grad(w),
        "hvp_fresh_double_backward": lambda: hvp(problem, w, v),
        "hvp_reused_graph": lambda: H @ v,
        "hvp_reused_graph_batched8_per_vector": lambda: H @ block,
        "hvp_forward_over_reverse": forward_over_reverse,
    }
    # Same answer from every route (sanity check, float32 round-off).
    ref = (H @ v).double()
    for name in ("hvp_fresh_double_backward", "hvp_forward_over_reverse"):
        err = float((variants[name]().double() - ref).norm() / ref.norm())
        assert err < 1e-4, (name, err)
    times = {name: [] for name in variants}
    for fn in variants.values():  # warm-up (lazy initialisation, vmap)
        fn()
    for _ in range(repeats):  # interleaved: every variant sees the same machine load
        for name, fn in variants.items():
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    med = {name: statistics.median(ts) * 1e3 for name, ts in times.items()}
    med["hvp_reused_graph_batched8_per_vector"] /= 8
    g = med["gradient"]
    return {name: {"ms": ms, "per_gradient": ms / g} for name, ms in med.items()}


# ---------------------------------------------------------------------------------------------------
# 2. Cold starts
# ---------------------------------------------------------------------------------------------------
def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, (time.perf_counter() - t) * 1e3


def ours_to_error(solver, H, lam, seed, target, max_budget):
    """Smallest budget whose estimate has relative error ≤ target (Lanczos' top Ritz value only grows
    with the budget; power iteration's nearly so), found by a doubling + bisection search."""

    def error(budget):
        res = solver(H, tol=1e-12, max_hvps=budget, seed=seed)
        return abs(res.value - lam) / abs(lam)

    lo, hi = 0, 1
    while error(hi) > target:
        lo, hi = hi, hi * 2
        if hi > max_budget:
            return None, None
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if error(mid) <= target else (mid, hi)
    _, ms = timed(lambda: solver(H, tol=1e-12, max_hvps=hi, seed=seed))
    return hi, ms


def eigsh_run(H, seed, tol):
    v0 = np.random.default_rng(seed).standard_normal(H.dim)
    before = H.num_hvps
    (vals, _), ms = timed(lambda: scipy.sparse.linalg.eigsh(H.to_scipy(), k=1, which="LA", tol=tol, v0=v0))
    return float(vals[0]), H.num_hvps - before, ms


def eigsh_to_error(H, lam, seed, target):
    """ARPACK exposes no iterates: loosen/tighten its tol and report the loosest run within target."""
    for tol in (1e-1, 3e-2, 1e-2, 3e-3, 1e-3, 3e-4, 1e-4, 1e-5, 1e-6):
        val, n, ms = eigsh_run(H, seed, tol)
        if abs(val - lam) / abs(lam) <= target:
            return n, ms, tol
    return None, None, None


def cold_starts(problem, w, lam, seeds, target=1e-3) -> dict:
    H = HessianOperator(problem, w)
    rows = {"lanczos": [], "power": [], "eigsh": []}
    for seed in seeds:
        for name, solver, budget in (("lanczos", lanczos, 400), ("power", power_iteration, 4000)):
            n_err, ms_err = ours_to_error(solver, H, lam, seed, target, budget)
            res, ms = timed(lambda solver=solver, budget=budget, seed=seed: solver(H, tol=1e-3, max_hvps=budget,
                                                                                   seed=seed))
            rows[name].append({
                "seed": seed, "hvps_to_error": n_err, "ms_to_error": ms_err,
                "certified_hvps": res.num_hvps, "certified_ms": ms, "certified_converged": res.converged,
                "certified_rel_error": abs(res.value - lam) / lam,
                "certified_rel_residual": float(res.relative_residuals[0]),
            })
        n_err, ms_err, tol_used = eigsh_to_error(H, lam, seed, target)
        val, n, ms = eigsh_run(H, seed, 1e-3)
        rows["eigsh"].append({
            "seed": seed, "hvps_to_error": n_err, "ms_to_error": ms_err, "eigsh_tol_for_error": tol_used,
            "certified_hvps": n, "certified_ms": ms, "certified_converged": True,
            "certified_rel_error": abs(val - lam) / lam,
        })
    return rows


# ---------------------------------------------------------------------------------------------------
# 3. Warm starts along GD at the Edge of Stability
# ---------------------------------------------------------------------------------------------------
def warm_trajectory(problem, w0, eta, num_steps, check_every, ref_tol) -> dict:
    w = w0.clone()
    chains = {1e-3: None, 1e-2: None}
    per_step = []
    checks = []
    for step in range(num_steps):
        H = HessianOperator(problem, w)  # one graph: gradient step + estimates
        row = {"step": step, "loss": H.loss}
        for tol in chains:
            res, ms = timed(lambda tol=tol, H=H: sharpness(problem, None, method="lanczos", tol=tol, v0=chains[tol],
                                                          operator=H))
            chains[tol] = res.vector
            row[f"hvps_{tol:g}"] = res.num_hvps
            row[f"ms_{tol:g}"] = ms
            row[f"value_{tol:g}"] = res.value
            row[f"converged_{tol:g}"] = res.converged
            row[f"rel_residual_{tol:g}"] = float(res.relative_residuals[0])
        per_step.append(row)
        if step % check_every == 0 or step == num_steps - 1:
            ref = sharpness(problem, None, method="lanczos", tol=ref_tol, max_hvps=400, seed=10_000 + step,
                            operator=H)
            cold = sharpness(problem, None, method="lanczos", tol=1e-3, seed=step, operator=H)
            checks.append({
                "step": step, "reference": ref.value, "reference_rel_residual": float(ref.relative_residuals[0]),
                "cold_hvps_1e-3": cold.num_hvps,
                **{f"rel_error_{tol:g}": abs(row[f"value_{tol:g}"] - ref.value) / ref.value for tol in chains},
                **{f"rel_residual_{tol:g}": row[f"rel_residual_{tol:g}"] for tol in chains},
            })
        w = w - eta * H.grad
        if not bool(torch.isfinite(w).all()):
            break
    return {"per_step": per_step, "checks": checks}


def summarize_warm(traj, skip_first=1) -> dict:
    rows = traj["per_step"][skip_first:]  # step 0 has no previous vector: a cold start
    out = {}
    for tol in ("0.001", "0.01"):
        h = np.array([r[f"hvps_{tol}"] for r in rows])
        ms = np.array([r[f"ms_{tol}"] for r in rows])
        out[tol] = {
            "mean_hvps": float(h.mean()), "max_hvps": int(h.max()), "median_hvps": float(np.median(h)),
            "mean_ms": float(ms.mean()), "all_converged": all(r[f"converged_{tol}"] for r in rows),
            "max_rel_error_at_checks": max(c[f"rel_error_{tol}"] for c in traj["checks"]),
        }
    return out


# ---------------------------------------------------------------------------------------------------
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats/steps; long-Lanczos reference")
    parser.add_argument("--threads", type=int, default=1, help="torch and BLAS threads (default 1)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "spectrum.json"))
    args = parser.parse_args(argv)
    threadpool_limits(limits=args.threads)
    torch.set_num_threads(args.threads)

    problem = reference_problem()
    w0 = problem.init(seed=0)
    print(f"{problem!r}: dim={problem.dim}; torch threads={torch.get_num_threads()}, "
          f"BLAS threads={[i['num_threads'] for i in threadpool_info()]}, cores={os.cpu_count()}")

    repeats = 30 if args.quick else 200
    costs = hvp_costs(problem, w0, repeats)
    print(f"\n1. Cost per product (median of {repeats} interleaved repeats)")
    print(f"{'route':42s} {'ms':>8s} {'/ gradient':>11s}")
    for name, c in costs.items():
        print(f"{name:42s} {c['ms']:8.3f} {c['per_gradient']:11.2f}")

    # Reference sharpness at w0: dense float64 eigvalsh (the full run), or a long Lanczos (--quick).
    H0 = HessianOperator(problem, w0)
    t = time.perf_counter()
    if args.quick:
        lam = sharpness(problem, None, method="lanczos", tol=1e-6, max_hvps=400, operator=H0).value
        ref_kind = "lanczos tol 1e-6"
    else:
        lam = float(torch.linalg.eigvalsh(H0.dense().to(torch.float64))[-1])
        ref_kind = "dense float64 eigvalsh"
    ref_seconds = time.perf_counter() - t
    print(f"\nreference sharpness at w0 = {lam:.7f} ({ref_kind}, {ref_seconds:.1f} s)")

    seeds = list(range(3 if args.quick else 10))
    cold = cold_starts(problem, w0, lam, seeds)
    print(f"\n2. Cold start at w0, {len(seeds)} random starts (mean [min-max])")
    print(f"{'method':9s} {'HVPs to err<=1e-3':>20s} {'ms':>7s} {'HVPs certified 1e-3':>22s} {'ms':>7s} "
          f"{'err when certified':>19s}")
    cold_summary = {}
    for name, rows in cold.items():
        n_err = [r["hvps_to_error"] for r in rows if r["hvps_to_error"] is not None]
        n_cert = [r["certified_hvps"] for r in rows]
        cold_summary[name] = {
            "mean_hvps_to_error": float(np.mean(n_err)) if n_err else None,
            "mean_ms_to_error": float(np.mean([r["ms_to_error"] for r in rows if r["ms_to_error"] is not None]))
            if n_err else None,
            "mean_certified_hvps": float(np.mean(n_cert)), "min_certified_hvps": int(min(n_cert)),
            "max_certified_hvps": int(max(n_cert)),
            "mean_certified_ms": float(np.mean([r["certified_ms"] for r in rows])),
            "max_certified_rel_error": float(max(r["certified_rel_error"] for r in rows)),
            "all_converged": all(r["certified_converged"] for r in rows),
        }
        s = cold_summary[name]
        err_txt = (f"{s['mean_hvps_to_error']:6.1f} [{min(n_err)}-{max(n_err)}]" if n_err else "not reached")
        ms_err = f"{s['mean_ms_to_error']:7.1f}" if n_err else "      -"
        print(f"{name:9s} {err_txt:>20s} {ms_err} {s['mean_certified_hvps']:10.1f} "
              f"[{s['min_certified_hvps']}-{s['max_certified_hvps']}]{'':>3s} {s['mean_certified_ms']:7.1f} "
              f"{s['max_certified_rel_error']:19.1e}")

    eta = 2.0
    num_steps = 150 if args.quick else 400
    traj = warm_trajectory(problem, w0, eta, num_steps, check_every=25 if args.quick else 50,
                           ref_tol=1e-6)
    warm = summarize_warm(traj)
    vals = np.array([r["value_0.001"] for r in traj["per_step"]])
    eos_steps = [r["step"] for r in traj["per_step"] if r["value_0.001"] >= 0.95 * 2 / eta]
    print(f"\n3. Warm starts along GD, eta={eta} (2/eta={2 / eta}), {len(traj['per_step'])} steps; "
          f"sharpness {vals[0]:.3f} -> max {vals.max():.3f}; first step with sharpness >= 0.95*2/eta: "
          f"{eos_steps[0] if eos_steps else 'never'}")
    print(f"{'tol':6s} {'mean HVPs':>10s} {'median':>7s} {'max':>5s} {'mean ms':>8s} {'max rel. err (checks)':>22s}")
    for tol, s in warm.items():
        print(f"{tol:6s} {s['mean_hvps']:10.2f} {s['median_hvps']:7.1f} {s['max_hvps']:5d} {s['mean_ms']:8.2f} "
              f"{s['max_rel_error_at_checks']:22.1e}")
    cold_along = [c["cold_hvps_1e-3"] for c in traj["checks"]]
    print(f"cold starts at the check steps (tol 1e-3): mean {np.mean(cold_along):.1f} HVPs "
          f"[{min(cold_along)}-{max(cold_along)}]")
    print(f"{'step':>5s} {'loss':>8s} {'reference':>10s} {'cold HVPs':>10s} {'err 1e-3':>9s} {'err 1e-2':>9s}")
    for c in traj["checks"]:
        loss = traj["per_step"][c["step"]]["loss"]
        print(f"{c['step']:5d} {loss:8.4f} {c['reference']:10.5f} {c['cold_hvps_1e-3']:10d} "
              f"{c['rel_error_0.001']:9.1e} {c['rel_error_0.01']:9.1e}")

    result = {
        "date": datetime.date.today().isoformat(),
        "machine": {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
                    "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                    "blas_threads": [i["num_threads"] for i in threadpool_info()],
                    "torch": torch.__version__, "scipy": scipy.__version__, "numpy": np.__version__,
                    "python": platform.python_version()},
        "quick": args.quick,
        "problem": repr(problem), "dim": problem.dim,
        "hvp_cost": costs,
        "reference": {"sharpness": lam, "kind": ref_kind, "seconds": ref_seconds},
        "cold": {"summary": cold_summary, "runs": cold},
        "warm": {"eta": eta, "num_steps": len(traj["per_step"]), "summary": warm, "checks": traj["checks"],
                 "sharpness": vals.tolist(), "loss": [r["loss"] for r in traj["per_step"]],
                 "hvps_1e-3": [r["hvps_0.001"] for r in traj["per_step"]],
                 "hvps_1e-2": [r["hvps_0.01"] for r in traj["per_step"]]},
        "targets": {"cold_certified_1e-3_hvps": 14, "warm_mean_1e-3_hvps": 8, "warm_mean_1e-2_hvps": 3},
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
