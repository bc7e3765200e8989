"""What the widgets compute, with no GUI: settings in, runs and measurements out.

Every widget of :mod:`eostutor.widgets` drives one of these models, so everything a widget shows can be
computed and tested without a browser or ipywidgets:

* :class:`ExplorerModel` (``StepSizeExplorer``): a problem preset, a rule, η -> a :class:`~eostutor.record.Run`;
* :class:`BifurcationModel` (``BifurcationExplorer``): a sweep over η, and the run at one η;
* :class:`SmoothnessModel` (``SmoothnessExplorer``): the segment smoothness at one iterate of a run;
* :class:`ComparisonModel` (``FlatlandLab``): two rules from the same initialisation.

The η control means each rule's own ``eta_param`` (:func:`eostutor.stepsizes.make_rule`), so a newly
registered rule appears in every menu with no change here.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from eostutor import stepsizes
from eostutor._validate import check_choice, check_in_range, check_int, check_positive
from eostutor.curvature import SegmentSmoothness, segment_smoothness
from eostutor.datasets import digits
from eostutor.experiments import bifurcation_sweep, flatland_problem
from eostutor.problems import TINY_DIM, Minimalist, MLPProblem, Problem, Quadratic, ScalarNet
from eostutor.record import Run
from eostutor.spectrum import sharpness
from eostutor.training import train, with_exact_sharpness

__all__ = ["Preset", "PRESETS", "ExplorerSettings", "ExplorerModel", "BifurcationModel", "SmoothnessModel",
           "Inspection", "ComparisonModel", "divergence_message", "rule_for", "gd_rule_names"]


@dataclass(frozen=True)
class Preset:
    """A named problem for the widgets' menus.

    Attributes:
        name: Menu entry.
        make: Builds the problem (called once, then cached).
        eta: Default step size.
        num_steps: Default number of steps.
        extent: Plot box of the loss landscape for 2-D toys (``None`` for networks).
        description: One line for the help text.
        sharpness_every: Sharpness measurement interval for networks (toys: exact at every step).
        eta_range: The η slider's range, around the interesting thresholds.
        marks: Step sizes worth marking next to the slider besides 2/λ_max(w₀), as (η, what happens there).
    """

    name: str
    make: Callable[[], Problem]
    eta: float
    num_steps: int
    extent: tuple | None = None
    description: str = ""
    sharpness_every: int = 10
    eta_range: tuple[float, float] = (1e-3, 1e2)
    marks: tuple = ()


def _digits_mlp(activation: str = "tanh", n_train: int = 500) -> MLPProblem:
    return MLPProblem(digits(n_train=n_train, dtype=torch.float32), hidden=(32, 32), activation=activation,
                      loss="mse", dtype=torch.float32)


#: The problems offered by the widgets' menus.
PRESETS: dict[str, Preset] = {
    "quadratic": Preset("quadratic", lambda: Quadratic([1.0, 10.0]), 0.15, 200, (-2.0, 2.0, -1.0, 1.0),
                        "½wᵀAw with λ = 1, 10: stable iff η < 2/10 = 0.2", eta_range=(0.01, 0.5),
                        marks=((2.0, "η > 2/λ_min = 2: every direction diverges"),)),
    "minimalist": Preset("minimalist", Minimalist, 0.25, 1000, (1.0, 3.0, -0.8, 1.1),
                         "¼(x²y² − 1)²: GD drifts along the valley until λ_max ≈ 2/η", eta_range=(0.02, 1.0),
                         marks=((0.5, "η > 1/2: no stable minimum (λ ≥ 4 on the valley)"),)),
    "scalar-net": Preset("scalar-net", lambda: ScalarNet(depth=2), 0.8, 500, (0.2, 1.8, 0.2, 1.8),
                         "½(w₁w₂ − 1)²: a two-layer scalar network", eta_range=(0.05, 1.5),
                         marks=((1.0, "η > 1: no stable minimum (λ ≥ 2 on the valley)"),)),
    "mlp-digits": Preset("mlp-digits", lambda: _digits_mlp("tanh"), 2.0, 300, None,
                         "2×32 tanh MLP, 500 digits, MSE (float32): progressive sharpening to 2/η",
                         eta_range=(0.1, 20.0)),
}


def gd_rule_names(num_classes: int | None = None) -> tuple[str, ...]:
    """The rules of the GD widgets' menus: every registered rule that can run (K-dependent ones only on
    classifiers) except the preconditioned ones (Adam, RMSProp), whose edge bounds λ_max(P⁻¹H).

    >>> "nls" in gd_rule_names(10), "adam" in gd_rule_names(10)
    (True, False)
    """
    return tuple(n for n in stepsizes.rule_names(num_classes) if not stepsizes.RULES[n].preconditioned)


def rule_for(name: str, eta: float | None, num_classes: int | None = None) -> stepsizes.Rule:
    """The rule of a menu entry with the η control at ``eta`` (its ``eta_param``; ignored by rules that
    choose every step themselves). At the rule's own default (e.g. NLS-ub's cap K) the argument is left
    out, so the legend reads as the paper's name.

    >>> rule_for("nls-ub", 10.0, num_classes=10), rule_for("nls-ub", 4.0, num_classes=10).cap
    (NLSUpperBounded(c=0.0001, delta=0.5, eta0=1.0), 4.0)
    """
    cls = stepsizes.RULES[check_choice("rule", name, stepsizes.RULES)]
    if cls.eta_param is None or eta is None:
        return stepsizes.make_rule(name)
    eta = check_positive("eta", eta)
    default = cls.default_eta(num_classes)
    if default is not None and math.isclose(eta, default, rel_tol=1e-9):
        return stepsizes.make_rule(name)
    return stepsizes.make_rule(name, eta=eta)


@dataclass(frozen=True)
class ExplorerSettings:
    """Everything a run depends on (the model's input; the GUI's controls map onto it one to one)."""

    problem: str = "quadratic"
    rule: str = "constant"
    eta: float = 0.15
    num_steps: int = 200
    seed: int = 0
    momentum: float = 0.0
    nesterov: bool = False
    w0: tuple[float, ...] | None = None  # the start (default: the problem's initialisation with the seed)


class ExplorerModel:
    """Settings -> a trained :class:`~eostutor.record.Run`, with no GUI.

    Tiny problems (dim ≤ 10) are trained without in-loop curvature and their exact sharpness is then
    measured at every iterate in one batched call (:func:`eostutor.training.with_exact_sharpness`): the
    same numbers as ``sharpness_every=1``, ~100x cheaper. Networks measure λ_max by warm-started Lanczos
    every ``preset.sharpness_every`` steps and stream partial runs through ``callback``.

    Args:
        presets: Name -> :class:`Preset` (default :data:`PRESETS`); a Problem instance may be added with
            :meth:`add_problem`.

    >>> model = ExplorerModel()
    >>> run = model.train(ExplorerSettings("quadratic", "constant", eta=0.25, num_steps=100))
    >>> run.diverged, float(run.sharpness[0])
    (True, 10.0)
    """

    def __init__(self, presets: dict[str, Preset] | None = None):
        self.presets = dict(PRESETS if presets is None else presets)
        self._problems: dict[str, Problem] = {}
        self._start_sharpness: dict[tuple, float] = {}

    def add_problem(self, problem: Problem, name: str = "custom", eta: float = 0.1, num_steps: int = 300) -> str:
        """Offer a user's problem under ``name``; return the name."""
        if not isinstance(problem, Problem):
            raise ValueError(f"problem must be an eostutor Problem, got {type(problem).__name__}")
        extent = None
        if problem.dim == 2:
            w0 = problem.init(0).cpu().numpy()
            r = max(1.0, float(np.abs(w0).max()))
            extent = (-1.5 * r, 1.5 * r, -1.5 * r, 1.5 * r)
        eta = check_positive("eta", eta)
        self.presets[name] = Preset(name, lambda: problem, eta, num_steps, extent, repr(problem),
                                    eta_range=(eta / 30, eta * 30))
        self._problems[name] = problem
        return name

    def problem(self, name: str) -> Problem:
        """The (cached) problem of a preset."""
        check_choice("problem", name, self.presets)
        if name not in self._problems:
            self._problems[name] = self.presets[name].make()
        return self._problems[name]

    def is_tiny(self, name: str) -> bool:
        """Whether the preset's problem is tiny (fast, synchronous runs with exact curvature)."""
        return self.problem(name).dim <= TINY_DIM

    def rule_names(self, name: str) -> tuple[str, ...]:
        """The registered rules that can run on a preset's problem (those needing K only on classifiers),
        except the preconditioned ones (Adam, RMSProp): their edge bounds λ_max(P⁻¹H), which these panels
        do not show; :class:`~eostutor.widgets.OptimizerExplorer` does.
        """
        return gd_rule_names(self.problem(name).num_classes)

    def rule(self, settings: ExplorerSettings, problem: Problem | None = None) -> stepsizes.Rule:
        """The step-size rule for these settings (the η control sets the rule's ``eta_param``)."""
        problem = self.problem(settings.problem) if problem is None else problem
        return rule_for(settings.rule, settings.eta, problem.num_classes)

    def start(self, settings: ExplorerSettings) -> torch.Tensor:
        """The starting point w₀ of these settings (given, or the problem's initialisation with the seed)."""
        problem = self.problem(settings.problem)
        if settings.w0 is not None:
            return problem.check_params(settings.w0, "w0")
        return problem.init(check_int("seed", settings.seed, minimum=0))

    def threshold(self, settings: ExplorerSettings) -> float:
        """The η at which the start is at the edge: 2/λ_max(w₀) for plain GD, 2(1+β)/λ_max(w₀) with heavy-ball
        momentum β, (2+2β)/((1+2β)λ_max(w₀)) with Nesterov (the η control's scale; λ_max computed once per
        start). For the quadratic it is exact everywhere; elsewhere the sharpness moves as GD trains.

        >>> ExplorerModel().threshold(ExplorerSettings("quadratic", momentum=0.5))
        0.3
        """
        problem = self.problem(settings.problem)
        key = (settings.problem, settings.seed if settings.w0 is None else tuple(settings.w0))
        if key not in self._start_sharpness:
            self._start_sharpness[key] = float(sharpness(problem, self.start(settings)).value)
        beta = check_in_range("momentum", settings.momentum, 0.0, 1.0, high_inclusive=False)
        factor = stepsizes.stability_threshold(1.0, momentum=beta, nesterov=bool(settings.nesterov) and beta > 0)
        lam = self._start_sharpness[key]
        return factor / lam if lam > 0 else math.inf

    def train(self, settings: ExplorerSettings, *, callback=None, callback_every: int = 10,
              should_stop=None) -> Run:
        """Train with these settings (the one loop: :func:`eostutor.training.train`)."""
        problem = self.problem(settings.problem)
        rule = self.rule(settings, problem)
        num_steps = check_int("num_steps", settings.num_steps, minimum=1, maximum=100_000)
        seed = check_int("seed", settings.seed, minimum=0)
        momentum = check_in_range("momentum", settings.momentum, 0.0, 1.0, high_inclusive=False)
        nesterov = bool(settings.nesterov) and momentum > 0
        w0 = None if settings.w0 is None else problem.check_params(settings.w0, "w0")
        if problem.dim <= TINY_DIM:
            run = train(problem, rule, num_steps, seed=seed, w0=w0, momentum=momentum, nesterov=nesterov,
                        should_stop=should_stop, callback=callback, callback_every=callback_every,
                        record_params=True)
            return with_exact_sharpness(problem, run)
        preset = self.presets[settings.problem]
        return train(problem, rule, num_steps, seed=seed, w0=w0, momentum=momentum, nesterov=nesterov,
                     sharpness_every=preset.sharpness_every, callback=callback, callback_every=callback_every,
                     should_stop=should_stop)


class BifurcationModel:
    """Long-run behaviour of constant-η GD over a grid of η from one start, and the run at one η.

    >>> model = BifurcationModel(Quadratic([1.0, 10.0]), etas=[0.1, 0.3], num_steps=100, keep_last=5)
    >>> model.sweep().diverged.tolist(), model.run_at(0.1).diverged
    ([False, True], False)
    """

    def __init__(self, problem: Problem, etas=None, *, num_steps: int = 300, keep_last: int = 50, w0=None):
        if not isinstance(problem, Problem) or problem.dim != 2:
            raise ValueError(f"the bifurcation model needs a 2-D problem, got {problem!r}")
        self.problem = problem
        etas = np.linspace(0.05, 0.7, 80) if etas is None else np.asarray(etas, dtype=float).ravel()
        if etas.size == 0 or not np.all(np.isfinite(etas)) or np.any(etas <= 0):
            raise ValueError(f"etas must be a non-empty list of positive numbers, got {etas!r}")
        self.etas = etas
        self.num_steps = check_int("num_steps", num_steps, minimum=1)
        self.keep_last = check_int("keep_last", keep_last, minimum=1, maximum=self.num_steps + 1)
        self.w0 = problem.init(0) if w0 is None else problem.check_params(w0, "w0")

    def sweep(self, callback=None, should_stop=None):
        """The :class:`~eostutor.experiments.BifurcationSweep` over :attr:`etas`."""
        return bifurcation_sweep(self.problem, self.etas, self.num_steps, self.keep_last, self.w0,
                                 callback=callback, should_stop=should_stop)

    def run_at(self, eta: float) -> Run:
        """The run at one η from the common start, with its exact sharpness at every step."""
        eta = check_positive("eta", eta)
        run = train(self.problem, eta, self.num_steps, w0=self.w0, record_params=True)
        return with_exact_sharpness(self.problem, run)


@dataclass(frozen=True)
class Inspection:
    """The segment smoothness at one iterate k of a run (see :class:`SmoothnessModel`)."""

    k: int
    eta: float
    sharpness: float
    smoothness: SegmentSmoothness
    l_eta: float

    @property
    def large(self) -> bool:
        """Whether the step was "large": η_k·l(w_k, η_k) ≥ 1."""
        return self.eta * self.l_eta >= 1


class SmoothnessModel:
    """A run with recorded iterates, and the smoothness along −g at any of them.

    >>> model = SmoothnessModel(Quadratic([1.0, 10.0]), step_sizes=[0.01, 0.1])
    >>> run = model.train("constant", 0.05, 20)
    >>> round(model.inspect(run, 3).sharpness, 6)
    10.0
    """

    def __init__(self, problem: Problem, step_sizes=None):
        self.problem = problem
        self.step_sizes = np.geomspace(1e-3, 10.0, 40) if step_sizes is None else np.asarray(step_sizes, float)

    def train(self, rule: str, eta: float | None, num_steps: int, *, callback=None, should_stop=None) -> Run:
        """Train with the iterates recorded (sharpness every step for tiny problems, else every 10)."""
        return train(self.problem, rule_for(rule, eta, self.problem.num_classes), num_steps,
                     sharpness_every=1 if self.problem.dim <= TINY_DIM else 10, record_params=True,
                     callback=callback, should_stop=should_stop)

    def inspect(self, run: Run, k: int) -> Inspection:
        """The smoothness curve, λ_max and l(w_k, η_k) at iterate k."""
        if "params" not in run.arrays:
            raise ValueError(f"{run!r} has no recorded iterates: train with record_params=True")
        k = min(check_int("k", k, minimum=0), run.num_steps - 1)
        w_k = self.problem.check_params(run.params[k], "w")
        result = segment_smoothness(self.problem, w_k, self.step_sizes)
        lam = float(run.sharpness[k]) if np.isfinite(run.sharpness[k]) else sharpness(self.problem, w_k).value
        eta_k = float(run.eta[k])
        below = result.step_sizes <= eta_k
        l_eta = float(np.nanmax(result.smoothness[below])) if below.any() else math.nan
        return Inspection(k, eta_k, lam, result, l_eta)


class ComparisonModel:
    """Two rules from the same initialisation on one network (default: the Flatland setting).

    >>> model = ComparisonModel(sharpness_every=10)
    >>> model.rule("nls-ub", None), model.label("nls-cap-only", None)
    (NLSUpperBounded(c=0.0001, delta=0.5, eta0=1.0), 'NLS (cap only)')
    """

    def __init__(self, problem: Problem | None = None, sharpness_every: int = 10):
        self.problem = flatland_problem() if problem is None else problem
        if not isinstance(self.problem, Problem):
            raise ValueError(f"problem must be an eostutor Problem, got {type(self.problem).__name__}")
        self.sharpness_every = check_int("sharpness_every", sharpness_every, minimum=1)

    def rule_names(self) -> tuple[str, ...]:
        """The rules that can run on this problem (not the preconditioned ones: see :func:`gd_rule_names`)."""
        return gd_rule_names(self.problem.num_classes)

    def rule(self, name: str, eta: float | None) -> stepsizes.Rule:
        """The rule of a menu entry with the η control at ``eta``."""
        return rule_for(name, eta, self.problem.num_classes)

    def label(self, name: str, eta: float | None) -> str:
        """Its legend label."""
        return stepsizes.rule_label(self.rule(name, eta))

    def start(self, seed: int, init_scale: float = 1.0) -> torch.Tensor:
        """The initialisation of ``seed`` with every weight matrix multiplied by ``init_scale`` (biases
        unchanged): 1 is the problem's own initialisation.

        >>> model = ComparisonModel(sharpness_every=10)
        >>> w1, w2 = model.start(0), model.start(0, init_scale=2.0)
        >>> s = model.problem.layer_slices
        >>> weight, bias = s["layer0.weight"], s["layer0.bias"]
        >>> bool((w2[weight] == 2 * w1[weight]).all()), bool((w2[bias] == w1[bias]).all())
        (True, True)
        """
        scale = check_positive("init_scale", init_scale)
        w = self.problem.init(check_int("seed", seed, minimum=0))
        if scale != 1.0:
            w = w.clone()
            for name, part in getattr(self.problem, "layer_slices", {}).items():
                if name.endswith("weight"):
                    w[part] *= scale
        return w

    def train(self, name: str, eta: float | None, num_steps: int, seed: int, *, init_scale: float = 1.0,
              callback=None, should_stop=None) -> Run:
        """One side of the comparison."""
        w0 = self.start(seed, init_scale)
        return train(self.problem, self.rule(name, eta), num_steps, seed=seed, w0=w0,
                     sharpness_every=self.sharpness_every, callback=callback, callback_every=10,
                     should_stop=should_stop)

    def survey(self, specs, num_steps: int, seeds, *, init_scale: float = 1.0, callback=None,
               should_stop=None) -> dict:
        """Each rule of ``specs`` ((name, η) pairs) on every seed: on how many it entered Flatland
        (:func:`eostutor.experiments.flatland_signature`), and the median final loss and test accuracy.

        Returns:
            label -> ``{"flatland": k, "seeds": n, "flatland_seeds": [...], "median_final_loss": ...,
            "median_test_accuracy": ..., "diverged": d}``; ``callback(done, total)`` after each run.
            Stops early (returning what it has) when ``should_stop()`` becomes true.
        """
        from eostutor.experiments import flatland_signature

        seeds = [check_int("seed", s, minimum=0) for s in seeds]
        out, total, done = {}, len(specs) * len(seeds), 0
        for name, eta in specs:
            label = self.label(name, eta)
            flat, losses, accs, diverged = [], [], [], 0
            for seed in seeds:
                if should_stop is not None and should_stop():
                    return out
                run = self.train(name, eta, num_steps, seed, init_scale=init_scale)
                sig = flatland_signature(run)
                if sig["flatland"]:
                    flat.append(seed)
                diverged += bool(run.diverged)
                losses.append(sig["final_loss"])
                accs.append(sig["final_test_accuracy"])
                done += 1
                if callback is not None:
                    callback(done, total)
            out[label] = {"flatland": len(flat), "seeds": len(seeds), "flatland_seeds": flat, "diverged": diverged,
                          "median_final_loss": float(np.nanmedian(losses)),
                          "median_test_accuracy": float(np.nanmedian(accs))}
        return out


def divergence_message(run: Run, problem: Problem | None = None) -> str:
    """A one-line explanation of a diverged run (plain text).

    >>> run = Run({"loss": np.ones(3), "eta": np.full(3, 0.3)}, diverged=True, diverged_at=3)
    >>> divergence_message(run, Quadratic([1.0, 10.0]))
    'diverged at step 3: η = 0.3 > 2/λ_max = 0.2, so the top direction grows by |1 − ηλ| > 1 each step'
    """
    msg = f"diverged at step {run.diverged_at}"
    eta = run.eta[np.isfinite(run.eta)]
    lam = problem.sharpness if isinstance(problem, Quadratic) else None
    if lam is not None and eta.size and np.allclose(eta, eta[0]) and eta[0] * lam > 2:
        return (f"{msg}: η = {eta[0]:.3g} > 2/λ_max = {2 / lam:.3g}, so the top direction grows by |1 − ηλ| > 1 "
                "each step")
    sharp = run.sharpness[np.isfinite(run.sharpness)]
    if eta.size and sharp.size:
        return f"{msg}: the loss blew up (last η·λ_max = {eta[-1] * sharp[-1]:.3g}; stable needs < 2)"
    return f"{msg}: the loss blew up"
