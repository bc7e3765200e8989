"""``python -m eostutor``: the headless entry point.

Subcommands: ``list`` (problems, datasets, rules, experiments), ``run`` (train any problem with any rule,
save the run and a dashboard PNG), ``reproduce NAME`` (a headline experiment: PNGs, runs and a JSON
summary) and ``figures OUTDIR`` (the gallery of every plot, for the README).

Bad arguments print one line and exit with code 2, and every argument (the output folder included) is
checked before any training starts. Ctrl-C stops the whole command with exit code 130 and writes nothing:
results are built in a temporary folder and moved into place only when complete, so earlier results in
the output folder stay as they were.
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
from pathlib import Path

__all__ = ["main"]

_DESCRIPTION = "Train, reproduce and draw the eostutor experiments without a notebook."
_EPILOG = """\
Examples:
  python -m eostutor list
  python -m eostutor run --problem quadratic -p "eigenvalues=[1.0, 10.0]" --eta 0.19 --steps 200
  python -m eostutor reproduce eos --fast --out results
  python -m eostutor reproduce adam --fast --out results
  python -m eostutor figures notebooks/figures

Exit codes: 0 done; 2 bad arguments (one line on stderr, checked before any training); 130 interrupted
(Ctrl-C: nothing written, earlier results in the output folder are left as they were); 1 the results
could not be written (a full disk: earlier results are left as they were)."""

# Set by dedicated options, never through -p / -d: the CLI passes them itself.
_RESERVED = {
    "--problem-arg": {"dtype": "use --float32 (float64 is the default)",
                      "dataset": "use --dataset and -d KEY=VALUE"},
    "--dataset-arg": {"dtype": "use --float32 (float64 is the default)"},
}


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one clear line, exit code 2 (argparse's convention)
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _key_values(items, what):
    out = {}
    for item in items or []:
        if "=" not in item:
            raise ValueError(f"{what} option {item!r} must look like key=value")
        key, raw = item.split("=", 1)
        key = key.strip().replace("-", "_")
        if not key.isidentifier():
            raise ValueError(f"{what} option {item!r}: {key!r} is not an argument name")
        if key in _RESERVED.get(what, {}):
            raise ValueError(f"{what} {key}=... is not an option here: {_RESERVED[what][key]}")
        try:
            value = ast.literal_eval(raw)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            value = raw  # a bare word: keep it as a string
        out[key] = value
    return out


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m eostutor", description=_DESCRIPTION, epilog=_EPILOG,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (default 1: fastest for these small problems)")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    sub.add_parser("list", help="list problems, datasets, step-size rules and experiments")

    run = sub.add_parser("run", help="train one problem with one rule; save the run and a dashboard PNG",
                         description="Train one problem with one step-size rule and save run.npz and "
                                     "dashboard.png into the output folder (other files there are kept).",
                         formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    run.add_argument("--problem", default="quadratic", help="problem name (see the list command)")
    run.add_argument("--dataset", default=None, help="dataset for data problems (e.g. digits)")
    run.add_argument("--rule", default="constant", help="step-size rule name (see the list command)")
    run.add_argument("--eta", type=float, default=None,
                     help="the rule's step-size parameter: η for constant, η₀ for the line searches, the cap of nls-ub "
                          "(see the list command)")
    run.add_argument("--steps", type=int, default=500, help="number of steps")
    run.add_argument("--seed", type=int, default=0, help="initialisation seed")
    run.add_argument("--sharpness-every", type=int, default=10, help="measure λ_max every k steps (0: never)")
    run.add_argument("--momentum", type=float, default=0.0, help="heavy-ball β (constant/warmup rules only)")
    run.add_argument("--batch-size", type=int, default=None,
                     help="mini-batch size for SGD (default: full batch; data problems only)")
    run.add_argument("--nesterov", action="store_true", help="Nesterov instead of heavy-ball momentum")
    run.add_argument("-p", "--problem-arg", action="append", metavar="KEY=VALUE",
                     help="extra problem argument, e.g. -p hidden=(16,16) -p activation=relu")
    run.add_argument("-d", "--dataset-arg", action="append", metavar="KEY=VALUE",
                     help="extra dataset argument, e.g. -d n_train=500 -d scale=unit")
    run.add_argument("-r", "--rule-arg", action="append", metavar="KEY=VALUE",
                     help="extra rule argument, e.g. -r cap=5")
    run.add_argument("--float32", action="store_true", help="use float32 (faster; default float64)")
    run.add_argument("--out", default="eostutor-run", help="output folder")
    run.add_argument("--progress", action="store_true", help="show a progress bar")

    rep = sub.add_parser("reproduce", help="run a headline experiment and save its figures, runs and summary",
                         description="Run a headline experiment and save its runs, summary.json and figures "
                                     "into OUT/NAME, which is replaced as a whole once everything is written "
                                     "(it must be new, empty or an earlier result).")
    rep.add_argument("name", help="experiment name (see the list command)")
    rep.add_argument("--fast", action="store_true", help="a shortened version (seconds, for tests)")
    rep.add_argument("--out", default="eostutor-results", help="output folder (a subfolder per experiment)")
    rep.add_argument("--progress", action="store_true", help="show progress bars")

    fig = sub.add_parser("figures", help="render the gallery PNG of each plot from fixed-seed runs")
    fig.add_argument("outdir", help="output folder")
    fig.add_argument("--fast", action="store_true", help="shorter runs")
    return parser


def _cmd_list() -> int:
    from eostutor.datasets import DATASETS
    from eostutor.experiments import EXPERIMENTS
    from eostutor.problems import PROBLEMS
    from eostutor.stepsizes import RULES

    rules = {name: (cls, f"{cls.description}" + (f" (--eta sets {cls.eta_param})" if cls.eta_param else ""))
             for name, cls in RULES.items()}
    for title, table in (("problems", PROBLEMS), ("datasets", DATASETS), ("rules", rules),
                         ("experiments", EXPERIMENTS)):
        print(f"{title}:")
        width = max(len(k) for k in table)
        for key, (_, text) in table.items():
            print(f"  {key:<{width}}  {text}")
    return 0


def _check_run_args(args) -> None:
    """The numbers of ``run``, checked before anything is built (the messages name the option)."""
    from eostutor._validate import check_in_range, check_int, check_positive
    from eostutor.training import MAX_STEPS

    check_int("--steps", args.steps, minimum=1, maximum=MAX_STEPS)
    check_int("--seed", args.seed, minimum=0, maximum=2**63 - 1)
    check_int("--sharpness-every", args.sharpness_every, minimum=0)
    check_in_range("--momentum", args.momentum, 0.0, 1.0, high_inclusive=False)
    if args.batch_size is not None:
        check_int("--batch-size", args.batch_size, minimum=1)
    if args.eta is not None:
        check_positive("--eta", args.eta)


def _cmd_run(args) -> int:
    from eostutor.experiments.base import check_writable_folder

    _check_run_args(args)
    out = check_writable_folder(args.out)
    pkw = _key_values(args.problem_arg, "--problem-arg")
    dkw = _key_values(args.dataset_arg, "--dataset-arg")
    rkw = _key_values(args.rule_arg, "--rule-arg")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch

    from eostutor import plots
    from eostutor._io import atomic_files
    from eostutor.datasets import make_dataset
    from eostutor.experiments.base import stop_if_interrupted
    from eostutor.problems import PROBLEMS, make_problem
    from eostutor.stepsizes import make_rule
    from eostutor.training import train

    dtype = torch.float32 if args.float32 else torch.float64
    if args.problem in ("linear", "mlp"):
        pkw["dataset"] = make_dataset(args.dataset or "digits", dtype=dtype, **dkw)
        pkw["dtype"] = dtype
    elif args.dataset or dkw:
        raise ValueError(f"problem {args.problem!r} takes no dataset")
    elif args.problem in PROBLEMS:
        pkw.setdefault("dtype", dtype)
    problem = make_problem(args.problem, **pkw)
    eta = args.eta
    if "eta" in rkw:  # -r eta=... is the same as --eta
        if eta is not None:
            raise ValueError("give the step size once: --eta or -r eta=..., not both")
        eta = rkw.pop("eta")
    if args.rule == "constant" and eta is None:
        raise ValueError("the constant rule needs a step size: add --eta, e.g. --eta 0.1")
    rule = make_rule(args.rule, eta=eta, **rkw)
    run = train(problem, rule, args.steps, seed=args.seed, sharpness_every=args.sharpness_every,
                momentum=args.momentum, nesterov=args.nesterov, progress=args.progress, batch_size=args.batch_size)
    stop_if_interrupted(run)  # Ctrl-C during training: nothing is written
    with atomic_files(out) as tmp:  # run.npz and dashboard.png replace earlier ones together, or not at all
        run.save(tmp / "run.npz")
        fig, _ = plots.dashboard([run])
        fig.savefig(tmp / "dashboard.png", dpi="figure")  # the figure's own size: at most 900 px wide
        plt.close(fig)
    s = run.summary()
    status = f"diverged at step {run.diverged_at}" if run.diverged else f"final loss {s['final_loss']:.4g}"
    print(f"{run!r}: {status}; wrote {out / 'run.npz'} and {out / 'dashboard.png'}")
    return 0


def _cmd_reproduce(args) -> int:
    from eostutor._validate import check_choice
    from eostutor.experiments import EXPERIMENTS
    from eostutor.experiments.base import check_result_folder

    check_choice("experiment", args.name, EXPERIMENTS)
    out = check_result_folder(Path(args.out) / args.name)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from eostutor import plots
    from eostutor._io import atomic_folder
    from eostutor.experiments import run_experiment

    exp = run_experiment(args.name, fast=args.fast, progress=args.progress)  # Ctrl-C: KeyboardInterrupt
    with atomic_folder(out) as tmp:  # written whole, then moved over any earlier result
        names = exp._write_files(tmp)
        # Experiments over many seeds name the runs to show (the featured seed); the others are in the files.
        shown = [exp.runs[label] for label in exp.summary.get("featured", list(exp.runs))]
        for name, fig in _figures(exp.name, shown):
            fig.savefig(tmp / name, dpi="figure")  # every figure's own size: at most 900 px wide
            plt.close(fig)
            names.append(name)
        snap = [run for run in shown if "eig_values" in run.arrays]
        if snap:  # top and bottom eigenvalues at chosen iterations (Flatland: 2/K cluster, negative ones)
            width = min(9.0, 4.5 * len(snap))  # inches at 100 dpi: at most 900 px for any number of panels
            fig, axs = plt.subplots(1, len(snap), figsize=(width, 3.6), dpi=100, layout="constrained",
                                    squeeze=False)
            for ax, run in zip(axs[0], snap):
                plots.eigenvalue_snapshots(run, ax=ax)
            fig.savefig(tmp / "eigenvalues.png", dpi="figure")
            plt.close(fig)
            names.append("eigenvalues.png")
    print(json.dumps({"experiment": exp.name, "written": [str(out / name) for name in names]}, indent=2))
    return 0


def _figures(name: str, shown) -> list:
    """(file name, figure) of an experiment: a dashboard, or for Adam and SGD the curvature each is stable
    against next to its own threshold (a dashboard would compare Adam's λ_max with 2/η).
    """
    from eostutor import plots
    from eostutor.plots import practice

    if name == "adam":
        fig, _ = practice.adam_figure(shown[0], title=f"{shown[0].label}: λ_max(P⁻¹H) climbs to its threshold "
                                                      "and stays while the loss falls")
        ax = practice.edge_ratio(shown, title="Adam's β₁ moves the edge: each run at its own threshold")
        return [("adam.png", fig), ("edge_ratio.png", ax.figure)]
    if name == "sgd":
        fig, _ = practice.sgd_figure(shown, title="The smaller the batch, the flatter the end; the batch sharpness "
                                                  "sits below but near 2/η")
        ax = plots.loss(shown, title="Full-batch training loss")
        return [("sgd.png", fig), ("loss.png", ax.figure)]
    return [("dashboard.png", plots.dashboard(shown)[0])]


def _cmd_figures(args) -> int:
    from eostutor.experiments.base import check_writable_folder

    outdir = check_writable_folder(args.outdir)
    import matplotlib

    matplotlib.use("Agg")
    from eostutor._io import atomic_files
    from eostutor.gallery import render_gallery

    with atomic_files(outdir) as tmp:  # all the PNGs replace earlier ones at the end, or none on Ctrl-C
        names = [path.name for path in render_gallery(tmp, fast=args.fast)]
    for name in names:
        print(outdir / name)
    return 0


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__


def main(argv=None) -> int:
    """Entry point of ``python -m eostutor``; returns the exit code (0; 2 bad arguments; 130 Ctrl-C; 1 a failed
    write).
    """
    parser = _build_parser()
    try:
        args = parser.parse_args(argv)
        if args.threads < 1:
            parser.error(f"--threads must be >= 1, got {args.threads}")
        import scipy.sparse.linalg  # noqa: F401  (load SciPy's BLAS before limiting threads)
        import torch

        torch.set_num_threads(args.threads)
        commands = {"list": lambda: _cmd_list(), "run": lambda: _cmd_run(args),
                    "reproduce": lambda: _cmd_reproduce(args), "figures": lambda: _cmd_figures(args)}
        return commands[args.command]()
    except ValueError as err:
        print(f"{parser.prog}: error: {_one_line(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{parser.prog}: interrupted (nothing written; earlier results left as they were)", file=sys.stderr)
        return 130
    except OSError as err:  # the disk filled up, a folder vanished ...: what was there before is intact
        print(f"{parser.prog}: could not write the results: {_one_line(err)} (earlier results left as they were)",
              file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
