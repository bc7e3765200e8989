"""``python -m eostutor``: the headless entry point."""

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
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


def test_rule_option_eta_is_the_same_as_eta(tmp_path):
    assert main(["run", "-r", "eta=0.19", "--steps", "5", "--out", str(tmp_path / "a")]) == 0
    assert main(["run", "--rule", "nls", "-r", "eta=0.3", "--steps", "3", "--out", str(tmp_path / "b")]) == 0
    assert Run.load(tmp_path / "a" / "run.npz").eta.tolist() == [0.19] * 5
    assert Run.load(tmp_path / "b" / "run.npz").settings.rule_params["eta0"] == 0.3


def test_run_a_network_with_a_line_search(tmp_path):
    code = main(["run", "--problem", "mlp", "--dataset", "digits", "-d", "n_train=100", "-p", "hidden=(8,)",
                 "--rule", "nls-ub", "--steps", "10", "--sharpness-every", "5", "--float32",
                 "--out", str(tmp_path)])
    assert code == 0
    run = Run.load(tmp_path / "run.npz")
    assert run.settings.rule == "nls-ub" and run.settings.dtype == "float32"
    assert (run.eta < 10).all()


def test_run_with_mini_batches(tmp_path):
    code = main(["run", "--problem", "mlp", "--dataset", "digits", "-d", "n_train=64", "-p", "hidden=(8,)",
                 "--eta", "0.5", "--steps", "12", "--batch-size", "16", "--sharpness-every", "6", "--out",
                 str(tmp_path)])
    assert code == 0
    run = Run.load(tmp_path / "run.npz")
    assert run.settings.batch_size == 16 and np.isfinite(run.batch_loss).all()
    assert np.isfinite(run.batch_sharpness[::6]).all()  # measured with the sharpness


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["run", "--rule", "nope"], "unknown rule 'nope'"),
        (["run", "--problem", "nope"], "unknown problem 'nope'"),
        (["run", "--eta", "-1"], "eta must be a finite number > 0"),
        (["run", "--eta", "0.1", "--steps", "0"], "--steps must be an integer in [1, 10000000], got 0"),
        (["run", "--eta", "0.1", "--batch-size", "0"], "--batch-size must be an integer"),
        (["run", "--eta", "0.1", "--batch-size", "8"], "batch"),  # the quadratic has no examples to batch
        (["run"], "--eta"),
        (["run", "--eta", "0.1", "-r", "capp=3"], "unknown argument"),
        (["run", "-p", "hidden"], "key=value"),
        (["run", "--eta", "0.1", "-r", "eta=0.2"], "--eta or -r eta=..., not both"),
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
    assert run_summary["min_loss"] <= run_summary["final_loss"]
    assert (folder / "dashboard.png").stat().st_size > 10_000
    assert sorted(p.name for p in folder.iterdir()) == ["GD_eta_2.npz", "dashboard.png", "summary.json"]


# -- everything is checked before any training ----------------------------------------------------------
def _no_work(monkeypatch):
    """Make any training, experiment or gallery call fail the test: errors must come before the work."""
    import eostutor.experiments
    import eostutor.gallery
    import eostutor.training

    def forbidden(*args, **kwargs):
        raise AssertionError("work started before the arguments were checked")

    monkeypatch.setattr(eostutor.training, "train", forbidden)
    monkeypatch.setattr(eostutor.experiments, "run_experiment", forbidden)
    monkeypatch.setattr(eostutor.gallery, "render_gallery", forbidden)


def _cuda_missing():
    import torch

    return not torch.cuda.is_available()


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["run", "--eta", "0.1", "--out", "{file}"], "is a file, not a folder"),
        (["run", "--eta", "0.1", "--out", "{file}/sub"], "cannot be created"),
        (["run", "--problem", "mlp", "-d", "bogus=1"], "unknown argument(s) 'bogus' for dataset 'digits'"),
        (["run", "--problem", "mlp", "-d", "dtype=float16"], "--dataset-arg dtype=... is not an option here"),
        (["run", "--problem", "mlp", "-p", "dtype=float16"], "--problem-arg dtype=... is not an option here"),
        (["run", "--problem", "mlp", "-p", "dataset=digits"], "use --dataset"),
        (["run", "--problem", "mlp", "-p", "bias=no"], "bias must be True or False, got 'no'"),
        pytest.param(["run", "--problem", "mlp", "-p", "device=cuda"], "CUDA",
                     marks=pytest.mark.skipif(not _cuda_missing(), reason="this torch has CUDA")),
        (["run", "--eta", "0.1", "--steps", "1000000000"], "--steps must be an integer in [1, 10000000]"),
        (["run", "--eta", "0.1", "--seed", "-1"], "--seed must be an integer"),
        (["run", "--eta", "0.1", "--seed", str(2**70)], "--seed must be an integer"),
        (["run", "--eta", "0.1", "--momentum", "1.5"], "--momentum must be a number in [0.0, 1.0)"),
        (["run", "--eta", "0.1", "-p", "=3"], "is not an argument name"),
        (["reproduce", "flatland", "--out", "{file}"], "cannot be created"),
        (["reproduce", "eos", "--out", "{foreign}"], "holds other files and no saved experiment"),
        (["figures", "{file}"], "is a file, not a folder"),
        pytest.param(["run", "--eta", "0.1", "--out", "/proc/eostutor-test"], "cannot write into",
                     marks=pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs /proc")),
    ],
)
def test_bad_arguments_are_refused_before_any_training(argv, needle, tmp_path, capsys, monkeypatch):
    _no_work(monkeypatch)
    file = tmp_path / "a-file"
    file.write_text("mine")
    foreign = tmp_path / "foreign"
    (foreign / "eos").mkdir(parents=True)
    (foreign / "eos" / "notes.txt").write_text("my notes")
    argv = [a.format(file=file, foreign=foreign) for a in argv]
    if argv[0] == "run" and "--out" not in argv:
        argv += ["--out", str(tmp_path / "out")]
    code = _exit_code(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert needle in err
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert file.read_text() == "mine" and (foreign / "eos" / "notes.txt").read_text() == "my notes"
    assert not (tmp_path / "out").exists()


def test_help_shows_no_rst_markup(capsys):
    for sub in ([], ["run"], ["reproduce"], ["figures"], ["list"]):
        assert _exit_code([*sub, "--help"]) == 0
        out = capsys.readouterr().out
        assert "usage:" in out
        assert "`" not in out, f"raw RST backticks in `{' '.join(sub)} --help`"


# -- file names, summaries, and interrupted writes --------------------------------------------------------
def _tiny_experiment(name="eos"):
    """A two-run experiment on a quadratic, with the non-ASCII labels the real ones have."""
    import eostutor as eos
    from eostutor.experiments import Experiment

    q = eos.Quadratic([1.0, 10.0])
    runs = {}
    for eta in (0.1, 0.15):
        run = eos.train(q, eta, 20, sharpness_every=1)
        runs[run.label] = run
    runs["NLS, η₀ = 0.3"] = eos.train(q, eos.make_rule("nls", eta=0.3), 20, sharpness_every=1)
    summary = {label: run.summary() for label, run in runs.items()}
    return Experiment(name, "a tiny experiment for tests", q, runs, summary, {"fast": True})


def _tree(folder):
    """relative path -> bytes of every file under folder (hidden ones included)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_reproduce_writes_ascii_file_names(tmp_path, monkeypatch, capsys):
    import eostutor.experiments

    monkeypatch.setattr(eostutor.experiments, "run_experiment", lambda name, **kw: _tiny_experiment(name))
    assert main(["reproduce", "eos", "--out", str(tmp_path)]) == 0
    names = sorted(p.name for p in (tmp_path / "eos").iterdir())
    assert names == ["GD_eta_0.1.npz", "GD_eta_0.15.npz", "NLS_eta0_0.3.npz", "dashboard.png", "summary.json"]
    summary = json.loads((tmp_path / "eos" / "summary.json").read_text())
    assert summary["files"]["GD, η = 0.1"] == "GD_eta_0.1.npz"
    written = json.loads(capsys.readouterr().out)["written"]
    assert sorted(written) == sorted(str(tmp_path / "eos" / n) for n in names)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["eos"]  # no temporary folder left behind


def test_reproduce_replaces_an_earlier_result_as_a_whole(tmp_path, monkeypatch):
    import eostutor.experiments

    folder = tmp_path / "eos"
    folder.mkdir()
    (folder / "summary.json").write_text(json.dumps({"experiment": "eos"}))
    (folder / "stale_seed_3.npz").write_bytes(b"an old run this experiment does not write any more")
    monkeypatch.setattr(eostutor.experiments, "run_experiment", lambda name, **kw: _tiny_experiment(name))
    assert main(["reproduce", "eos", "--out", str(tmp_path)]) == 0
    assert not (folder / "stale_seed_3.npz").exists()
    assert json.loads((folder / "summary.json").read_text())["description"] == "a tiny experiment for tests"


def _interrupting_savefig(monkeypatch):
    """Figure.savefig writes half a PNG and then Ctrl-C arrives."""
    from matplotlib.figure import Figure

    def savefig(self, fname, *args, **kwargs):
        with open(fname, "wb") as fh:
            fh.write(b"\x89PNG\r\n\x1a\n truncated")
        raise KeyboardInterrupt

    monkeypatch.setattr(Figure, "savefig", savefig)


def test_ctrl_c_while_plotting_leaves_the_earlier_reproduce_result(tmp_path, monkeypatch, capsys):
    import eostutor.experiments

    monkeypatch.setattr(eostutor.experiments, "run_experiment", lambda name, **kw: _tiny_experiment(name))
    assert main(["reproduce", "eos", "--out", str(tmp_path)]) == 0
    before = _tree(tmp_path)
    assert Run.load(tmp_path / "eos" / "GD_eta_0.1.npz").num_steps == 20

    monkeypatch.setattr(eostutor.experiments, "run_experiment",
                        lambda name, **kw: dataclasses.replace(_tiny_experiment(name), description="different"))
    _interrupting_savefig(monkeypatch)
    capsys.readouterr()
    assert main(["reproduce", "eos", "--out", str(tmp_path)]) == 130
    err = capsys.readouterr().err.strip()
    assert "interrupted" in err and len(err.splitlines()) == 1
    assert _tree(tmp_path) == before  # byte for byte, and no temporary folder left


def test_ctrl_c_while_plotting_leaves_the_earlier_run_result(tmp_path, monkeypatch, capsys):
    argv = ["run", "--problem", "quadratic", "-p", "eigenvalues=[1.0, 10.0]", "--eta", "0.1", "--steps", "30",
            "--out", str(tmp_path)]
    (tmp_path / "notes.txt").write_text("my notes")
    assert main(argv) == 0
    before = _tree(tmp_path)
    _interrupting_savefig(monkeypatch)
    argv[argv.index("0.1")] = "0.15"
    assert main(argv) == 130
    assert _tree(tmp_path) == before
    assert Run.load(tmp_path / "run.npz").settings.rule_params["eta"] == 0.1


def test_ctrl_c_during_training_writes_nothing(tmp_path, monkeypatch, capsys):
    import eostutor.training

    real_train = eostutor.training.train

    def interrupted_train(*args, **kwargs):
        def ctrl_c(run):
            raise KeyboardInterrupt

        return real_train(*args, **{**kwargs, "callback": ctrl_c, "callback_every": 5})

    monkeypatch.setattr(eostutor.training, "train", interrupted_train)
    out = tmp_path / "new"
    code = main(["run", "--problem", "quadratic", "--eta", "0.1", "--steps", "50", "--out", str(out)])
    assert code == 130
    assert "interrupted" in capsys.readouterr().err
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_ctrl_c_during_figures_leaves_the_earlier_pictures(tmp_path, monkeypatch, capsys):
    import eostutor.gallery

    (tmp_path / "loss.png").write_bytes(b"an earlier picture")

    def render_gallery(outdir, fast=False):
        (Path(outdir) / "loss.png").write_bytes(b"a new picture")
        (Path(outdir) / "sharpness.png").write_bytes(b"another")
        raise KeyboardInterrupt

    monkeypatch.setattr(eostutor.gallery, "render_gallery", render_gallery)
    assert main(["figures", str(tmp_path)]) == 130
    assert sorted(p.name for p in tmp_path.iterdir()) == ["loss.png"]
    assert (tmp_path / "loss.png").read_bytes() == b"an earlier picture"


def test_figures_moves_every_picture_into_place(tmp_path, monkeypatch, capsys):
    import eostutor.gallery

    def render_gallery(outdir, fast=False):
        paths = [Path(outdir) / "loss.png", Path(outdir) / "sharpness.png"]
        for path in paths:
            path.write_bytes(b"png")
        return paths

    monkeypatch.setattr(eostutor.gallery, "render_gallery", render_gallery)
    assert main(["figures", str(tmp_path / "figs")]) == 0
    assert sorted(p.name for p in (tmp_path / "figs").iterdir()) == ["loss.png", "sharpness.png"]
    assert capsys.readouterr().out.split() == [str(tmp_path / "figs" / "loss.png"),
                                               str(tmp_path / "figs" / "sharpness.png")]


def test_a_failed_write_is_one_line_and_leaves_the_earlier_result(tmp_path, monkeypatch, capsys):
    import errno

    argv = ["run", "--eta", "0.1", "--steps", "10", "--out", str(tmp_path)]
    assert main(argv) == 0
    before = _tree(tmp_path)

    def disk_full(self, path):
        Path(path).write_bytes(b"half a file")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Run, "save", disk_full)
    capsys.readouterr()
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert "No space left on device" in err and len(err.splitlines()) == 1
    assert _tree(tmp_path) == before
