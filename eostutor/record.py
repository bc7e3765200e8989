"""The record of one training run: per-step NumPy arrays plus the settings that made them.

A :class:`Run` is what ``train`` returns, what plots draw and what ``python -m eostutor`` saves. It is
saved as a single ``.npz`` file (arrays) with the metadata as JSON inside it: never pickle, so a run file
from a stranger cannot execute code when loaded.
"""

from __future__ import annotations

import json
import math
import zipfile
from pathlib import Path

import numpy as np

__all__ = ["Run", "PER_STEP_FIELDS"]

#: Arrays every run has, one entry per step (NaN where not measured).
PER_STEP_FIELDS = (
    "step",
    "loss",
    "eta",
    "grad_norm",
    "sharpness",
    "eta_sharpness",
    "sharpness_hvps",
    "sharpness_residual",
    "test_loss",
    "test_accuracy",
    "train_accuracy",
    "loss_evals",
    "grad_evals",
    "hvps",
    "backtracks",
    "reference",
    "grad_norm_hidden",
    "grad_norm_last_bias",
    "dead_fraction",
)

_FORMAT = "eostutor.Run"
_FORMAT_VERSION = 1


def _jsonable(value):
    """Convert NumPy scalars/arrays and tuples inside settings to plain JSON types."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (float, np.floating)) and not math.isfinite(value):
        return {"__float__": repr(float(value))}  # JSON has no NaN/inf: a tagged value that load() restores
    return value


def _restore(obj):
    """json object_hook: turn the tagged non-finite floats written by _jsonable back into floats."""
    if set(obj) == {"__float__"}:
        return float(obj["__float__"])
    return obj


class Run:
    """Per-step arrays of one training run, its settings, and its outcome.

    Attributes:
        arrays: ``name -> np.ndarray``; every name in ``PER_STEP_FIELDS`` has one entry per completed step
            (step k holds the loss *at* w_k and the eta used to go from w_k to w_{k+1}). Optional extras:
            ``top_eigenvalues`` (steps x top_k), ``params`` (steps + 1 x dim, the iterates, for small
            problems) and ``eigenvector`` (steps x dim).
        settings: How the run was made (problem, rule and its parameters, seed, tracking options,
            ``sharpness_floor``, versions).
        final_params: The last iterate w_n (NumPy).
        final_loss: f(w_n) (NaN if the run diverged).
        diverged: Whether the run stopped because the loss or parameters blew up.
        diverged_at: The step at which that was detected, else ``None``.
        interrupted: Whether the run was stopped early (Ctrl-C or a newer request in a widget).
        wall_time: Seconds spent in ``train``.
        label: Legend text for plots.

    Per-step arrays are also attributes: ``run.loss``, ``run.sharpness``, ...

    >>> run = Run({"loss": np.array([1.0, 0.5]), "eta": np.array([0.1, 0.1])}, {"rule": "constant"})
    >>> run.num_steps, float(run.loss[-1])
    (2, 0.5)
    """

    def __init__(
        self,
        arrays: dict,
        settings: dict | None = None,
        *,
        final_params=None,
        final_loss: float = math.nan,
        diverged: bool = False,
        diverged_at: int | None = None,
        interrupted: bool = False,
        wall_time: float = 0.0,
        label: str | None = None,
    ):
        self.arrays = {k: np.asarray(v) for k, v in arrays.items()}
        n = len(self.arrays["loss"]) if "loss" in self.arrays else 0
        for name in PER_STEP_FIELDS:
            if name not in self.arrays:
                self.arrays[name] = np.arange(n, dtype=np.int64) if name == "step" else np.full(n, np.nan)
        self.settings = dict(settings or {})
        self.final_params = None if final_params is None else np.asarray(final_params)
        self.final_loss = float(final_loss)
        self.diverged = bool(diverged)
        self.diverged_at = None if diverged_at is None else int(diverged_at)
        self.interrupted = bool(interrupted)
        self.wall_time = float(wall_time)
        self.label = label if label is not None else self._default_label()

    def _default_label(self) -> str:
        rule = self.settings.get("rule", "run")
        params = self.settings.get("rule_params", {})
        if rule == "constant" and "eta" in params:
            label = f"GD, η = {params['eta']:g}"
        else:
            label = str(self.settings.get("rule_label", rule))
        beta = self.settings.get("momentum", 0.0) or 0.0
        if beta > 0:
            kind = "Nesterov" if self.settings.get("nesterov") else "heavy ball"
            label += f", {kind} β = {beta:g}"
        return label

    def __getattr__(self, name):
        arrays = self.__dict__.get("arrays", {})
        if name in arrays:
            return arrays[name]
        raise AttributeError(f"Run has no attribute or array {name!r}")

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(self.arrays))

    @property
    def num_steps(self) -> int:
        """Number of completed steps (entries in each per-step array)."""
        return int(len(self.arrays["loss"]))

    @property
    def measured(self) -> np.ndarray:
        """Boolean mask of the steps at which the sharpness was measured."""
        return np.isfinite(self.arrays["sharpness"])

    def __repr__(self) -> str:
        status = "diverged at step %d" % self.diverged_at if self.diverged else (
            "interrupted" if self.interrupted else "finished")
        problem = self.settings.get("problem", "?")
        return f"Run({self.label!r} on {problem}, {self.num_steps} steps, {status})"

    # -- summary ------------------------------------------------------------------------------------
    def summary(self) -> dict:
        """Headline numbers of the run as a JSON-friendly dict.

        Keys: ``num_steps``, ``initial_loss``, ``final_loss``, ``min_loss``, ``loss_increases`` (steps
        where the loss went up: non-monotonicity), ``frac_eta_sharpness_ge_1mc`` and
        ``frac_eta_sharpness_gt_2`` (over measured steps; c is the rule's Armijo constant, default 1e-4),
        ``first_step_at_edge`` (first step with sharpness ≥ 0.95·2/η), ``median_ratio_last_third``
        (median of η·λ_max/2 over the measured steps in the last third), ``max_sharpness``,
        ``final_sharpness``, ``final_test_accuracy``, ``total_loss_evals``, ``total_grad_evals``,
        ``total_hvps``, ``diverged``, ``diverged_at``, ``interrupted``, ``wall_time``.
        """
        a = self.arrays
        n = self.num_steps
        loss = a["loss"]
        finite = loss[np.isfinite(loss)]
        c = float(self.settings.get("rule_params", {}).get("c", 1e-4) or 1e-4)
        es = a["eta_sharpness"]
        m = np.isfinite(es)
        first_edge = None
        with np.errstate(divide="ignore", invalid="ignore"):  # η = 0 on skipped steps: 2/η = inf, no hit
            hits = np.flatnonzero(np.isfinite(a["sharpness"]) & (a["sharpness"] >= 0.95 * 2.0 / a["eta"]))
        if hits.size:
            first_edge = int(a["step"][hits[0]])
        last = m & (a["step"] >= (2 * n) // 3)
        acc = a["test_accuracy"][np.isfinite(a["test_accuracy"])]
        sharp = a["sharpness"][np.isfinite(a["sharpness"])]
        final_loss = self.final_loss if math.isfinite(self.final_loss) else (
            float(finite[-1]) if finite.size else math.nan)

        def nan_or(x):
            return float(x) if x is not None else math.nan

        return {
            "num_steps": n,
            "initial_loss": float(loss[0]) if n else math.nan,
            "final_loss": final_loss,
            "min_loss": float(finite.min()) if finite.size else math.nan,
            "loss_increases": int(np.sum(np.diff(finite) > 0)) if finite.size > 1 else 0,
            "frac_eta_sharpness_ge_1mc": float(np.mean(es[m] >= 1 - c)) if m.any() else math.nan,
            "frac_eta_sharpness_gt_2": float(np.mean(es[m] > 2)) if m.any() else math.nan,
            "first_step_at_edge": first_edge,
            "median_ratio_last_third": float(np.median(es[last] / 2)) if last.any() else math.nan,
            "max_sharpness": float(sharp.max()) if sharp.size else math.nan,
            "final_sharpness": float(sharp[-1]) if sharp.size else math.nan,
            "final_test_accuracy": float(acc[-1]) if acc.size else math.nan,
            "total_loss_evals": int(np.nansum(a["loss_evals"])),
            "total_grad_evals": int(np.nansum(a["grad_evals"])),
            "total_hvps": int(np.nansum(a["hvps"])),
            "diverged": self.diverged,
            "diverged_at": self.diverged_at,
            "interrupted": self.interrupted,
            "wall_time": nan_or(self.wall_time),
        }

    # -- persistence --------------------------------------------------------------------------------
    def save(self, path) -> Path:
        """Write the run to ``path`` (``.npz`` is appended if missing) and return the path written.

        >>> import tempfile, os
        >>> run = Run({"loss": np.array([1.0, 0.5])}, {"rule": "constant"})
        >>> p = run.save(os.path.join(tempfile.mkdtemp(), "demo"))
        >>> Run.load(p).loss.tolist()
        [1.0, 0.5]
        """
        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_name(path.name + ".npz")
        meta = {
            "format": _FORMAT,
            "format_version": _FORMAT_VERSION,
            "settings": _jsonable(self.settings),
            "final_loss": _jsonable(self.final_loss),
            "diverged": self.diverged,
            "diverged_at": self.diverged_at,
            "interrupted": self.interrupted,
            "wall_time": self.wall_time,
            "label": self.label,
        }
        payload = {f"a_{k}": v for k, v in self.arrays.items()}
        if self.final_params is not None:
            payload["final_params"] = self.final_params
        payload["meta"] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as fh:
            np.savez_compressed(fh, **payload)
        return path

    @classmethod
    def load(cls, path) -> Run:
        """Read a run written by :meth:`save`.

        Raises:
            ValueError: If the file is missing, corrupt, or not an eostutor run file.
        """
        path = Path(path)
        if not path.exists():
            raise ValueError(f"no run file at {str(path)!r}")
        try:
            with np.load(path, allow_pickle=False) as data:
                if "meta" not in data.files:
                    raise ValueError("no eostutor metadata")
                meta = json.loads(bytes(data["meta"]).decode("utf-8"), object_hook=_restore)
                if meta.get("format") != _FORMAT:
                    raise ValueError(f"format is {meta.get('format')!r}")
                if int(meta.get("format_version", 0)) > _FORMAT_VERSION:
                    raise ValueError(f"format version {meta['format_version']} is newer than this eostutor")
                arrays = {k[2:]: data[k] for k in data.files if k.startswith("a_")}
                final_params = data["final_params"] if "final_params" in data.files else None
        except (zipfile.BadZipFile, OSError, KeyError, UnicodeDecodeError, json.JSONDecodeError, ValueError) as err:
            raise ValueError(f"{str(path)!r} is not a readable eostutor run file ({err})") from None

        return cls(
            arrays,
            meta.get("settings", {}),
            final_params=final_params,
            final_loss=float(meta.get("final_loss", math.nan)),
            diverged=meta.get("diverged", False),
            diverged_at=meta.get("diverged_at"),
            interrupted=meta.get("interrupted", False),
            wall_time=meta.get("wall_time", 0.0),
            label=meta.get("label"),
        )
