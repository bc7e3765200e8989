"""Ctrl-C: experiments stop at the first interrupted run; the CLI stops whole, exits 130, loses nothing.

The library tests inject the interrupt through ``train``'s own hooks (a KeyboardInterrupt from
``should_stop`` or a callback, which ``train`` turns into a partial run marked ``interrupted``). The CLI
tests are real: ``python -m eostutor`` in a subprocess, SIGINT once its progress bar shows training, and
the output folder, holding an earlier result, compared byte for byte afterwards.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import eostutor as eos
from eostutor.experiments import Experiment, bifurcation_sweep, flatland, headline

# The modules (the package re-exports functions of the same names).
flatland_module = importlib.import_module("eostutor.experiments.flatland")
sweeps_module = importlib.import_module("eostutor.experiments.sweeps")

REPO = Path(__file__).resolve().parents[1]


def _ctrl_c_at_step(module, monkeypatch, step: int):
    """Make ``module.train`` behave as if Ctrl-C arrived at ``step`` of its first run; return the call log."""
    real_train = module.train
    calls = []

    def train(*args, **kwargs):
        calls.append(kwargs.get("label") or args[1])
        polls = {"n": 0}

        def should_stop():
            polls["n"] += 1
            if polls["n"] > step:
                raise KeyboardInterrupt
            return False

        return real_train(*args, **{**kwargs, "should_stop": should_stop})

    monkeypatch.setattr(module, "train", train)
    return calls


def test_eos_interrupted_in_the_first_step_raises_keyboard_interrupt(monkeypatch):
    calls = _ctrl_c_at_step(headline, monkeypatch, step=0)
    with pytest.raises(KeyboardInterrupt) as info:
        headline.eos(fast=True)  # was: IndexError on the empty run
    assert len(calls) == 1
    assert info.value.run.interrupted and info.value.run.num_steps == 0


def test_adaptive_stops_at_the_first_interrupted_rule(monkeypatch):
    calls = _ctrl_c_at_step(headline, monkeypatch, step=3)
    with pytest.raises(KeyboardInterrupt) as info:
        headline.adaptive(fast=True)
    assert len(calls) == 1, f"went on with the next rules after Ctrl-C: {calls}"
    assert info.value.run.num_steps == 3


def test_flatland_stops_at_the_first_interrupted_run(monkeypatch):
    calls = _ctrl_c_at_step(flatland_module, monkeypatch, step=5)
    with pytest.raises(KeyboardInterrupt):
        flatland(fast=True, num_steps=100)
    assert calls == ["NLS"]


def test_bifurcation_sweep_stops_at_the_interrupted_step_size(monkeypatch):
    calls = _ctrl_c_at_step(sweeps_module, monkeypatch, step=10)
    with pytest.raises(KeyboardInterrupt):
        bifurcation_sweep(eos.Quadratic([1.0, 10.0]), [0.05, 0.1, 0.15], num_steps=50, keep_last=5)
    assert len(calls) == 1


def test_experiment_save_is_all_or_nothing(tmp_path, monkeypatch):
    q = eos.Quadratic([1.0, 10.0])
    runs = {f"GD, η = {eta}": eos.train(q, eta, 10) for eta in (0.1, 0.15)}
    exp = Experiment("eos", "test", q, runs, {"n": 2})
    folder = tmp_path / "eos"
    exp.save(folder)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}

    real_save = eos.Run.save
    saved = []

    def save_then_ctrl_c(self, path):
        saved.append(real_save(self, path))
        if len(saved) == 2:
            raise KeyboardInterrupt
        return saved[-1]

    monkeypatch.setattr(eos.Run, "save", save_then_ctrl_c)
    other = Experiment("eos", "a newer result", q, {k: r.replace(label="new") for k, r in runs.items()}, {})
    with pytest.raises(KeyboardInterrupt):
        other.save(folder)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["eos"]  # the temporary folder is gone


def test_experiment_save_refuses_a_folder_of_other_files(tmp_path):
    q = eos.Quadratic([1.0])
    exp = Experiment("eos", "test", q, {"GD": eos.train(q, 0.1, 3)}, {})
    (tmp_path / "thesis.tex").write_text("months of work")
    with pytest.raises(ValueError, match="holds other files and no saved experiment"):
        exp.save(tmp_path)
    assert (tmp_path / "thesis.tex").read_text() == "months of work"
    with pytest.raises(ValueError, match="is a file"):
        exp.save(tmp_path / "thesis.tex")


# -- the real thing: SIGINT to python -m eostutor ----------------------------------------------------------
_PROGRESS = re.compile(r"\b(\d+)/\d+ \[")  # tqdm: "12/400 [": 12 steps done
_MID_TRAINING = 10  # steps done before Ctrl-C


def _earlier_result(kind: str, out: Path) -> Path:
    """Write a complete earlier result where the interrupted command would write; return its folder."""
    from eostutor.cli import main

    if kind == "run":
        assert main(["run", "--problem", "quadratic", "--eta", "0.1", "--steps", "20", "--out", str(out)]) == 0
        (out / "notes.txt").write_text("the user's own file")
        return out
    q = eos.Quadratic([1.0, 10.0])
    runs = {"GD, η = 0.1": eos.train(q, 0.1, 20)}
    Experiment(kind, "an earlier, complete result", q, runs, {"GD": runs["GD, η = 0.1"].summary()}).save(out / kind)
    return out / kind


def _snapshot(folder: Path) -> dict:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.slow
@pytest.mark.parametrize(
    "kind, argv",
    [
        ("run", ["run", "--problem", "mlp", "--dataset", "digits", "--eta", "2", "--steps", "20000",
                 "--sharpness-every", "10", "--float32"]),
        ("eos", ["reproduce", "eos"]),
        ("adaptive", ["reproduce", "adaptive", "--fast"]),
    ],
)
def test_sigint_stops_the_command_exits_130_and_keeps_earlier_results(kind, argv, tmp_path):
    out = tmp_path / "results"
    folder = _earlier_result(kind, out)
    before_parent = sorted(p.name for p in out.parent.iterdir())
    before = _snapshot(folder)

    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "eostutor", *argv, "--progress", "--out", str(out)],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    stderr: list[bytes] = []
    training = threading.Event()

    def read_stderr():
        while chunk := proc.stderr.read1(4096):
            stderr.append(chunk)
            done = _PROGRESS.findall(b"".join(stderr).decode(errors="replace").split("\r")[-1])
            if done and int(done[-1]) >= _MID_TRAINING:
                training.set()

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    try:
        assert training.wait(timeout=120), f"no training progress seen: {b''.join(stderr)[-2000:]!r}"
        progress = _PROGRESS.findall(b"".join(stderr).decode(errors="replace"))
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)  # not communicate(): the reader thread owns stderr
        elapsed = time.monotonic() - sent
        stdout = proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    reader.join(timeout=10)
    text = b"".join(stderr).decode(errors="replace")
    last_line = text.replace("\r", "\n").strip().splitlines()[-1]
    print(f"\n{kind}: SIGINT after step {progress[-1]}, exited {proc.returncode} {elapsed:.2f} s later: {last_line}")

    assert proc.returncode == 130, f"exit code {proc.returncode}; stderr tail: {text[-2000:]}"
    assert "Traceback" not in text
    assert last_line == "python -m eostutor: interrupted (nothing written; earlier results left as they were)"
    assert stdout == b""
    assert _snapshot(folder) == before, "the earlier result changed"
    assert sorted(p.name for p in out.parent.iterdir()) == before_parent
    assert not [p for p in out.rglob(".*")], "a temporary file or folder was left behind"
    if kind != "run":
        assert json.loads((folder / "summary.json").read_text())["description"] == "an earlier, complete result"
    else:
        assert np.array_equal(eos.Run.load(folder / "run.npz").eta, np.full(20, 0.1))


# -- the write helpers ---------------------------------------------------------------------------------------
def test_a_ctrl_c_inside_deferred_interrupt_is_raised_after_the_block():
    from eostutor._io import deferred_interrupt

    done = []
    with pytest.raises(KeyboardInterrupt):
        with deferred_interrupt():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)  # the signal is delivered here, and held back
            done.append("the block finished")
    assert done == ["the block finished"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_ctrl_c_inside_a_failing_deferred_block_is_not_lost():
    from eostutor._io import deferred_interrupt

    with pytest.raises(KeyboardInterrupt) as info:
        with deferred_interrupt():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)
            raise OSError("disk full")
    assert isinstance(info.value.__context__, OSError)


def test_atomic_writes_keep_the_usual_permissions(tmp_path):
    from eostutor._io import atomic_folder, atomic_path

    umask = os.umask(0o022)
    try:
        with atomic_path(tmp_path / "a.txt") as tmp:
            tmp.write_text("x")
        with atomic_folder(tmp_path / "result") as tmp:
            (tmp / "b.txt").write_text("y")
    finally:
        os.umask(umask)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o644  # not mkstemp's 0o600
    assert (tmp_path / "result").stat().st_mode & 0o777 == 0o755  # not mkdtemp's 0o700


def test_atomic_folder_replaces_a_link_but_not_what_it_points_to(tmp_path):
    from eostutor._io import atomic_folder

    real = tmp_path / "real"
    real.mkdir()
    (real / "keep.txt").write_text("elsewhere")
    (tmp_path / "result").symlink_to(real)
    with atomic_folder(tmp_path / "result") as tmp:
        (tmp / "new.txt").write_text("new")
    assert not (tmp_path / "result").is_symlink()
    assert sorted(p.name for p in (tmp_path / "result").iterdir()) == ["new.txt"]
    assert (real / "keep.txt").read_text() == "elsewhere"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["real", "result"]


def test_atomic_files_moves_all_files_or_none(tmp_path):
    """A move that fails half-way (here a folder in the way of the second file) puts the first file back."""
    from eostutor._io import atomic_files

    (tmp_path / "a.txt").write_text("old a")
    (tmp_path / "b.txt").mkdir()  # in the way
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(IsADirectoryError, match="b.txt"):
        with atomic_files(tmp_path) as tmp:
            (tmp / "a.txt").write_text("new a")
            (tmp / "b.txt").write_text("new b")
    assert (tmp_path / "a.txt").read_text() == "old a"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.txt", "keep.txt"]  # nothing left behind
    with atomic_files(tmp_path) as tmp:  # and when every move works, every file is replaced
        (tmp / "a.txt").write_text("new a")
        (tmp / "c.txt").write_text("new c")
    assert (tmp_path / "a.txt").read_text() == "new a" and (tmp_path / "c.txt").read_text() == "new c"
    assert (tmp_path / "keep.txt").read_text() == "mine"


def test_atomic_files_rolls_back_a_move_that_fails_half_way_and_never_hides_a_file(tmp_path, monkeypatch):
    from eostutor import _io

    for name in ("a.txt", "b.txt"):
        (tmp_path / name).write_text(f"old {name}")
    real_replace, seen = os.replace, []

    def replace(src, dst):
        dst = Path(dst)
        if dst.parent == tmp_path and not dst.name.startswith("."):
            seen.append((dst.name, dst.exists()))  # an old file must still be there when the new one comes
            if dst.name == "b.txt" and Path(src).parent != tmp_path and "new" in Path(src).read_text():
                raise OSError(28, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr(_io.os, "replace", replace)
    with pytest.raises(OSError, match="No space"):
        with _io.atomic_files(tmp_path) as tmp:
            (tmp / "a.txt").write_text("new a")
            (tmp / "b.txt").write_text("new b")
    assert seen[:2] == [("a.txt", True), ("b.txt", True)]
    assert [(tmp_path / n).read_text() for n in ("a.txt", "b.txt")] == ["old a.txt", "old b.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.txt"]


def test_cli_run_with_a_folder_in_the_way_leaves_the_earlier_picture(tmp_path, capsys):
    from eostutor.cli import main

    (tmp_path / "run.npz").mkdir()  # sorted after dashboard.png: the picture would move first
    (tmp_path / "dashboard.png").write_bytes(b"old picture")
    assert main(["run", "--eta", "0.1", "--steps", "5", "--out", str(tmp_path)]) == 1
    assert (tmp_path / "dashboard.png").read_bytes() == b"old picture"
    assert "left as they were" in capsys.readouterr().err
