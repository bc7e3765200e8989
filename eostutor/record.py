"""The record of one training run: per-step NumPy arrays, the typed settings that made them, the outcome.

A :class:`Run` is what ``train`` returns, what plots draw and what ``python -m eostutor`` saves. It is
immutable: its arrays are read-only and :meth:`Run.replace` makes a changed copy. It is saved as a single
``.npz`` file (arrays) with the metadata as JSON inside it: never pickle, so a run file from a stranger
cannot execute code when loaded, and :meth:`Run.load` validates every field and the size of every array
before reading it.
"""

from __future__ import annotations

import dataclasses
import json
import math
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from eostutor._io import atomic_write

__all__ = ["Run", "RunSettings", "PER_STEP_FIELDS", "MAX_LOAD_BYTES"]

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
    "batch_loss",
    "batch_sharpness",
    "preconditioned_sharpness",
    "preconditioned_residual",
)
#: Optional arrays with one row per step (first dimension = number of steps) ...
_PER_STEP_EXTRAS = ("top_eigenvalues", "eigenvector")
#: ... and the iterates, one row more (w_0 … w_n).
_ITERATES = "params"

_FORMAT = "eostutor.Run"
_FORMAT_VERSION = 1
#: Run.load refuses files whose arrays (after decompression, plus the NaN-filled fields a file may omit)
#: would take more than this many bytes; pass ``max_bytes`` to load bigger runs on purpose.
MAX_LOAD_BYTES = 1 << 30
_MAX_META_BYTES = 1 << 20
#: A saved run has about 25 members; a file with far more is not one.
_MAX_MEMBERS = 1000
#: NumPy dtype kinds a run array may have: bool, signed and unsigned integers, floats.
_NUMERIC_KINDS = "biuf"


def _frozen(mapping: Mapping | None, what: str) -> Mapping:
    if mapping is None:
        return MappingProxyType({})
    if not isinstance(mapping, Mapping):
        raise ValueError(f"{what} must be a mapping, got {type(mapping).__name__}")
    return MappingProxyType({str(k): v for k, v in mapping.items()})


@dataclass(frozen=True)
class RunSettings:
    """How a run was made: written once by ``train``, read by plots, experiments and the record.

    Attributes:
        problem: ``repr`` of the problem.
        problem_name: The problem's registry name (``"mlp"``, ``"quadratic"``, ...).
        dim: Number of parameters.
        dtype: ``"float32"`` or ``"float64"``.
        rule: The rule's registry name (``"nls"``).
        rule_label: Its legend label (``"NLS, η₀ = 0.3"``).
        rule_repr: ``repr`` of the rule (rebuilds it).
        rule_params: The rule's constructor arguments.
        num_steps: Steps asked for (the run may be shorter: diverged or interrupted).
        seed: Initialisation seed.
        w0_given: Whether the start was given instead of ``problem.init(seed)``.
        sharpness_every: Measurement interval of λ_max (0: never).
        sharpness_tol: Relative residual each estimate was certified to.
        sharpness_method: ``"auto"``, ``"exact"``, ``"lanczos"``, ``"power"`` (or how it was filled in).
        top_k: How many top eigenvalues were tracked.
        evaluate_every: Interval of the held-out metrics.
        momentum: Heavy-ball / Nesterov β (0: none).
        nesterov: Nesterov instead of heavy ball.
        sharpness_floor: A lower bound of λ_max valid everywhere (2/K for K-class MSE with a bias, else 0).
        num_classes: K for classifiers, else None.
        prior_loss: The loss of predicting the class prior, (K−1)/K² (NaN where it does not apply).
        batch_size: Examples per mini-batch step (``None``: full-batch gradient descent).
        batch_sharpness_batches: Batches averaged in each batch-sharpness estimate (0: not measured).
        stability_threshold: The level above which the rule's steps are unstable on a quadratic: 2/η for
            constant GD, 2(1+β)/η with heavy-ball momentum, (2+2β₁)/((1−β₁)η) for Adam; ``None`` for rules
            whose step changes every step.
        threshold_applies_to: What that level bounds: ``"sharpness"`` (λ_max(H)) or
            ``"preconditioned_sharpness"`` (λ_max(P^{-1}H), for Adam and RMSProp).
        versions: Versions of eostutor, torch, NumPy and Python.
        extra: Anything else a caller wants to keep with the run (JSON-friendly values).

    >>> s = RunSettings(rule="constant", rule_params={"eta": 0.1})
    >>> s.replace(momentum=0.5).momentum, s.rule_params["eta"]
    (0.5, 0.1)
    """

    problem: str = ""
    problem_name: str = ""
    dim: int = 0
    dtype: str = "float64"
    rule: str = ""
    rule_label: str = ""
    rule_repr: str = ""
    rule_params: Mapping[str, Any] = field(default_factory=dict)
    num_steps: int = 0
    seed: int = 0
    w0_given: bool = False
    sharpness_every: int = 0
    sharpness_tol: float = 1e-3
    sharpness_method: str = "auto"
    top_k: int = 1
    evaluate_every: int = 10
    momentum: float = 0.0
    nesterov: bool = False
    sharpness_floor: float = 0.0
    num_classes: int | None = None
    prior_loss: float = math.nan
    batch_size: int | None = None
    batch_sharpness_batches: int = 0
    stability_threshold: float | None = None
    threshold_applies_to: str = "sharpness"
    versions: Mapping[str, str] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        for name in ("rule_params", "versions", "extra"):
            object.__setattr__(self, name, _frozen(getattr(self, name), name))

    def replace(self, **changes) -> RunSettings:
        """A copy with some fields changed (``extra`` entries are merged into the existing ones)."""
        if "extra" in changes:
            changes["extra"] = {**self.extra, **dict(changes["extra"] or {})}
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        """Plain dicts and values (for JSON)."""
        return {f.name: (dict(v) if isinstance(v := getattr(self, f.name), Mapping) else v)
                for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping) -> RunSettings:
        """Validate and build from a dict (as written by :meth:`to_dict`); unknown keys go to ``extra``.

        Raises:
            ValueError: Naming the field, for a value of the wrong type.
        """
        if not isinstance(data, Mapping):
            raise ValueError(f"settings must be a mapping, got {type(data).__name__}")
        known = {f.name: f for f in dataclasses.fields(cls)}
        kwargs: dict[str, Any] = {}
        extra = dict(data.get("extra") or {}) if isinstance(data.get("extra"), Mapping) else {}
        for key, value in data.items():
            if key == "extra":
                if not isinstance(value, (Mapping, type(None))):
                    raise ValueError(f"settings.extra must be a mapping, got {type(value).__name__}")
                continue
            if key not in known:
                extra[key] = value
                continue
            kwargs[key] = _check_setting(key, value, getattr(cls, key, None) if key not in
                                         ("rule_params", "versions") else {})
        return cls(**kwargs, extra=extra)


_INT_OR_NONE = ("num_classes", "batch_size")
_FLOAT_OR_NONE = ("stability_threshold",)


def _check_setting(key: str, value: Any, default: Any) -> Any:
    """One settings field from a file: the type its default has (ints and floats interchangeable)."""
    def bad(expected: str) -> ValueError:
        return ValueError(f"settings.{key} must be {expected}, got {value!r}"[:200])

    if key in _INT_OR_NONE:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad("an integer or null")
        return value
    if key in _FLOAT_OR_NONE:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad("a number or null")
        return float(value)
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise bad("true or false")
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad("an integer")
        return value
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad("a number")
        return float(value)
    if isinstance(default, str):
        if not isinstance(value, str):
            raise bad("a string")
        return value
    if isinstance(default, Mapping):
        if not isinstance(value, Mapping):
            raise bad("a mapping")
        return value
    return value


def _jsonable(value):
    """Convert NumPy scalars/arrays, tuples and mappings to plain JSON types; tag NaN and inf."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        return _jsonable(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return {"__float__": repr(float(value))}  # JSON has no NaN/inf: a tagged value that load() restores
    return value


def _restore(obj):
    """Json object_hook: turn the tagged non-finite floats written by _jsonable back into floats."""
    if set(obj) == {"__float__"}:
        text = obj["__float__"]
        if text not in ("nan", "inf", "-inf"):
            raise ValueError(f"bad tagged float {text!r}"[:80])
        return float(text)
    return obj


def _read_only(a, name: str = "run array") -> np.ndarray:
    try:
        out = np.array(a, copy=True)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be a numeric array ({err})"[:200]) from None
    if out.dtype.kind not in _NUMERIC_KINDS:
        raise ValueError(f"{name} must be numeric (bool, integer or float), got dtype {out.dtype}")
    out.flags.writeable = False
    return out


class Run:
    """Per-step arrays of one training run, its settings, and its outcome. Immutable.

    Attributes:
        arrays: ``name -> np.ndarray`` (read-only); every name in ``PER_STEP_FIELDS`` has one entry per
            completed step (step k holds the loss *at* w_k and the eta used to go from w_k to w_{k+1}).
            Optional extras: ``top_eigenvalues`` (steps x top_k), ``eigenvector`` (steps x dim) and
            ``params`` (steps + 1 x dim, the iterates, for small problems); other arrays (e.g. the Flatland
            experiment's ``eig_steps``/``eig_values`` snapshots) are kept as they are.
        settings: How the run was made, a :class:`RunSettings`.
        final_params: The last iterate w_n (NumPy).
        final_loss: f(w_n) (NaN if the run diverged).
        diverged: Whether the run stopped because the loss or parameters blew up.
        diverged_at: The step at which that was detected, else ``None``.
        interrupted: Whether the run was stopped early (Ctrl-C or a newer request in a widget).
        notes: Things that went wrong without stopping the run (e.g. a sharpness that could not be
            measured because the Hessian was not finite there), one line each.
        wall_time: Seconds spent in ``train``.
        label: Legend text for plots.

    Per-step arrays are also attributes: ``run.loss``, ``run.sharpness``, ...

    >>> run = Run({"loss": np.array([1.0, 0.5]), "eta": np.array([0.1, 0.1])}, {"rule": "constant"})
    >>> run.num_steps, float(run.loss[-1]), run.settings.rule
    (2, 0.5, 'constant')
    """

    def __init__(
        self,
        arrays: Mapping,
        settings: RunSettings | Mapping | None = None,
        *,
        final_params=None,
        final_loss: float = math.nan,
        diverged: bool = False,
        diverged_at: int | None = None,
        interrupted: bool = False,
        notes: Iterable[str] = (),
        wall_time: float = 0.0,
        label: str | None = None,
    ):
        if not isinstance(arrays, Mapping):
            raise ValueError(f"arrays must be a mapping of names to arrays, got {type(arrays).__name__}")
        data = {str(k): _read_only(v, f"array {str(k)!r}") for k, v in arrays.items()}
        if "loss" in data and data["loss"].ndim != 1:
            raise ValueError(f"array 'loss' must be one-dimensional (one entry per step), got shape "
                             f"{data['loss'].shape}")
        n = len(data["loss"]) if "loss" in data else 0
        for name in PER_STEP_FIELDS:
            if name not in data:
                data[name] = _read_only(np.arange(n, dtype=np.int64) if name == "step" else np.full(n, np.nan))
        for name in (*PER_STEP_FIELDS, *_PER_STEP_EXTRAS, _ITERATES):
            if name in data:
                want = n + 1 if name == _ITERATES else n
                ndim = 1 if name in PER_STEP_FIELDS else 2
                a = data[name]
                if a.ndim != ndim or a.shape[0] != want:
                    raise ValueError(f"array {name!r} has shape {a.shape}; a run of {n} steps needs "
                                     f"{want} rows (one per {'iterate' if name == _ITERATES else 'step'}) "
                                     f"and {ndim} dimension{'s' if ndim > 1 else ''}")
        self.arrays = MappingProxyType(data)
        if settings is None:
            settings = RunSettings()
        elif not isinstance(settings, RunSettings):
            settings = RunSettings.from_dict(settings)
        self.settings = settings
        self.final_params = None if final_params is None else _read_only(final_params, "final_params")
        self.final_loss = float(final_loss)
        self.diverged = bool(diverged)
        self.diverged_at = None if diverged_at is None else int(diverged_at)
        self.interrupted = bool(interrupted)
        self.notes = tuple(str(n) for n in notes)
        self.wall_time = float(wall_time)
        self.label = str(label) if label is not None else self._default_label()

    def _default_label(self) -> str:
        s = self.settings
        label = s.rule_label or s.rule or "run"
        if s.momentum > 0:
            label += f", {'Nesterov' if s.nesterov else 'heavy ball'} β = {s.momentum:g}"
        if s.batch_size is not None:  # mini-batch gradient descent is SGD
            label = ("S" + label if label.startswith("GD") else label) + f", batch {s.batch_size}"
        return label

    def replace(self, *, arrays: Mapping | None = None, drop: Iterable[str] = (), **changes) -> Run:
        """A changed copy. ``arrays`` are merged into the existing ones, ``drop`` names arrays to leave out,
        and any other keyword (``settings``, ``label``, ``final_loss``, ...) replaces that attribute.

        >>> run = Run({"loss": np.array([1.0, 0.5])})
        >>> run.replace(arrays={"sharpness": np.array([2.0, 3.0])}, label="demo").sharpness.tolist()
        [2.0, 3.0]
        """
        allowed = ("settings", "final_params", "final_loss", "diverged", "diverged_at", "interrupted", "notes",
                   "wall_time", "label")
        unknown = sorted(set(changes) - set(allowed))
        if unknown:
            raise ValueError(f"Run.replace got unknown field(s) {unknown}; allowed: arrays, drop, {', '.join(allowed)}")
        data = {k: v for k, v in self.arrays.items() if k not in set(drop)}
        data.update(arrays or {})
        kwargs = {name: getattr(self, name) for name in allowed}
        kwargs.update(changes)
        return Run(data, **kwargs)

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

    @property
    def threshold_curvature(self) -> np.ndarray:
        """The curvature the run's stability threshold bounds, per step: λ_max(P⁻¹H) for a preconditioned
        rule (Adam, RMSProp), λ_max otherwise.

        >>> Run({"loss": np.ones(2), "sharpness": np.array([3.0, np.nan])}).threshold_curvature.tolist()
        [3.0, nan]
        """
        key = "preconditioned_sharpness" if self.settings.threshold_applies_to == "preconditioned_sharpness" \
            else "sharpness"
        return self.arrays[key]

    def __repr__(self) -> str:
        status = f"diverged at step {self.diverged_at}" if self.diverged else (
            "interrupted" if self.interrupted else "finished")
        return f"Run({self.label!r} on {self.settings.problem or '?'}, {self.num_steps} steps, {status})"

    # -- summary ------------------------------------------------------------------------------------
    def summary(self) -> dict:
        """Headline numbers of the run as a JSON-friendly dict.

        Keys: ``num_steps``, ``initial_loss``, ``final_loss``, ``min_loss``, ``loss_increases`` (steps
        where the loss went up: non-monotonicity), ``frac_eta_sharpness_ge_1mc`` and
        ``frac_eta_sharpness_gt_2`` (over measured steps; c is the rule's Armijo constant, default 1e-4),
        ``first_step_at_edge`` (first step with sharpness ≥ 0.95·2/η), ``median_ratio_last_third``
        (median of η·λ_max/2 over the measured steps in the last third),
        ``median_threshold_ratio_last_third`` (median over the same steps of the curvature the rule's
        stability threshold bounds, divided by that threshold: λ_max/(2/η) for GD, λ_max(P^{-1}H)/(38/η)
        for Adam with β₁ = 0.9; NaN without a threshold), ``median_batch_ratio_last_third`` (the same
        for the batch sharpness of a mini-batch run), ``max_sharpness``,
        ``final_sharpness``, ``final_test_accuracy``, ``total_loss_evals``, ``total_grad_evals``,
        ``total_hvps``, ``diverged``, ``diverged_at``, ``interrupted``, ``wall_time``.

        ``min_loss`` covers every loss the run saw, the final one f(w_n) included, so it is never larger
        than ``final_loss``.
        """
        a = self.arrays
        n = self.num_steps
        loss = a["loss"]
        finite = loss[np.isfinite(loss)]
        c = self.settings.rule_params.get("c", 1e-4)
        c = float(c) if isinstance(c, (int, float)) and math.isfinite(c) else 1e-4
        es = a["eta_sharpness"]
        m = np.isfinite(es)
        first_edge = None
        with np.errstate(divide="ignore", invalid="ignore"):  # η = 0 on skipped steps: 2/η = inf, no hit
            hits = np.flatnonzero(np.isfinite(a["sharpness"]) & (a["sharpness"] >= 0.95 * 2.0 / a["eta"]))
        if hits.size:
            first_edge = int(a["step"][hits[0]])
        last = m & (a["step"] >= (2 * n) // 3)
        third = a["step"] >= (2 * n) // 3
        level = self.settings.stability_threshold
        level = math.nan if level is None else float(level)
        curvature = self.threshold_curvature

        def ratio(values) -> float:
            ok = third & np.isfinite(values)
            if not (ok.any() and math.isfinite(level) and level > 0):
                return math.nan
            return float(np.median(values[ok]) / level)
        acc = a["test_accuracy"][np.isfinite(a["test_accuracy"])]
        sharp = a["sharpness"][np.isfinite(a["sharpness"])]
        final_loss = self.final_loss if math.isfinite(self.final_loss) else (
            float(finite[-1]) if finite.size else math.nan)
        seen = np.append(finite, final_loss) if math.isfinite(final_loss) else finite
        return {
            "num_steps": n,
            "initial_loss": float(loss[0]) if n else math.nan,
            "final_loss": final_loss,
            "min_loss": float(seen.min()) if seen.size else math.nan,
            "loss_increases": int(np.sum(np.diff(finite) > 0)) if finite.size > 1 else 0,
            "frac_eta_sharpness_ge_1mc": float(np.mean(es[m] >= 1 - c)) if m.any() else math.nan,
            "frac_eta_sharpness_gt_2": float(np.mean(es[m] > 2)) if m.any() else math.nan,
            "first_step_at_edge": first_edge,
            "median_ratio_last_third": float(np.median(es[last] / 2)) if last.any() else math.nan,
            "median_threshold_ratio_last_third": ratio(curvature),
            "median_batch_ratio_last_third": ratio(a["batch_sharpness"]) if (
                self.settings.threshold_applies_to == "sharpness") else math.nan,
            "max_sharpness": float(sharp.max()) if sharp.size else math.nan,
            "final_sharpness": float(sharp[-1]) if sharp.size else math.nan,
            "final_test_accuracy": float(acc[-1]) if acc.size else math.nan,
            "total_loss_evals": int(np.nansum(a["loss_evals"])),
            "total_grad_evals": int(np.nansum(a["grad_evals"])),
            "total_hvps": int(np.nansum(a["hvps"])),
            "diverged": self.diverged,
            "diverged_at": self.diverged_at,
            "interrupted": self.interrupted,
            "wall_time": self.wall_time,
        }

    # -- persistence --------------------------------------------------------------------------------
    def save(self, path) -> Path:
        """Write the run to ``path`` (``.npz`` is appended if missing) and return the path written.

        The file is written beside the target and moved into place when complete: an interrupted save
        leaves an earlier file of the same name intact.

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
            "settings": _jsonable(self.settings.to_dict()),
            "final_loss": _jsonable(self.final_loss),
            "diverged": self.diverged,
            "diverged_at": self.diverged_at,
            "interrupted": self.interrupted,
            "notes": list(self.notes),
            "wall_time": _jsonable(self.wall_time),
            "label": self.label,
        }
        payload = {f"a_{k}": v for k, v in self.arrays.items()}
        if self.final_params is not None:
            payload["final_params"] = self.final_params
        payload["meta"] = np.frombuffer(json.dumps(meta, allow_nan=False).encode("utf-8"), dtype=np.uint8)
        return atomic_write(path, lambda fh: np.savez_compressed(fh, **payload))

    @classmethod
    def load(cls, path, *, max_bytes: int = MAX_LOAD_BYTES) -> Run:
        """Read a run written by :meth:`save`, validating it first.

        Every array's size is read from its header and checked against ``max_bytes`` (with the arrays a
        file may omit, which are filled with NaN) before anything is decompressed; the metadata must have
        the documented types; per-step arrays must all have one row per step.

        Raises:
            ValueError: If the file is missing, corrupt, too large, or not an eostutor run file; the message
                names the problem.
        """
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"no run file at {str(path)!r}")
        where = f"{str(path)!r} is not a readable eostutor run file"
        try:
            with zipfile.ZipFile(path) as zf:
                shapes = _member_shapes(zf)
            n = shapes.get("a_loss", ((0,), 8))[0]
            n = n[0] if n else 0
            total = sum(float(np.prod(shape, dtype=np.float64)) * size for shape, size in shapes.values())
            total += 8.0 * n * sum(1 for f in PER_STEP_FIELDS if f"a_{f}" not in shapes)
            meta_shape, meta_size = shapes.get("meta", ((0,), 1))
            meta_bytes = float(np.prod(meta_shape, dtype=np.float64)) * meta_size
            if meta_bytes > _MAX_META_BYTES:
                raise ValueError(f"metadata of {meta_bytes:,.0f} bytes (at most {_MAX_META_BYTES:,})")
            if total > max_bytes:
                raise ValueError(f"its arrays would take {total / 2**20:,.0f} MiB, more than max_bytes = "
                                 f"{max_bytes / 2**20:,.0f} MiB (pass max_bytes to load it anyway)")
            with np.load(path, allow_pickle=False) as data:
                if "meta" not in data.files:
                    raise ValueError("no eostutor metadata")
                meta = _parse_meta(bytes(data["meta"]))
                arrays = {k[2:]: data[k] for k in data.files if k.startswith("a_")}
                final_params = data["final_params"] if "final_params" in data.files else None
            return cls(arrays, RunSettings.from_dict(meta["settings"]), final_params=final_params,
                       final_loss=meta["final_loss"], diverged=meta["diverged"], diverged_at=meta["diverged_at"],
                       interrupted=meta["interrupted"], notes=meta["notes"], wall_time=meta["wall_time"],
                       label=meta["label"])
        except ValueError as err:
            raise ValueError(f"{where}: {err}") from None
        except (zipfile.BadZipFile, OSError, KeyError, EOFError, UnicodeDecodeError, RecursionError,
                MemoryError, TypeError, OverflowError) as err:
            raise ValueError(f"{where} ({type(err).__name__}: {err})"[:400]) from None


def _member_shapes(zf: zipfile.ZipFile) -> dict[str, tuple[tuple[int, ...], int]]:
    """Name -> (shape, itemsize) of every .npy member, read from the headers only."""
    out = {}
    members = zf.infolist()
    if len(members) > _MAX_MEMBERS:
        raise ValueError(f"{len(members):,} members (a run file has at most {_MAX_MEMBERS:,})")
    for info in members:
        if not info.filename.endswith(".npy"):
            raise ValueError(f"unexpected member {info.filename!r}")
        with zf.open(info) as fh:
            version = np.lib.format.read_magic(fh)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
            elif version == (2, 0):
                shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
            else:
                raise ValueError(f"unsupported .npy version {version} in {info.filename!r}")
        if dtype.hasobject:
            raise ValueError(f"{info.filename!r} holds Python objects (pickle is never loaded)")
        if dtype.kind not in _NUMERIC_KINDS or dtype.fields is not None or dtype.subdtype is not None:
            raise ValueError(f"{info.filename!r} has dtype {dtype}; run arrays are numeric (bool, integer "
                             "or float)")
        out[info.filename[:-4]] = (tuple(int(s) for s in shape), int(dtype.itemsize))
    return out


def _parse_meta(raw: bytes) -> dict:
    """The metadata JSON, with every field checked."""
    if len(raw) > _MAX_META_BYTES:
        raise ValueError(f"metadata of {len(raw):,} bytes (at most {_MAX_META_BYTES:,})")
    meta = json.loads(raw.decode("utf-8"), object_hook=_restore)
    if not isinstance(meta, dict):
        raise ValueError(f"metadata must be a JSON object, got {type(meta).__name__}")
    if meta.get("format") != _FORMAT:
        raise ValueError(f"format is {meta.get('format')!r}"[:120])
    version = meta.get("format_version", 0)
    if isinstance(version, bool) or not isinstance(version, int):
        raise ValueError(f"format_version must be an integer, got {version!r}"[:120])
    if version > _FORMAT_VERSION:
        raise ValueError(f"format version {version} is newer than this eostutor")
    out = {"settings": meta.get("settings", {})}
    final_loss = meta.get("final_loss", math.nan)
    if final_loss is None:
        final_loss = math.nan
    if isinstance(final_loss, bool) or not isinstance(final_loss, (int, float)):
        raise ValueError(f"final_loss must be a number, got {final_loss!r}"[:120])
    out["final_loss"] = float(final_loss)
    for key in ("diverged", "interrupted"):
        value = meta.get(key, False)
        if not isinstance(value, bool):
            raise ValueError(f"{key} must be true or false, got {value!r}"[:120])
        out[key] = value
    at = meta.get("diverged_at")
    if at is not None and (isinstance(at, bool) or not isinstance(at, int) or at < 0):
        raise ValueError(f"diverged_at must be a step number or null, got {at!r}"[:120])
    out["diverged_at"] = at
    wall = meta.get("wall_time", 0.0)
    if isinstance(wall, bool) or not isinstance(wall, (int, float)):
        raise ValueError(f"wall_time must be a number, got {wall!r}"[:120])
    out["wall_time"] = float(wall)
    notes = meta.get("notes", [])
    if not isinstance(notes, list) or not all(isinstance(n, str) for n in notes):
        raise ValueError("notes must be a list of strings")
    out["notes"] = notes
    label = meta.get("label")
    if label is not None and not isinstance(label, str):
        raise ValueError(f"label must be a string, got {label!r}"[:120])
    out["label"] = label
    return out
