"""``python -m eostutor``: the headless entry point."""

import json
import subprocess
import sys

import pytest

from eostutor.cli import main
from eostutor.record import Run


def test_list_names_every_problem_rule_and_experiment(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in ("quadratic", "minimalist", "mlp", "digits", "nls", "nls-ub", "cdat", "adgd", "eos", "adaptive"):
        assert name in out


def test_run_saves_a_run_and_a_dashboard(tmp_path, capsys):
    out = tmp_path / "q"
    code = main(["run", "--problem", "quadratic", "-p", "eigenvalues=[1.0, 10.0]", "--eta", "0.19",
                 "--steps", "100", "--sharpness-every", "1", "--out", str(out)])
    assert code == 0
    run = Run.load(out / "run.npz")
    assert run.num_steps == 100 and not run.diverged and run.sharpness[0] == pytest.approx(10.0)
    assert (out / "dashboard.png").stat().st_size > 10_000
    assert "final loss" in capsys.readouterr().out


def test_run_reports_divergence_as_a_result(tmp_path, capsys):
    code = main(["run", "--problem", "quadratic", "-p", "eigenvalues=[10.0]", "--eta", "0.3", "--steps", "500",
                 "--out", str(tmp_path)])
    assert code == 0
    assert "diverged at step" in capsys.readouterr().out
    assert Run.load(tmp_path / "run.npz").diverged


def test_run_a_network_with_a_line_search(tmp_path):
    code = main(["run", "--problem", "mlp", "--dataset", "digits", "-d", "n_train=100", "-p", "hidden=(8,)",
                 "--rule", "nls-ub", "--steps", "10", "--sharpness-every", "5", "--float32",
                 "--out", str(tmp_path)])
    assert code == 0
    run = Run.load(tmp_path / "run.npz")
    assert run.settings.rule == "nls-ub" and run.settings.dtype == "float32"
    assert (run.eta < 10).all()


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["run", "--rule", "nope"], "unknown rule 'nope'"),
        (["run", "--problem", "nope"], "unknown problem 'nope'"),
        (["run", "--eta", "-1"], "eta must be a finite number > 0"),
        (["run", "--eta", "0.1", "--steps", "0"], "num_steps"),
        (["run"], "--eta"),
        (["run", "--eta", "0.1", "-r", "capp=3"], "unknown argument"),
        (["run", "-p", "hidden"], "key=value"),
        (["reproduce", "nope"], "unknown experiment 'nope'"),
        (["--threads", "0", "list"], "--threads"),
    ],
)
def test_bad_arguments_give_one_line_and_exit_code_2(argv, needle, capsys, tmp_path):
    if argv[0] == "run":
        argv = [*argv, "--out", str(tmp_path)]
    code = _exit_code(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert needle in err
    assert len(err.splitlines()) == 1
    assert "Traceback" not in err


def _exit_code(argv):
    try:
        return main(argv)
    except SystemExit as exc:  # argparse's own errors
        return exc.code


def test_argparse_errors_are_one_line_too(capsys):
    assert _exit_code(["run", "--steps", "many"]) == 2
    err = capsys.readouterr().err.strip()
    assert "invalid int value" in err and len(err.splitlines()) == 1


def test_help_works_for_every_subcommand():
    for sub in ([], ["run"], ["reproduce"], ["figures"], ["list"]):
        proc = subprocess.run([sys.executable, "-m", "eostutor", *sub, "--help"], capture_output=True, text=True,
                              timeout=120)
        assert proc.returncode == 0 and "usage:" in proc.stdout


@pytest.mark.slow
def test_reproduce_eos_fast_writes_figures_runs_and_a_summary(tmp_path):
    assert main(["reproduce", "eos", "--fast", "--out", str(tmp_path)]) == 0
    folder = tmp_path / "eos"
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["experiment"] == "eos"
    run_summary = next(iter(summary["summary"].values()))
    assert run_summary["first_step_at_edge"] is not None  # even the fast run reaches 2/η
    assert (folder / "dashboard.png").stat().st_size > 10_000
    assert any(p.suffix == ".npz" for p in folder.iterdir())
