"""Gradient flow, the limit of gradient descent as η → 0, and GD measured against it (notebook 04).

Gradient flow solves dw/dt = −∇f(w). One GD step with step size η is one Euler step of it, so GD's w_k
approximates the flow's w(kη), with an error of order η, for as long as the steps are stable. Cohen et al.
(2021) compare the two on networks: GD's sharpness follows the flow's until it reaches 2/η; there the flow
goes on sharpening while GD stops at the edge, and its iterates leave the flow's path. That is where the
Edge of Stability begins.

:func:`gradient_flow` integrates the flow with the classical fourth-order Runge–Kutta method (RK4) and, with
``check=True``, a second time with half the step: the largest difference between the two, relative to the
distance the flow travelled, is reported as :attr:`Flow.error`. RK4's error shrinks 16-fold when the step
is halved, so that difference is close to the error of the coarser solution (the tests check the order
against the exact flow of a quadratic, e^{−At} w₀). :func:`gd_and_flow` runs GD with several step sizes
from the flow's starting point and records how far each one is from the flow at the same time t = kη.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from eostutor._validate import check_int, check_positive
from eostutor.curvature import HessianOperator
from eostutor.experiments.base import reference_problem
from eostutor.problems import Problem
from eostutor.record import Run
from eostutor.spectrum.tracking import SharpnessTracker
from eostutor.training import train

__all__ = ["Flow", "gradient_flow", "FlowComparison", "gd_and_flow"]


@dataclass(frozen=True)
class Flow:
    """Gradient flow dw/dt = −∇f(w), sampled at chosen times.

    Attributes:
        time: The times t (ascending, the first is 0).
        loss: f(w(t)).
        sharpness: λ_max(w(t)) where measured, else NaN.
        dt: The RK4 step.
        error: Estimated integration error: max over the times of ‖w_dt(t) − w_dt/2(t)‖ divided by the
            largest ‖w(t) − w(0)‖ (NaN when not checked).
        params: The iterates w(t), one row per time (``None`` unless kept).
        label: Legend text.
    """

    time: np.ndarray
    loss: np.ndarray
    sharpness: np.ndarray
    dt: float
    error: float = math.nan
    params: np.ndarray | None = field(default=None, repr=False)
    label: str = "gradient flow"

    def sharpness_reaches(self, level: float) -> float:
        """The first time the measured sharpness reaches ``level`` (linear interpolation between two
        measurements; NaN if it never does).

        >>> flow = Flow(np.array([0.0, 1.0, 2.0]), np.ones(3), np.array([0.4, 0.6, 0.8]), 0.5)
        >>> round(flow.sharpness_reaches(0.7), 6)
        1.5
        """
        m = np.isfinite(self.sharpness)
        t, s = self.time[m], self.sharpness[m]
        above = np.flatnonzero(s >= level)
        if above.size == 0:
            return math.nan
        j = int(above[0])
        if j == 0:
            return float(t[0])
        return float(t[j - 1] + (level - s[j - 1]) / (s[j] - s[j - 1]) * (t[j] - t[j - 1]))

    def __repr__(self) -> str:
        checked = f", error {self.error:.1e}" if math.isfinite(self.error) else ""
        return f"Flow(t = 0 … {self.time[-1]:g}, RK4 dt = {self.dt:g}{checked})"


def _rk4_step(problem: Problem, w: torch.Tensor, h: float) -> torch.Tensor:
    """One classical Runge–Kutta step of dw/dt = −∇f(w)."""
    k1 = problem.grad(w)
    k2 = problem.grad(w - 0.5 * h * k1)
    k3 = problem.grad(w - 0.5 * h * k2)
    k4 = problem.grad(w - h * k3)
    return w - (h / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)


def _advance(problem: Problem, w: torch.Tensor, t: float, target: float, dt: float) -> torch.Tensor:
    """Integrate from t to exactly ``target`` with steps of at most dt."""
    while target - t > 1e-12 * max(1.0, target):
        h = min(dt, target - t)
        w = _rk4_step(problem, w, h)
        t = target if h == target - t else t + h
    return w


def gradient_flow(problem: Problem, t_end: float, *, w0=None, seed: int = 0, dt: float = 1.0, times=None,
                  sharpness_times=(), check: bool = True, keep_params: bool = False,
                  sharpness_tol: float = 1e-3) -> Flow:
    """Integrate gradient flow dw/dt = −∇f(w) from w0 to ``t_end`` with RK4, recording chosen times.

    RK4 is stable along a direction of curvature λ while dt·λ < 2.78 and accurate well below that: keep
    dt·λ_max ≲ 1 (``check=True`` tells you how accurate the result is).

    Args:
        problem: Any problem.
        t_end: Final time (> 0).
        w0: Starting point (default ``problem.init(seed)``).
        seed: Seed of the initialisation and of the eigen-solver's random start.
        dt: Largest RK4 step (steps are shortened to land exactly on each recorded time).
        times: Times to record, in [0, t_end] (default 201 evenly spaced; 0 and t_end are always added).
        sharpness_times: Times at which λ_max is measured (added to ``times``); measurements are
            warm-started like those of the training loop.
        check: Integrate again with dt/2 and report the difference as :attr:`Flow.error` (three times the
            gradient evaluations of a single integration in all).
        keep_params: Keep w(t) at every recorded time in :attr:`Flow.params` (float64 rows).
        sharpness_tol: Relative residual of each sharpness estimate.

    Returns:
        A :class:`Flow`.

    Raises:
        ValueError: For invalid arguments, or when the integration blows up (dt too large for the curvature).

    On a quadratic the flow is known exactly, w(t) = e^{−At} w₀:

    >>> from eostutor.problems import Quadratic
    >>> flow = gradient_flow(Quadratic([1.0, 10.0]), 1.0, w0=[1.0, 1.0], dt=0.01, times=[0.5], keep_params=True)
    >>> flow
    Flow(t = 0 … 1, RK4 dt = 0.01, error 2.4e-08)
    >>> flow.time.tolist(), float(np.abs(flow.params[-1] - np.exp([-1.0, -10.0])).max()) < 1e-9
    ([0.0, 0.5, 1.0], True)
    """
    t_end = check_positive("t_end", t_end)
    dt = check_positive("dt", dt)
    seed = check_int("seed", seed, minimum=0)
    w0 = problem.init(seed) if w0 is None else problem.check_params(w0, "w0")
    measure = np.asarray(sorted(set(float(t) for t in sharpness_times)), dtype=float)
    grid = np.linspace(0.0, t_end, 201) if times is None else np.asarray(times, dtype=float).ravel()
    grid = np.unique(np.concatenate([[0.0, t_end], grid, measure]))
    if not (np.all(np.isfinite(grid)) and grid[0] >= 0.0 and grid[-1] <= t_end * (1 + 1e-12)):
        raise ValueError(f"times and sharpness_times must lie in [0, t_end = {t_end:g}]")
    want_sharpness = np.isin(grid, measure)

    tracker = SharpnessTracker(problem, tol=sharpness_tol, seed=seed)
    loss = np.full(grid.size, np.nan)
    sharp = np.full(grid.size, np.nan)
    params = np.empty((grid.size, problem.dim)) if keep_params else None
    w, fine = w0.clone(), w0.clone()
    worst, travelled, t = 0.0, 0.0, 0.0
    for j, target in enumerate(grid):
        w = _advance(problem, w, t, float(target), dt)
        loss[j] = problem.loss(w)
        if not (math.isfinite(loss[j]) and bool(torch.isfinite(w).all())):
            raise ValueError(f"the flow blew up before t = {target:g}: dt = {dt:g} is too large for the curvature "
                             "here (RK4 needs dt·λ_max < 2.78; use a smaller dt)")
        if check:
            fine = _advance(problem, fine, t, float(target), dt / 2)
            worst = max(worst, float((w - fine).norm()))
            travelled = max(travelled, float((fine - w0).norm()))
        if want_sharpness[j]:
            sharp[j] = tracker.measure(HessianOperator(problem, w), step=j).value
        if params is not None:
            params[j] = w.detach().cpu().double().numpy()
        t = float(target)
    error = (worst / travelled if travelled > 0 else 0.0) if check else math.nan
    return Flow(time=grid, loss=loss, sharpness=sharp, dt=dt, error=error, params=params)


@dataclass(frozen=True)
class FlowComparison:
    """GD with several step sizes next to the gradient flow from the same start (:func:`gd_and_flow`).

    Attributes:
        problem: The problem.
        flow: The flow, sampled at every time kη at which a GD run was compared with it.
        runs: ``label -> Run`` of GD (one per η). Besides the usual arrays each has ``flow_distance``
            (‖w_k − w(kη)‖) and ``flow_travelled`` (‖w(kη) − w_0‖) at the compared steps, NaN elsewhere.
        summary: Per label: ``eta``, ``edge_step`` and ``edge_time`` (the first measured step where
            λ_max ≥ 2/η, and kη), ``flow_edge_time`` (when the flow's sharpness reaches 2/η),
            ``distance_at_edge`` (‖w_k − w(kη)‖ / ‖w(kη) − w_0‖ at the edge step), ``final_distance`` (the
            same ratio at the last compared step), ``sharpness_gap_before_edge``
            (largest |λ_max(w_k) / λ_max(w(kη)) − 1| up to the edge, the flow's λ_max interpolated between its
            measurements), ``hover`` (median λ_max / (2/η) over the last third); plus ``flow``: ``error``,
            ``final_sharpness``.
    """

    problem: Problem
    flow: Flow
    runs: dict[str, Run]
    summary: dict

    def __repr__(self) -> str:
        return f"FlowComparison({', '.join(self.runs)} against {self.flow!r})"


def gd_and_flow(*, etas=(4.0, 2.5, 2.0), t_end: float = 1200.0, seed: int = 0, dt: float = 1.0,
                compare_every: int = 10, flow_sharpness_every: float = 20.0, check: bool = True,
                problem: Problem | None = None, progress: bool = False) -> FlowComparison:
    """GD with each step size of ``etas`` and gradient flow, from the same start, up to time ``t_end``.

    On the reference network (default) the flow's sharpness rises from 0.45 past 1; each GD run follows
    it, in time t = kη, until its λ_max reaches its own 2/η, then stays near 2/η while the flow sharpens
    on, and its distance to the flow jumps once the oscillation has grown (Cohen et al. 2021).

    Args:
        etas: GD step sizes (each gets ``round(t_end / η)`` steps).
        t_end: Time horizon of the comparison.
        seed: Initialisation seed (the same start for every run and the flow).
        dt: RK4 step of the flow (1.0 on the reference network: dt·λ_max ≤ 1.5 up to t = 1,600).
        compare_every: Measure λ_max and the distance to the flow every this many GD steps.
        flow_sharpness_every: Measure the flow's λ_max every this much time.
        check: Estimate the flow's integration error (see :func:`gradient_flow`).
        problem: The problem (default :func:`eostutor.experiments.reference_problem`).
        progress: Progress bars for the GD runs.

    Returns:
        A :class:`FlowComparison`.
    """
    problem = reference_problem() if problem is None else problem
    t_end = check_positive("t_end", t_end)
    compare_every = check_int("compare_every", compare_every, minimum=1)
    flow_sharpness_every = check_positive("flow_sharpness_every", flow_sharpness_every)
    etas = [check_positive("eta", e) for e in etas]
    if not etas:
        raise ValueError("etas must hold at least one step size")
    w0 = problem.init(seed)
    runs, compared = {}, {}
    for eta in etas:
        n = max(1, int(round(t_end / eta)))
        run = train(problem, eta, n, w0=w0, seed=seed, sharpness_every=compare_every, record_params=True,
                    progress=progress, label=f"GD, η = {eta:g}")
        steps = np.arange(0, n + 1, compare_every)
        runs[run.label], compared[run.label] = run, (eta, steps)
    times = np.unique(np.concatenate([eta * steps for eta, steps in compared.values()]))
    times = times[times <= t_end * (1 + 1e-12)]
    flow = gradient_flow(problem, float(times.max(initial=t_end)), w0=w0, seed=seed, dt=dt, times=times,
                         sharpness_times=np.arange(0.0, t_end + 1e-9, flow_sharpness_every), check=check,
                         keep_params=True)
    start = w0.detach().cpu().double().numpy()
    summary = {"flow": {"error": flow.error, "dt": dt, "final_sharpness": float(flow.sharpness[np.isfinite(
        flow.sharpness)][-1])}}
    for label, run in list(runs.items()):
        eta, steps = compared[label]
        iterates = np.asarray(run.params, dtype=float)
        distance = np.full(run.num_steps, np.nan)
        travelled = np.full(run.num_steps, np.nan)
        for k in steps[steps < run.num_steps]:
            j = int(np.argmin(np.abs(flow.time - k * eta)))
            distance[k] = np.linalg.norm(iterates[k] - flow.params[j])
            travelled[k] = np.linalg.norm(flow.params[j] - start)
        runs[label] = run = run.replace(drop=("params",), arrays={"flow_distance": distance,
                                                                   "flow_travelled": travelled})
        edge = 2.0 / eta
        reached = np.flatnonzero(run.measured & (run.sharpness >= edge))
        edge_step = int(reached[0]) if reached.size else None
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = distance / travelled
        late = run.measured & (run.step >= 2 * run.num_steps // 3)
        before = run.measured & (run.step <= (edge_step if edge_step is not None else run.num_steps))
        flow_sharp = np.interp(run.step[before] * eta, flow.time[np.isfinite(flow.sharpness)],
                               flow.sharpness[np.isfinite(flow.sharpness)])
        summary[label] = {
            "eta": eta, "edge_step": edge_step, "edge_time": None if edge_step is None else edge_step * eta,
            "flow_edge_time": flow.sharpness_reaches(edge),
            "distance_at_edge": float(ratio[edge_step]) if edge_step is not None else math.nan,
            "final_distance": float(ratio[np.isfinite(ratio)][-1]),
            "sharpness_gap_before_edge": float(np.max(np.abs(run.sharpness[before] / flow_sharp - 1.0))),
            "hover": float(np.median(run.sharpness[late]) / edge) if late.any() else math.nan,
        }
    flow = Flow(time=flow.time, loss=flow.loss, sharpness=flow.sharpness, dt=flow.dt, error=flow.error)
    return FlowComparison(problem=problem, flow=flow, runs=runs, summary=summary)
