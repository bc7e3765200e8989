"""A run's per-step curves in live panels: the browser-drawn counterparts of :mod:`eostutor.plots.curves`.

Each function draws one quantity of one run into a :class:`~eostutor.widgets.panels.Panel` under a role
prefix ``key`` (``"run"`` for the current run, ``"pin0"``, ``"pin1"``, … for pinned ones) and returns the
values the panel's y-limits should cover. Reference lines (2/η, the stability edge 2, the 2/K floor) are
drawn for the run marked ``main`` only, each with a legend entry appended to ``legend``. Every function
takes the same arguments (``thresholds=False`` leaves out the per-run thresholds 2/η and 2/λ_max when
several runs share a panel).

>>> import numpy as np
>>> from eostutor.record import Run
>>> run = Run({"loss": np.array([1.0, 0.5]), "eta": np.full(2, 0.1), "sharpness": np.array([5.0, 6.0])})
>>> panel = make_panel("sharpness")
>>> legend = []
>>> _ = sharpness(panel, run, "run", "#000000", main=True, legend=legend)
>>> panel.marks["run:2/eta"].y.tolist(), [entry[0] for entry in legend]
([20.0, 20.0], ['2/η = 20'])
"""

from __future__ import annotations

import math

import numpy as np

from eostutor import stepsizes
from eostutor.record import Run
from eostutor.widgets.panels import OKABE_ITO, REF_COLOR, Panel

__all__ = ["PANELS", "make_panel", "loss", "sharpness", "eta_sharpness", "step_size", "test_accuracy",
           "layer_grad_norms", "DRAW"]

#: Panel name -> (title, y label, log y).
PANELS = {
    "loss": ("Training loss", "loss f(w_k)", True),
    "sharpness": ("Sharpness λ_max and 2/η", "λ_max", False),
    "eta_sharpness": ("η·λ_max: unstable above 2", "η·λ_max", False),
    "step_size": ("Step size η_k", "η_k", True),
    "test_accuracy": ("Test accuracy", "accuracy", False),
    "layer_grad_norms": ("Layer gradient norms", "‖∇f‖ of a layer", True),
}
_MAX_POINTS = 300  # 2/η_k of an adaptive rule: at most this many dots (a band, not a hatched block)


def make_panel(name: str, width: int = 300, height: int = 220) -> Panel:
    """A panel for one of :data:`PANELS` (the step axis starts at 0)."""
    title, _ylabel, ylog = PANELS[name]
    # no y label: the title says what is plotted, and the tick labels get the room
    return Panel(title, "step k", "", ylog=ylog, width=width, height=height)


def _diverged(panel: Panel, run: Run, key: str, x, y, color: str) -> None:
    """A ✕ at the last finite point of a diverged run."""
    if not run.diverged:
        return
    ok = np.isfinite(np.asarray(y, dtype=float))
    if ok.any():
        i = np.flatnonzero(ok)[-1]
        panel.points(f"{key}:diverged", [x[i]], [y[i]], color=color, marker="cross", size=80, stroke=None)


def _thin(x, y, n: int = _MAX_POINTS):
    if len(x) <= n:
        return x, y
    idx = np.unique(np.linspace(0, len(x) - 1, n).round().astype(int))
    return x[idx], y[idx]


def _threshold_factor(run: Run) -> tuple[float, str]:
    """λ_max·η at the edge for this run's momentum (2 for plain GD) and its symbol."""
    beta, nesterov = float(run.settings.momentum), bool(run.settings.nesterov)
    factor = stepsizes.stability_threshold(1.0, momentum=beta, nesterov=nesterov)
    if beta == 0:
        return factor, "2/η"
    return factor, "(2+2β)/((1+2β)η)" if nesterov else "2(1+β)/η"


def _constant_threshold(run: Run, factor: float) -> list[float]:
    """[factor/η] when the run's η is constant, else []."""
    eta = run.eta[np.isfinite(run.eta) & (run.eta > 0)]
    if eta.size and np.allclose(eta, eta[0], rtol=1e-9):
        return [factor / float(eta[0])]
    return []


def _has_floor(run: Run) -> bool:
    """Whether the run's problem has a 2/K floor (a classifier's)."""
    floor = run.settings.sharpness_floor
    return isinstance(floor, (int, float)) and math.isfinite(floor) and floor > 0


def _shows_floor(run: Run) -> bool:
    """The 2/K floor matters to the rules whose steps it bounds (line searches, the warm-up to 0.9 K)."""
    cls = stepsizes.RULES.get(run.settings.rule)
    relevant = cls is not None and (issubclass(cls, stepsizes.LineSearch) or cls.needs_num_classes)
    return relevant and _has_floor(run)


def loss(panel: Panel, run: Run, key: str, color: str, *, main: bool = True, width: float = 1.8,
         opacity: float = 1.0, legend=None, thresholds: bool = True) -> list:
    """The training loss (log axis)."""
    panel.line(key, run.step, run.loss, color=color, width=width, opacity=opacity)
    _diverged(panel, run, key, run.step, run.loss, color)
    return [run.loss]


def sharpness(panel: Panel, run: Run, key: str, color: str, *, main: bool = True, width: float = 1.8,
              opacity: float = 1.0, legend=None, thresholds: bool = True, floor: bool | None = None) -> list:
    """λ_max at the measured steps; for ``main`` the threshold 2/η (a line when η is constant, light dots of
    2/η_k when it changes; not with ``thresholds=False``) and the 2/K floor: for the rules it bounds when
    ``floor`` is None, for every rule of a classifier when it is True (FlatlandLab), never when False.
    """
    m = np.isfinite(run.sharpness)
    x, y = run.step[m], run.sharpness[m]
    factor, symbol = _threshold_factor(run)
    panel.line(key, x, y, color=color, width=width, opacity=opacity)
    # A diverging run's λ_max explodes in its last steps: the axis stops at a few times where it started
    # (or the threshold), the line leaves the top and the ✕ sits on the edge.
    top = 4.0 * max([abs(float(y[0])) if y.size else 0.0, *_constant_threshold(run, factor)])
    cut = np.minimum(y, top) if run.diverged and top > 0 else y
    _diverged(panel, run, key, x, cut, color)
    out = [cut]
    if not main:
        return out
    eta = run.eta[np.isfinite(run.eta) & (run.eta > 0)]
    n = max(1, run.settings.num_steps, len(run.loss))
    if not thresholds:
        pass
    elif eta.size and np.allclose(eta, eta[0], rtol=1e-9):
        level = factor / float(eta[0])
        panel.hline(f"{key}:2/eta", level, (0, n), color="black", style="--", width=1.4)
        out.append([level])
        if legend is not None:
            legend.append((f"{symbol} = {level:.3g}", "black", "--"))
    elif eta.size:
        ok = np.isfinite(run.eta) & (run.eta > 0)
        tx, ty = _thin(run.step[ok], factor / run.eta[ok])
        panel.points(f"{key}:2/eta", tx, ty, color=REF_COLOR, size=6, stroke=None, opacity=0.6)
        # limits from λ_max, not from 2/η_k spikes (an adaptive η of 1e-6 would flatten everything)
        if y.size:
            out.append([min(float(np.median(ty)), 3 * float(np.max(y)))])
        if legend is not None:
            legend.append((f"{symbol}_k (dots)", REF_COLOR, "-", "dot"))
    if _shows_floor(run) if floor is None else floor and _has_floor(run):
        level = float(run.settings.sharpness_floor)
        panel.hline(f"{key}:floor", level, (0, n), color=OKABE_ITO["reddish_purple"], style=":", width=1.8)
        out.append([level])
        if legend is not None:
            legend.append((f"2/K floor = {level:.3g}", OKABE_ITO["reddish_purple"], ":"))
    out.append([0.0])
    return out


def eta_sharpness(panel: Panel, run: Run, key: str, color: str, *, main: bool = True, width: float = 1.8,
                  opacity: float = 1.0, legend=None, thresholds: bool = True) -> list:
    """η_k·λ_max at the measured steps; for ``main`` the edge (2, or the momentum edge) and, for line
    searches, 1 − c (an NLS step whose double was rejected has η·λ_max above it on a quadratic).
    """
    m = np.isfinite(run.eta_sharpness)
    x, y = run.step[m], run.eta_sharpness[m]
    panel.line(key, x, y, color=color, width=width, opacity=opacity)
    cut = np.minimum(y, 10.0)  # a blow-up to 1e6 would hide the edge: the panel stops at 10
    _diverged(panel, run, key, x, cut, color)
    out = [cut, [0.0]]
    if not main:
        return out
    n = max(1, run.settings.num_steps, len(run.loss))
    factor, _ = _threshold_factor(run)
    panel.hline(f"{key}:edge", factor, (0, n), color="black", style="--", width=1.4)
    out.append([factor * 1.15])
    if legend is not None:
        legend.append((f"edge η·λ_max = {factor:.3g}", "black", "--"))
    cls = stepsizes.RULES.get(run.settings.rule)
    if cls is not None and issubclass(cls, stepsizes.LineSearch):
        c = float(run.settings.rule_params.get("c", 1e-4))
        panel.hline(f"{key}:one_minus_c", 1 - c, (0, n), color=REF_COLOR, style=":", width=1.8)
        if legend is not None:
            legend.append((f"1 − c (c = {c:g})", REF_COLOR, ":"))
    return out


def step_size(panel: Panel, run: Run, key: str, color: str, *, main: bool = True, width: float = 1.8,
              opacity: float = 1.0, legend=None, thresholds: bool = True) -> list:
    """The accepted step η_k (log axis); for ``main`` 2/λ_max at the measured steps (above it the step
    leaves the quadratic's stable range; not with ``thresholds=False``) and η = K for the rules the floor
    bounds.
    """
    panel.line(key, run.step, run.eta, color=color, width=width, opacity=opacity)
    _diverged(panel, run, key, run.step, run.eta, color)
    out = [run.eta]
    if not main:
        return out
    m = np.isfinite(run.sharpness) & (run.sharpness > 0)
    if thresholds and m.any():
        factor, _ = _threshold_factor(run)
        limit = factor / run.sharpness[m]
        panel.line(f"{key}:2/sharpness", run.step[m], limit, color=REF_COLOR, style="--", width=1.3)
        eta = run.eta[np.isfinite(run.eta) & (run.eta > 0)]
        if eta.size:  # where λ_max nearly vanishes 2/λ_max shoots up: keep the axis about η_k
            out.append(np.clip(limit, eta.min() / 10, eta.max() * 10))
        if legend is not None:
            legend.append(("stable below: 2/λ_max" if factor == 2 else "stable below (momentum)", REF_COLOR, "--"))
    if _shows_floor(run) and run.settings.num_classes:
        k = float(run.settings.num_classes)
        n = max(1, run.settings.num_steps, len(run.loss))
        panel.hline(f"{key}:K", k, (0, n), color=OKABE_ITO["reddish_purple"], style=":", width=1.8)
        out.append([k])
        if legend is not None:
            legend.append((f"η = K = {k:g}", OKABE_ITO["reddish_purple"], ":"))
    return out


def test_accuracy(panel: Panel, run: Run, key: str, color: str, *, main: bool = True, width: float = 1.8,
                  opacity: float = 1.0, legend=None, thresholds: bool = True) -> list:
    """Held-out accuracy at the evaluated steps (axis 0 to 1)."""
    m = np.isfinite(run.test_accuracy)
    panel.line(key, run.step[m], run.test_accuracy[m], color=color, width=width, opacity=opacity)
    return [[0.0, 1.0]]


def layer_grad_norms(panel: Panel, run: Run, key: str, color: str, *, main: bool = True, width: float = 1.8,
                     opacity: float = 1.0, legend=None, thresholds: bool = True) -> list:
    """Gradient norms of the hidden layers (solid) and of the last-layer bias (dashed)."""
    panel.line(f"{key}:hidden", run.step, run.grad_norm_hidden, color=color, width=width, opacity=opacity)
    panel.line(f"{key}:bias", run.step, run.grad_norm_last_bias, color=color, width=width, style="--",
               opacity=opacity)
    if main and legend is not None:
        legend.extend([("hidden layers", REF_COLOR, "-"), ("last-layer bias", REF_COLOR, "--")])
    return [run.grad_norm_hidden, run.grad_norm_last_bias]


test_accuracy.__test__ = False  # a drawing, not a pytest test

#: Panel name -> drawing function.
DRAW = {"loss": loss, "sharpness": sharpness, "eta_sharpness": eta_sharpness, "step_size": step_size,
        "test_accuracy": test_accuracy, "layer_grad_norms": layer_grad_norms}
