"""The visual language of every default figure of :mod:`eostutor.plots`, measured on the rendered figure.

For each public plot (and the dashboard and small multiples at several sizes), drawn with default
arguments into a new figure:

* it is at most 1,000 px wide at its own resolution (the notebook output area on a laptop is ~970 px),
  also in projector mode, which must use ≥ 150 dpi and make the text larger on the page;
* no legend box covers more than 1% of the plotted points of any panel, computed from the display
  coordinates of the drawn artists after layout (a sanity test shows the measure does catch a legend
  placed over data);
* no log axis has a limit ≤ 0, and exact zeros sit on a marked floor;
* log axes are labelled with plain numbers, run colours have ≥ 3:1 contrast on white, reference lines
  appear only for the runs they concern, and a step size that changes every step is drawn as dots.

Matplotlib runs headless (Agg, set in conftest.py).
"""

from __future__ import annotations

import functools
import math

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure

from eostutor import plots
from eostutor.experiments import bifurcation_sweep
from eostutor.problems import HolderPower, Minimalist, Quadratic, Quartic, ScalarNet
from eostutor.record import Run
from eostutor.spectrum import segment_smoothness
from eostutor.training import train, with_exact_sharpness

MAX_WIDTH = 1000  # px
MAX_LEGEND_COVER = 0.01  # fraction of a panel's plotted points under any legend box


# --------------------------------------------------------------------------------------------------
# Runs that look like the course's: an EoS run, a line search (η alternating 8 ↔ 16, the floor, exact
# zeros in the hidden gradient), a Polyak-like spike, a diverged run
# --------------------------------------------------------------------------------------------------
def _network_run(label="GD, η = 2", rule="constant", n=400, seed=0):
    rng = np.random.default_rng(seed)
    k = np.arange(n)
    if rule == "constant":
        eta = np.full(n, 2.0)
        sharp = np.minimum(0.45 + 0.003 * k, 1.0 + 0.03 * np.sin(k / 9.0))
        params = {"eta": 2.0}
    else:
        eta = np.where(k % 2 == 0, 8.0, 16.0)
        sharp = 0.2 + 0.25 * np.exp(-k / 30)
        params = {"c": 1e-4}
    measured = k % 10 == 0
    sharp = np.where(measured, sharp, np.nan)
    loss = 0.12 * np.exp(-k / 150) * (1 + 0.1 * np.abs(rng.standard_normal(n)))
    hidden = np.exp(-k / 40) * 0.1
    if rule != "constant":
        hidden[40:] = 0.0  # dead hidden layers: an exact zero on a log axis
        loss = np.maximum(loss, 0.09 * (1 + 0.001 * rng.standard_normal(n)))
    return Run(
        {"loss": loss, "eta": eta, "sharpness": sharp, "eta_sharpness": eta * sharp,
         "test_accuracy": np.where(measured, np.minimum(0.1 + k / n, 0.95), np.nan),
         "grad_norm_hidden": hidden, "grad_norm_last_bias": 0.05 + 0.01 * np.sin(k),
         "top_eigenvalues": np.stack([sharp, 0.9 * sharp, 0.8 * sharp], axis=1),
         "sharpness_hvps": np.where(measured, 20, 0)},
        {"rule": rule, "rule_params": params, "sharpness_floor": 0.2, "num_classes": 10,
         "sharpness_method": "lanczos"},
        label=label,
    )


def _polyak_run():
    run = _network_run("Polyak", rule="polyak")
    es = np.array(run.eta_sharpness)
    es[np.flatnonzero(np.isfinite(es))[3]] = 170.0  # one spike: must not flatten the panel
    return run.replace(arrays={**run.arrays, "eta_sharpness": es})


def _diverged_run():
    q = Quadratic([1.0, 10.0])
    return with_exact_sharpness(q, train(q, 0.23, 200, seed=1, label="GD, η = 0.23"))


def _quadratic_runs():
    q = Quadratic([1.0, 10.0])
    return q, [with_exact_sharpness(q, train(q, eta, 80, seed=1, label=f"GD, η = {eta:g}"))
               for eta in (0.05, 0.15, 0.19, 0.23)]


def _minimalist_run():
    m = Minimalist()
    return m, with_exact_sharpness(m, train(m, 0.3, 200, w0=torch.tensor([2.0, 0.51], dtype=torch.float64)))


NET = _network_run()
NLS = _network_run("NLS", rule="nls", seed=1)


def _figure_of(result) -> Figure:
    if isinstance(result, tuple):
        return result[0]
    return result.get_figure(root=True)


# name -> a function drawing one default figure (ax=None)
DEFAULT_FIGURES = {
    "loss": lambda: plots.loss([NET, NLS, _diverged_run()]),
    "sharpness": lambda: plots.sharpness([NET, NLS]),
    "sharpness-edge": lambda: plots.sharpness(NET, edge=True),
    "eta_sharpness": lambda: plots.eta_sharpness([NET, NLS, _polyak_run()]),
    "step_size": lambda: plots.step_size([NET, NLS]),
    "test_accuracy": lambda: plots.test_accuracy([NET, NLS]),
    "layer_grad_norms": lambda: plots.layer_grad_norms([NET, NLS]),
    "dashboard-1-run": lambda: plots.dashboard(NET, title="A dashboard of one run"),
    "dashboard-3-runs": lambda: plots.dashboard([NET, NLS, _polyak_run()], title="Three runs, six panels"),
    "dashboard-2-panels-edge": lambda: plots.dashboard(NET, panels=["loss", "sharpness"], edge=True,
                                                       title="The edge, annotated"),
    "dashboard-zoom": lambda: plots.dashboard(NET, panels=["loss", "eta_sharpness"], steps=(150, 300)),
    "small_multiples": lambda: plots.small_multiples([NET, NLS, _polyak_run(), _network_run("AdGD", "adgd")],
                                                     "eta_sharpness", title="Small multiples"),
    "trajectory-2d": lambda: plots.trajectory(*_quadratic_runs()),
    "trajectory-valley": lambda: plots.trajectory(ScalarNet(depth=2), [
        train(ScalarNet(depth=2), eta, 300, w0=[2.5, 0.35], label=f"η = {eta:g}") for eta in (0.2, 0.4)],
        extent=(0.2, 2.8, -0.4, 1.6), valley=True),
    "trajectory-1d": lambda: plots.trajectory(Quartic(), [train(Quartic(), 0.5, 50, w0=[x0], label=f"x₀ = {x0}")
                                                          for x0 in (1.0, 1.9, 2.1)], extent=(-3.2, 3.2)),
    "iterates": lambda: plots.iterates(train(HolderPower(nu=0.5), 0.1, 300, w0=[1.0])),
    "phase": lambda: plots.phase(_minimalist_run()[1]),
    "bifurcation": lambda: plots.bifurcation(_sweep(), eta=0.3),
    "bifurcation-loss": lambda: plots.bifurcation(_sweep(), quantity="loss"),
    "spectrum": lambda: plots.spectrum([NET, NLS]),
    "density": lambda: plots.density((np.linspace(-1, 5, 200), np.exp(-np.linspace(-1, 5, 200) ** 2) + 1e-6)),
    "segment_smoothness": lambda: plots.segment_smoothness(
        segment_smoothness(Quartic(), [1.9], np.geomspace(1e-3, 1, 31)), eta=0.5, sharpness=10.83, floor=0.2),
    "segment_smoothness-two": lambda: plots.segment_smoothness(
        {x0: segment_smoothness(Quartic(), [x0], np.geomspace(1e-3, 1, 31)) for x0 in ("1.9", "2.1")}, eta=0.5),
    "eigenvalue_snapshots": lambda: plots.eigenvalue_snapshots(Run(
        {"loss": np.ones(5), "eig_steps": np.array([0, 4]),
         "eig_values": np.array([[0.5, 0.3, -0.01, -0.2], [0.2, 0.2, 0.0, 0.0]])}, {"sharpness_floor": 0.2})),
}


def _sweep():
    m = Minimalist()
    return bifurcation_sweep(m, np.linspace(0.05, 0.7, 14), 300, 20, torch.tensor([2.0, 0.51], dtype=torch.float64))


def test_every_public_plot_has_a_default_figure_here():
    # keys are "<plot>" or "<plot>-<variant>"
    public = {name for name in plots.__all__ if callable(getattr(plots, name)) and name[0].islower()} - {
        "find", "figure", "contrast_on_white", "loss_grid", "phase_coordinates", "valley_points"}
    drawn = {name.split("-")[0] for name in DEFAULT_FIGURES}
    assert public <= drawn, f"plots without a default figure in this test: {sorted(public - drawn)}"


# --------------------------------------------------------------------------------------------------
# Measures on the rendered figure
# --------------------------------------------------------------------------------------------------
def _plotted_points(ax) -> np.ndarray:
    """Display coordinates of every drawn data point of the Axes (line vertices, scatter offsets)."""
    pts = []
    for line in ax.lines:
        if not line.get_visible():
            continue
        xy = np.asarray(line.get_xydata(), dtype=float)
        if xy.size:
            pts.append(line.get_transform().transform(xy))
    for coll in ax.collections:
        if isinstance(coll, PathCollection) and coll.get_visible():
            off = np.asarray(coll.get_offsets(), dtype=float)
            if off.size:
                pts.append(coll.get_offset_transform().transform(off))
    if not pts:
        return np.zeros((0, 2))
    pts = np.concatenate(pts)
    pts = pts[np.all(np.isfinite(pts), axis=1)]
    box = ax.get_window_extent()
    inside = (pts[:, 0] >= box.x0) & (pts[:, 0] <= box.x1) & (pts[:, 1] >= box.y0) & (pts[:, 1] <= box.y1)
    return pts[inside]


def legend_cover(fig: Figure) -> dict[str, float]:
    """For each panel: the fraction of its plotted points that lie under a legend box (any legend)."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    legends = [a.get_legend() for a in fig.axes if a.get_legend() is not None] + list(fig.legends)
    boxes = [leg.get_window_extent(renderer) for leg in legends]
    out = {}
    for i, ax in enumerate(fig.axes):
        pts = _plotted_points(ax)
        if len(pts) == 0 or not boxes:
            out[f"{i}:{ax.get_title()}"] = 0.0
            continue
        under = np.zeros(len(pts), bool)
        for b in boxes:
            under |= (pts[:, 0] >= b.x0) & (pts[:, 0] <= b.x1) & (pts[:, 1] >= b.y0) & (pts[:, 1] <= b.y1)
        out[f"{i}:{ax.get_title()}"] = float(under.mean())
    return out


def width_px(fig: Figure) -> float:
    return float(fig.get_size_inches()[0] * fig.dpi)


@functools.cache
def _drawn(name: str) -> Figure:
    """Each default figure is drawn once for all the checks (a figure closed by conftest can still be drawn)."""
    fig = _figure_of(DEFAULT_FIGURES[name]())
    fig.canvas.draw()
    return fig


@pytest.fixture(params=sorted(DEFAULT_FIGURES), ids=sorted(DEFAULT_FIGURES))
def default_figure(request):
    fig = _drawn(request.param)
    if not hasattr(fig.canvas, "get_renderer"):  # closed by conftest after an earlier test: a new Agg canvas
        FigureCanvasAgg(fig)
    return request.param, fig


def test_default_figures_fit_a_laptop_notebook(default_figure):
    name, fig = default_figure
    assert width_px(fig) <= MAX_WIDTH, f"{name}: {width_px(fig):.0f} px wide"
    fig.canvas.draw()
    assert fig.canvas.get_renderer().width <= MAX_WIDTH


def test_no_legend_covers_the_data(default_figure):
    name, fig = default_figure
    cover = legend_cover(fig)
    worst = max(cover.values())
    assert worst <= MAX_LEGEND_COVER, f"{name}: a legend covers {worst:.1%} of a panel's points: {cover}"


def test_no_log_axis_has_a_non_positive_limit(default_figure):
    name, fig = default_figure
    fig.canvas.draw()
    for ax in fig.axes:
        for axis, lim in (("x", ax.get_xlim()), ("y", ax.get_ylim())):
            if (ax.get_xscale() if axis == "x" else ax.get_yscale()) == "log":
                assert min(lim) > 0 and all(math.isfinite(v) for v in lim), f"{name}: log {axis} limits {lim}"


def test_log_axes_have_plain_number_labels(default_figure):
    name, fig = default_figure
    fig.canvas.draw()
    for ax in fig.axes:
        for axis, scale in ((ax.xaxis, ax.get_xscale()), (ax.yaxis, ax.get_yscale())):
            if scale != "log":
                continue
            lo, hi = sorted(axis.get_view_interval())
            major = list(axis.get_majorticklocs())
            for tick in major + list(axis.get_minorticklocs()):
                if not lo <= tick <= hi:
                    continue
                fmt = axis.get_major_formatter() if tick in major else axis.get_minor_formatter()
                text = fmt(tick)
                assert "$" not in text, f"{name}: mathtext tick label {text!r}"
                if text and 1e-3 <= tick < 1e5:
                    assert float(text) == pytest.approx(tick, rel=0.01) or (text == "0"), (name, tick, text)


def test_legend_measure_catches_a_legend_over_the_data():
    # The measure of test_no_legend_covers_the_data must be able to fail: a legend in the middle of dense data.
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    x = np.linspace(0, 1, 2000)
    for j in range(6):
        ax.plot(x, 0.5 + 0.1 * np.sin(20 * x + j), label=f"a long legend entry number {j}")
    ax.legend(loc="center")
    assert max(legend_cover(fig).values()) > 0.05


def test_projector_mode_is_sharper_and_larger_and_leaves_rcparams_alone():
    before = dict(matplotlib.rcParams)
    for draw in (lambda p: plots.loss(NET, projector=p), lambda p: plots.dashboard([NET, NLS], projector=p),
                 lambda p: plots.trajectory(*_quadratic_runs(), projector=p)):
        screen, proj = _figure_of(draw(False)), _figure_of(draw(True))
        assert screen.dpi == plots.SCREEN_DPI and proj.dpi >= 150
        assert width_px(proj) <= MAX_WIDTH
        # the same text is drawn with more pixels: larger on the page
        screen.canvas.draw()
        proj.canvas.draw()
        label_s, label_p = (max(t.get_window_extent().height for t in f.axes[0].get_yticklabels() if t.get_text())
                            for f in (screen, proj))
        assert label_p > 1.3 * label_s
    assert dict(matplotlib.rcParams) == before


# --------------------------------------------------------------------------------------------------
# What is drawn
# --------------------------------------------------------------------------------------------------
def test_run_colours_and_colour_maps_have_contrast_on_white():
    for c in plots.RUN_COLORS:
        assert plots.contrast_on_white(c) >= 3.0, c
    for t in np.linspace(0, 1, 11):
        assert plots.contrast_on_white(plots.SEQUENTIAL(t)) >= 3.0, t
    # the phase plane's points use it (light = early): no pale yellow start any more
    m, run = _minimalist_run()
    ax = plots.phase(run)
    colors = plots.find(ax, "phase:points").get_facecolors()
    assert min(plots.contrast_on_white(c[:3]) for c in colors) >= 3.0


def test_a_changing_step_is_drawn_as_dots_and_the_limits_follow_the_sharpness():
    ax = plots.sharpness(NLS)
    dots = plots.find(ax, "sharpness:2/eta:0")
    assert dots.get_linestyle() == "None" and dots.get_marker() == "o"
    assert len(dots.get_xdata()) <= 400
    np.testing.assert_allclose(dots.get_ydata(), 2 / np.interp(dots.get_xdata(), NLS.step, NLS.eta))
    ax = plots.step_size(NLS)  # η alternating 8 ↔ 16 at every step: dots, not a solid block
    assert plots.find(ax, "step_size:line:0").get_linestyle() == "None"
    ax = plots.sharpness(NET)  # a constant step: one dashed line
    assert plots.find(ax, "sharpness:2/eta:0").get_linestyle() == "--"


def test_reference_lines_only_where_they_mean_something():
    labels = lambda ax: [t.get_text() for t in ax.get_legend().get_texts()]  # noqa: E731
    gd = plots.sharpness(NET)
    assert plots.find(gd, "sharpness:floor:0") is None  # constant η: the 2/K floor is not its story
    assert plots.find(plots.step_size(NET), "step_size:K") is None
    assert plots.find(plots.eta_sharpness(NET), "eta_sharpness:one_minus_c") is None
    assert plots.find(plots.loss(NET), "loss:prior") is None
    nls = plots.sharpness(NLS)
    assert plots.find(nls, "sharpness:floor:0") is not None and any("2/K" in t for t in labels(nls))
    assert plots.find(plots.step_size(NLS), "step_size:K") is not None
    assert plots.find(plots.eta_sharpness(NLS), "eta_sharpness:one_minus_c") is not None
    prior = plots.find(plots.loss(NLS), "loss:prior")  # NLS sits at (K−1)/K² = 0.09: drawn, labelled, on top
    assert prior is not None and prior.get_ydata()[0] == pytest.approx(0.09)
    assert prior.get_zorder() > plots.find(plots.loss(NLS), "loss:line:0").get_zorder()


def test_exact_zeros_sit_on_a_marked_floor():
    ax = plots.layer_grad_norms(NLS)
    hidden = plots.find(ax, "layer_grad_norms:hidden:0").get_ydata()
    floor = hidden[-1]
    assert 0 < floor < np.min(NLS.grad_norm_hidden[NLS.grad_norm_hidden > 0])
    assert plots.find(ax, "layer_grad_norms:zero_band") is not None
    ax.figure.canvas.draw()
    assert ax.get_ylim()[0] > 0
    labels = {ax.yaxis.get_major_formatter()(t) for t in ax.yaxis.get_majorticklocs()}
    assert "0" in labels


def test_eta_sharpness_clips_a_spike_and_marks_it():
    ax = plots.eta_sharpness(_polyak_run())
    top = ax.get_ylim()[1]
    assert top <= 8.0 + 1e-9  # 4 × the edge 2, not 170
    off = plots.find(ax, "eta_sharpness:off_scale:0")
    assert off is not None and np.all(off.get_ydata() == top)


def test_bifurcation_quantity_round_trips_on_one_axes():
    sweep = _sweep()
    ax = plots.bifurcation(sweep, quantity="sharpness")
    first = (ax.get_yscale(), ax.get_ylim())
    plots.bifurcation(sweep, ax=ax, quantity="loss")
    assert ax.get_yscale() == "log" and min(ax.get_ylim()) > 0
    plots.bifurcation(sweep, ax=ax, quantity="w1")
    assert ax.get_yscale() == "linear"
    plots.bifurcation(sweep, ax=ax, quantity="sharpness")
    assert (ax.get_yscale(), ax.get_ylim()) == first


def test_small_multiples_share_one_clipped_range():
    fig, axes = plots.small_multiples([NET, NLS, _polyak_run()], "eta_sharpness")
    lims = {a.get_ylim() for a in axes.values()}
    assert len(lims) == 1 and next(iter(lims))[1] <= 8.0 + 1e-9
    assert all(a.get_legend() is None for a in axes.values()) and len(fig.legends) == 1


def test_titles_are_wrapped_to_fit():
    long = "A title that says the whole finding of the figure in one long sentence, longer than the axes are wide"
    ax = plots.loss(NET, title=long)
    ax.figure.canvas.draw()
    assert "\n" in ax.get_title()
    assert ax.title.get_window_extent().x1 <= ax.figure.bbox.width and ax.title.get_window_extent().x0 >= 0



def test_valley_is_coloured_by_sharpness_with_one_colour_bar():
    net = ScalarNet(depth=2)
    runs = [train(net, eta, 300, w0=[2.5, 0.35], label=f"η = {eta:g}") for eta in (0.2, 0.4)]
    ax = plots.trajectory(net, runs, extent=(0.2, 2.8, -0.4, 1.6), valley=True)
    valley = plots.find(ax, "trajectory:valley")
    pts = valley.get_offsets()
    # the minima w₁w₂ = 1: kept points lie within √2·h of the valley (h = grid step of valley_points), so
    # |w₁w₂ − 1| ≤ √2·h·‖∇(w₁w₂)‖ = √2·h·‖w‖
    h = 2.6 / 299
    assert np.all(np.abs(pts[:, 0] * pts[:, 1] - 1) <= np.sqrt(2) * h * np.linalg.norm(pts, axis=1) * 1.05)
    np.testing.assert_allclose(valley.get_array(), (pts**2).sum(axis=1), rtol=0.05)  # coloured by w₁² + w₂²
    ends = [plots.find(ax, f"trajectory:end:{i}").get_xydata()[0] for i in range(2)]
    np.testing.assert_allclose(ends, [r.final_params for r in runs])
    plots.trajectory(net, runs, ax=ax, extent=(0.3, 2.8, -0.4, 1.6), valley=True)  # a new landscape
    assert len(ax.figure.axes) == 2  # the Axes and one colour bar
