"""A small, rerunnable search for a laptop-CPU setting that shows Flatland (Galli et al. 2026, section 6).

For each setting (dataset, network, dtype) and each seed, train every rule of the Flatland comparison
(NLS, NLS-ub, PoNLS, LS, CDAT, GD-warmup, GD-warmup-ub and two ablations of NLS-ub) for 1,000 full-batch
steps with the paper's constants, measure the sharpness every 10 steps (warm-started Lanczos, relative
residual 1e-2) and apply one fixed detector, :func:`eostutor.experiments.flatland_signature`:

    a measured step is *flat* when |λ_max/(2/K) − 1| ≤ 5%, ‖∇_hidden f‖ < 1e-3·‖∇_hidden f(w_0)‖ and
    |f/((K−1)/K²) − 1| ≤ 10%; a run *entered Flatland* when consecutive flat measurements cover ≥ 100 steps.

Writes ``experiments/results/flatland_search.json`` (every run's numbers and the per setting × rule
aggregates) and ``experiments/results/flatland_search.md`` (the table). Usage::

    .venv/bin/python experiments/flatland_search.py                 # the full search (~15 min, 2 workers)
    .venv/bin/python experiments/flatland_search.py --settings digits-unit-4x16 --seeds 0 1 --workers 1

One BLAS thread per worker: for these tiny networks it is 2–3x faster than two.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

# Thread trap: load SciPy's BLAS (scipy.sparse.linalg) and torch before limiting threads, or SciPy keeps
# its default thread count.
import scipy.sparse.linalg  # noqa: F401
import torch
from threadpoolctl import threadpool_limits

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from eostutor.datasets import digits, gaussian_clusters  # noqa: E402
from eostutor.experiments import (  # noqa: E402
    FLATLAND_RULES,
    flatland_signature,
    json_ready,
)
from eostutor.problems import MLPProblem  # noqa: E402
from eostutor.stepsizes import RULES, make_rule  # noqa: E402
from eostutor.training import train  # noqa: E402

NUM_STEPS = 1000
SHARPNESS_EVERY = 10
SHARPNESS_TOL = 1e-2
SEEDS = (0, 1, 2, 3, 4)
PAPER_RULES = FLATLAND_RULES[:7]  # the paper's seven; the two NLS ablations run on the digits-unit settings only

#: name -> (why it is in the search, problem arguments, rules). All: ReLU MLPs, MSE over n·K outputs, biases.
SETTINGS = {
    "digits-unit-4x16": (
        "lead 1 of the issue: 4 x 16 ReLU, 1,000 digits, pixels / 16, float64",
        dict(dataset=dict(kind="digits", n_train=1000, scale="unit"), hidden=(16,) * 4),
        FLATLAND_RULES,
    ),
    "digits-unit-4x16-f32": (
        "lead 1 in float32 (does the precision matter?)",
        dict(dataset=dict(kind="digits", n_train=1000, scale="unit"), hidden=(16,) * 4, dtype="float32"),
        FLATLAND_RULES,
    ),
    "digits500-unit-4x16": (
        "lead 1 on 500 training digits (half the cost per step; does NLS-ub fit faster?)",
        dict(dataset=dict(kind="digits", n_train=500, scale="unit"), hidden=(16,) * 4),
        FLATLAND_RULES,
    ),
    "digits-unit-4x16-init2": (
        "lead 1 with the weights' initialisation scaled by 2 (larger init_scale)",
        dict(dataset=dict(kind="digits", n_train=1000, scale="unit"), hidden=(16,) * 4, init_scale=2.0),
        FLATLAND_RULES,
    ),
    "digits-raw-3x32": (
        "lead 2 of the issue: 3 x 32 ReLU on raw pixels 0..16 (no input scaling), float64",
        dict(dataset=dict(kind="digits", n_train=1000, scale="none"), hidden=(32,) * 3),
        PAPER_RULES,
    ),
    "clusters26-4x16": (
        "more classes: K = 26 overlapping Gaussian clusters in 16-D (520 train), 4 x 16 ReLU, float64",
        dict(dataset=dict(kind="clusters", num_classes=26, dim=16, n_train=520, n_test=520, separation=1.0),
             hidden=(16,) * 4),
        PAPER_RULES,
    ),
}

DETECTOR = ("a measured step is flat when |sharpness/(2/K) - 1| <= 5%, ||grad_hidden|| < 1e-3 ||grad_hidden(w_0)|| "
            "and |loss/((K-1)/K^2) - 1| <= 10%; a run entered Flatland when consecutive flat measurements "
            f"cover >= 100 steps (sharpness measured every {SHARPNESS_EVERY} steps)")

#: Text from this marker to the end of an existing .md (hand-written findings) survives a rerun.
NOTES_MARKER = "<!-- findings -->"

_PROBLEMS: dict[str, MLPProblem] = {}


def make_problem(name: str) -> MLPProblem:
    """The problem of a setting (built once per process)."""
    if name not in _PROBLEMS:
        args = dict(SETTINGS[name][1])
        dtype = torch.float32 if args.pop("dtype", "float64") == "float32" else torch.float64
        ds = dict(args.pop("dataset"))
        kind = ds.pop("kind")
        data = digits(dtype=dtype, **ds) if kind == "digits" else gaussian_clusters(dtype=dtype, **ds)
        _PROBLEMS[name] = MLPProblem(data, activation="relu", loss="mse", dtype=dtype, **args)
    return _PROBLEMS[name]


def _init_worker():
    threadpool_limits(limits=1)
    torch.set_num_threads(1)


def run_one(task: tuple[str, str, int, int]) -> dict:
    """Train one (setting, rule, seed) and return the detector's numbers plus a few run facts."""
    setting, rule_name, seed, num_steps = task
    problem = make_problem(setting)
    rule = make_rule(rule_name)
    start = time.perf_counter()
    run = train(problem, rule, num_steps, seed=seed, sharpness_every=SHARPNESS_EVERY,
                sharpness_tol=SHARPNESS_TOL)
    sig = flatland_signature(run)
    es = run.eta_sharpness[np.isfinite(run.eta_sharpness)]
    sig.update({
        "setting": setting, "rule": rule_name, "seed": seed,
        "wall_time": time.perf_counter() - start,
        "median_eta": float(np.nanmedian(run.eta)),
        "frac_eta_sharpness_gt_2": float(np.mean(es > 2)) if es.size else math.nan,
        "initial_sharpness": float(run.sharpness[0]),
    })
    return sig


def _nanmedian(values) -> float:
    x = np.asarray([v for v in values if v is not None], dtype=float)
    x = x[np.isfinite(x)]
    return float(np.median(x)) if x.size else math.nan


def _nanmean(values) -> float:
    x = np.asarray([v for v in values if v is not None], dtype=float)
    x = x[np.isfinite(x)]
    return float(np.mean(x)) if x.size else math.nan


def aggregate(records: list[dict]) -> dict:
    """Per setting x rule: k of n seeds in Flatland and the medians/means of the key numbers."""
    table: dict = {}
    for setting in SETTINGS:
        for rule in FLATLAND_RULES:
            rs = sorted((r for r in records if r["setting"] == setting and r["rule"] == rule),
                        key=lambda r: r["seed"])
            if not rs:
                continue
            flat = [r for r in rs if r["flatland"]]
            table.setdefault(setting, {})[rule] = {
                "k": len(flat),
                "n": len(rs),
                "flatland_seeds": [r["seed"] for r in flat],
                "mean_steps_in_flatland_if_flat": _nanmean([r["steps_in_flatland"] for r in flat]),
                "median_first_flat_step": _nanmedian([r["first_flat_step"] for r in flat]),
                "mean_steps_near_floor": _nanmean([r["steps_near_floor"] for r in rs]),
                "median_plateau_over_prior": _nanmedian([r["plateau_over_prior"] for r in flat]),
                "median_hidden_bias_ratio_flat": _nanmedian([r["hidden_bias_ratio"] for r in flat]),
                "median_hidden_bias_ratio_other": _nanmedian([r["hidden_bias_ratio"] for r in rs
                                                              if not r["flatland"]]),
                "median_final_loss": _nanmedian([r["final_loss"] for r in rs]),
                "mean_final_test_accuracy": _nanmean([r["final_test_accuracy"] for r in rs]),
                "mean_final_test_accuracy_flat": _nanmean([r["final_test_accuracy"] for r in flat]),
                "mean_final_test_accuracy_other": _nanmean([r["final_test_accuracy"] for r in rs
                                                            if not r["flatland"]]),
                "diverged": sum(r["diverged"] for r in rs),
                "mean_wall_time": _nanmean([r["wall_time"] for r in rs]),
            }
    return table


def _fmt(x, spec=".2g") -> str:
    return "–" if x is None or (isinstance(x, float) and not math.isfinite(x)) else format(x, spec)


def _load(meta: dict) -> str:
    load = meta.get("load_average_start_end")
    return f", 1-min load average {load[0]:.1f} → {load[1]:.1f} on the shared box" if load else ""


def markdown(table: dict, meta: dict) -> str:
    lines = [
        "# Flatland search: which laptop-CPU settings show NLS stuck at the 2/K floor?",
        "",
        f"Generated by `experiments/flatland_search.py` on {meta['date']} ({meta['wall_time_min']:.1f} min wall, "
        f"{meta['workers']} workers, 1 BLAS thread each{_load(meta)}). {meta['num_steps']} full-batch steps per run, "
        f"seeds {meta['seeds']}, sharpness by warm-started Lanczos every {SHARPNESS_EVERY} steps "
        f"(relative residual {SHARPNESS_TOL:g}). All networks: ReLU MLPs with biases, MSE averaged over n·K "
        "outputs (floor 2/K, prior loss (K−1)/K²), PyTorch-default initialisation.",
        "",
        f"**Detector** (`eostutor.experiments.flatland_signature`): {DETECTOR}.",
        "",
        "Columns: **k/n** seeds that entered Flatland (their seeds); **steps** mean steps in Flatland over "
        "those seeds (of 1,000); **first** median first flat step; **plateau/prior** median plateau loss ÷ "
        "(K−1)/K²; **hid/bias** median ‖∇hidden‖/‖∇last bias‖ in Flatland (outside Flatland over the last "
        "100 steps, other seeds); **final loss** median over all seeds; **test acc** mean over all seeds "
        "(Flatland seeds / others); **div** runs that diverged.",
        "",
    ]
    for setting, rules in table.items():
        lines += [f"## `{setting}`: {SETTINGS[setting][0]}", "",
                  "| rule | k/n (seeds) | steps | first | plateau/prior | hid/bias (flat; other) | final loss "
                  "| test acc (flat / other) | div |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for rule, r in rules.items():
            seeds = ",".join(str(s) for s in r["flatland_seeds"])
            lines.append(
                f"| {RULES[rule].label} | {r['k']}/{r['n']}{f' ({seeds})' if seeds else ''} "
                f"| {_fmt(r['mean_steps_in_flatland_if_flat'], '.0f')} | {_fmt(r['median_first_flat_step'], '.0f')} "
                f"| {_fmt(r['median_plateau_over_prior'], '.3f')} "
                f"| {_fmt(r['median_hidden_bias_ratio_flat'])}; {_fmt(r['median_hidden_bias_ratio_other'])} "
                f"| {_fmt(r['median_final_loss'], '.2g')} "
                f"| {_fmt(r['mean_final_test_accuracy'], '.2f')} ({_fmt(r['mean_final_test_accuracy_flat'], '.2f')}"
                f" / {_fmt(r['mean_final_test_accuracy_other'], '.2f')}) | {r['diverged']} |")
        lines.append("")
    return "\n".join(lines) + "\n"


def write_markdown(path: Path, table: dict, meta: dict) -> None:
    """Write the tables, keeping any hand-written findings (from ``NOTES_MARKER`` on) of an existing file."""
    notes = ""
    if path.exists() and NOTES_MARKER in path.read_text():
        old = path.read_text()
        notes = "\n" + old[old.index(NOTES_MARKER):]
    path.write_text(markdown(table, meta) + notes)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--rules", nargs="+", default=list(FLATLAND_RULES), choices=list(FLATLAND_RULES),
                        help="rules to run (each setting runs only those of its own list)")
    parser.add_argument("--seeds", nargs="+", type=int, default=list(SEEDS))
    parser.add_argument("--steps", type=int, default=NUM_STEPS)
    parser.add_argument("--workers", type=int, default=2, help="processes (at most 2 on a shared 2-core box)")
    parser.add_argument("--out", default=str(ROOT / "experiments" / "results" / "flatland_search"),
                        help="output path without extension (.json and .md are written)")
    parser.add_argument("--markdown-only", action="store_true",
                        help="only rebuild the .md table from the existing .json (no training)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    if args.markdown_only:
        data = json.loads(out.with_suffix(".json").read_text())
        write_markdown(out.with_suffix(".md"), data["table"], data["meta"])
        print(f"wrote {out.with_suffix('.md')}")
        return 0
    _init_worker()

    # Expensive settings first so that the two workers finish together.
    cost = {"digits-raw-3x32": 3, "clusters26-4x16": 2}
    tasks = [(s, r, seed, args.steps) for s in sorted(args.settings, key=lambda s: -cost.get(s, 1))
             for seed in args.seeds for r in args.rules if r in SETTINGS[s][2]]
    start = time.perf_counter()
    load_start = os.getloadavg()[0]  # the box is shared: say how busy it was
    records = []
    ctx = mp.get_context("fork")
    with ctx.Pool(max(1, min(args.workers, 2)), initializer=_init_worker) as pool:
        for i, rec in enumerate(pool.imap_unordered(run_one, tasks), 1):
            records.append(rec)
            elapsed = time.perf_counter() - start
            print(f"[{i:3d}/{len(tasks)} {elapsed / 60:5.1f} min, eta {elapsed / i * (len(tasks) - i) / 60:4.1f} min] "
                  f"{rec['setting']:24s} {rec['rule']:14s} seed {rec['seed']}: "
                  f"{'FLATLAND' if rec['flatland'] else 'ok      '} final loss {rec['final_loss']:.3g} "
                  f"test {rec['final_test_accuracy']:.2f} ({rec['wall_time']:.1f}s)", flush=True)
    wall = time.perf_counter() - start
    records.sort(key=lambda r: (list(SETTINGS).index(r["setting"]), FLATLAND_RULES.index(r["rule"]), r["seed"]))
    meta = {
        "date": time.strftime("%Y-%m-%d"),
        "wall_time_min": wall / 60,
        "load_average_start_end": [load_start, os.getloadavg()[0]],
        "workers": min(args.workers, 2),
        "num_steps": args.steps,
        "seeds": args.seeds,
        "sharpness_every": SHARPNESS_EVERY,
        "sharpness_tol": SHARPNESS_TOL,
        "detector": DETECTOR,
        "settings": {k: {"why": v[0], "args": v[1], "rules": list(v[2]), "problem": repr(make_problem(k))}
                     for k, v in SETTINGS.items() if k in args.settings},
        "rules": {r: repr(make_rule(r)) + " (cap or peak from K where unset)" for r in args.rules},
        "versions": {"torch": torch.__version__, "numpy": np.__version__, "python": platform.python_version(),
                     "machine": platform.machine()},
    }
    table = aggregate(records)
    out.parent.mkdir(parents=True, exist_ok=True)

    out.with_suffix(".json").write_text(json.dumps(json_ready({"meta": meta, "table": table, "runs": records}),
                                                   indent=1) + "\n")
    write_markdown(out.with_suffix(".md"), table, meta)
    print(f"wrote {out.with_suffix('.json')} and {out.with_suffix('.md')} ({wall / 60:.1f} min)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
