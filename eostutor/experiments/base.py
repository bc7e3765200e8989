"""What a named experiment returns and how it is saved, and the course's reference network."""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from eostutor._io import atomic_folder
from eostutor.datasets import digits
from eostutor.problems import MLPProblem, Problem
from eostutor.record import Run

__all__ = ["Experiment", "json_ready", "reference_problem", "slug", "check_result_folder",
           "check_writable_folder", "stop_if_interrupted"]


@dataclass
class Experiment:
    """The outcome of a named experiment.

    Attributes:
        name: The experiment's name (a key of ``EXPERIMENTS``).
        description: One line on what it shows.
        problem: The problem the runs were trained on.
        runs: ``label -> Run``, in plotting order.
        summary: Headline numbers (JSON-friendly): one entry per run plus experiment-level facts.
        settings: The arguments the experiment was called with.
    """

    name: str
    description: str
    problem: Problem
    runs: dict[str, Run]
    summary: dict
    settings: dict = field(default_factory=dict)

    @property
    def run(self) -> Run:
        """The run of a single-run experiment (e.g. ``eos``); a ValueError when there are several."""
        if len(self.runs) != 1:
            raise ValueError(f"experiment {self.name!r} has {len(self.runs)} runs; pick one from .runs")
        return next(iter(self.runs.values()))

    def save(self, outdir) -> list[Path]:
        """Write each run (``<slug of its label>.npz``, ASCII names) and ``summary.json`` into the folder
        ``outdir``; return the paths.

        The folder is written as a whole: the files go into a temporary folder beside ``outdir`` that
        replaces it only once everything is written, so an interrupted save leaves an earlier result
        intact. ``outdir`` must be new, empty, or an earlier saved experiment (a folder with this method's
        ``summary.json``): a folder holding anything else is refused, never replaced.

        Raises:
            ValueError: If ``outdir`` is a file or a non-empty folder that holds no saved experiment.
        """
        outdir = check_result_folder(outdir)
        with atomic_folder(outdir) as tmp:
            names = self._write_files(tmp)
        return [outdir / name for name in names]

    def _write_files(self, folder: Path) -> list[str]:
        """Write the runs and summary.json into ``folder`` (no atomicity: the caller's job); return the names."""
        names = []
        used: set[str] = set()
        for label, run in self.runs.items():
            name = slug(label)
            stem, i = name, 2
            while name.lower() in used:  # two labels with the same slug: keep both runs
                name, i = f"{stem}_{i}", i + 1
            used.add(name.lower())
            names.append(run.save(folder / f"{name}.npz").name)
        payload = {"experiment": self.name, "description": self.description, "problem": repr(self.problem),
                   "settings": self.settings, "summary": self.summary,
                   "files": {label: f"{name}" for label, name in zip(self.runs, names)}}
        (folder / "summary.json").write_text(json.dumps(json_ready(payload), indent=2) + "\n", encoding="utf-8")
        names.append("summary.json")
        return names

    def __repr__(self) -> str:
        return f"Experiment({self.name!r}: {len(self.runs)} runs on {self.problem!r})"


#: Greek letters in rule labels, spelled out in file names.
_GREEK = {"α": "alpha", "β": "beta", "γ": "gamma", "δ": "delta", "ε": "eps", "η": "eta", "θ": "theta",
          "κ": "kappa", "λ": "lambda", "μ": "mu", "ν": "nu", "ρ": "rho", "σ": "sigma", "τ": "tau", "φ": "phi",
          "ω": "omega"}


def slug(label: str) -> str:
    """An ASCII file name for a legend label: Greek letters spelled out, subscripts as digits, every other
    run of characters outside ``A-Z a-z 0-9 . _ -`` as one ``_``.

    >>> slug("GD, η = 2"), slug("NLS, η₀ = 0.3"), slug("NLS-ub, seed 3"), slug("λ")
    ('GD_eta_2', 'NLS_eta0_0.3', 'NLS-ub_seed_3', 'lambda')
    """
    text = "".join(_GREEK.get(ch, _GREEK.get(ch.lower(), ch)) for ch in str(label))
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._")
    return text or "run"


def check_result_folder(path) -> Path:
    """``path`` as a Path if an experiment may be saved there: it does not exist, is an empty folder, or
    holds an earlier saved experiment (its ``summary.json``). Nothing is created.

    Raises:
        ValueError: If ``path`` (or a parent) is a file, or a non-empty folder without a saved experiment.

    >>> import tempfile, os
    >>> check_result_folder(os.path.join(tempfile.mkdtemp(), "new")).name
    'new'
    """
    path = Path(path)
    check_writable_folder(path, replace=True)
    if path.is_dir() and any(path.iterdir()) and not _is_saved_experiment(path):
        raise ValueError(f"{str(path)!r} is a folder that holds other files and no saved experiment "
                         "(summary.json); saving would replace it: choose a new or empty folder")
    return path


def check_writable_folder(path, *, replace: bool = False) -> Path:
    """``path`` as a Path if it is, or can be created as, a folder we can write into (nothing is created).

    Args:
        path: The folder.
        replace: The folder will be replaced as a whole (so its parent must be writable too).

    Raises:
        ValueError: If ``path`` or one of its parents is a file, or a folder that must change is read-only.

    >>> import tempfile, os
    >>> check_writable_folder(os.path.join(tempfile.mkdtemp(), "a", "b")).name
    'b'
    """
    path = Path(path)
    for folder in (path, *path.parents):
        if not (folder.exists() or folder.is_symlink()):
            continue
        if not folder.is_dir():
            what = "is a file" if folder == path else f"cannot be created: {str(folder)!r} is a file"
            raise ValueError(f"{str(path)!r} {what}, not a folder")
        for f in [folder.parent, folder] if (folder == path and replace) else [folder]:
            _probe_write(f, path)
        return path
    return path  # pragma: no cover (the root always exists)


def _probe_write(folder: Path, path: Path) -> None:
    """Create and remove an empty folder in ``folder`` (permission bits do not tell root, nor read-only
    or virtual file systems such as /proc).
    """
    try:
        os.rmdir(tempfile.mkdtemp(dir=folder, prefix=".eostutor-write-check."))
    except OSError as err:
        raise ValueError(f"cannot write into {str(path)!r}: {str(folder)!r}: {err.strerror or err}") from None


def _is_saved_experiment(path: Path) -> bool:
    summary = path / "summary.json"
    try:
        if not summary.is_file() or summary.stat().st_size > 50 * 2**20:
            return False
        data = json.loads(summary.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return False
    return isinstance(data, dict) and isinstance(data.get("experiment"), str)


def stop_if_interrupted(run: Run) -> Run:
    """Return ``run``, or raise ``KeyboardInterrupt`` if it was interrupted (Ctrl-C during ``train``).

    ``train`` turns Ctrl-C into a partial run marked ``interrupted``; an experiment of many runs must stop
    there instead of going on with the next one. The partial run is attached as ``err.run``.
    """
    if run.interrupted:
        err = KeyboardInterrupt(f"interrupted during {run.label!r} after {run.num_steps} steps")
        err.run = run
        raise err
    return run


def json_ready(value):
    """Nested dicts/lists with NumPy scalars and NaN made JSON-safe (NaN and inf become null).

    >>> json_ready({"loss": float("nan"), "steps": np.int64(3), "ok": np.bool_(True)})
    {'loss': None, 'steps': 3, 'ok': True}
    """
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, (np.integer, np.bool_)):
        return value.item()
    return value


def reference_problem(n_train: int = 1000, dtype: torch.dtype = torch.float32) -> MLPProblem:
    """The course's reference network: a 2×32 tanh MLP on standardized digits, MSE over n·K outputs.

    At initialisation its sharpness is about 0.45 (0.40–0.50 over seeds 0–9); with η = 2 it rises to
    2/η = 1 within a few hundred steps and then stays there: the Edge of Stability on a laptop.

    >>> reference_problem(n_train=100).dim
    3466
    """
    return MLPProblem(digits(n_train=n_train, dtype=dtype), hidden=(32, 32), activation="tanh", loss="mse",
                      dtype=dtype)
