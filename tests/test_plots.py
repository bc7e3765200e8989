"""Tests of eostutor.plots (and the computations of eostutor.gallery that feed them).

Every plot is checked for: the artists it promises (by gid), their data equal to the run's, reference
lines and labels, log scales, divergence marking, in-place updates on a second call, and never touching
global rcParams. Matplotlib runs headless (Agg, set in conftest.py).
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from eostutor import plots
from eostutor.experiments import bifurcation_sweep
from eostutor.problems import Minimalist, Quadratic, Quartic
from eostutor.record import Run
from eostutor.spectrum import exact_curvature
from eostutor.training import train, with_exact_sharpness

find = plots.find


# --------------------------------------------------------------------------------------------------
# Hand-made runs
# --------------------------------------------------------------------------------------------------
def _net_run(n=60, eta=0.1, floor=0.2, momentum=0.0, nesterov=False, label=None, rule="constant", c=None):
    k = np.arange(n)
    sharp = np.where(k % 5 == 0, np.minimum(5 + 0.5 * k, 2 / eta), np.nan)
    etas = np.full(n, eta) if rule == "constant" else eta * 2.0 ** (k % 3 - 1)
    params = {"eta": eta} if rule == "constant" else {"c": c if c is not None else 1e-4}
    return Run(
        {"loss": np.exp(-k / 20) * (1 + 0.2 * np.abs(np.sin(k))), "eta": etas, "sharpness": sharp,
         "eta_sharpness": etas * sharp, "test_accuracy": np.where(k % 10 == 0, k / n, np.nan),
         "grad_norm_hidden": np.exp(-k / 10), "grad_norm_last_bias": np.full(n, 0.1),
         "top_eigenvalues": np.stack([sharp, sharp / 2], axis=1), "sharpness_hvps": np.where(np.isfinite(sharp), 7, 0)},
        {"rule": rule, "rule_params": params, "sharpness_floor": floor, "num_classes": 10 if floor else None,
         "momentum": momentum, "nesterov": nesterov, "sharpness_method": "lanczos"},
        label=label,
    )


def _diverged_run():
    return Run({"loss": np.array([1.0, 2.0, 40.0, np.inf]), "eta": np.array([0.3, 0.3, 0.3, np.nan])},
               {"rule": "constant", "rule_params": {"eta": 0.3}}, diverged=True, diverged_at=3)


@pytest.fixture
def quad_run():
    q = Quadratic([1.0, 10.0])
    return q, with_exact_sharpness(q, train(q, 0.15, 60, seed=1))


# --------------------------------------------------------------------------------------------------
# Per-step curves
# --------------------------------------------------------------------------------------------------
def test_loss_data_scale_labels():
    run = _net_run()
    ax = plots.loss(run)
    line = find(ax, "loss:line:0")
    np.testing.assert_array_equal(line.get_ydata(), run.loss)
    np.testing.assert_array_equal(line.get_xdata(), run.step)
    assert ax.get_yscale() == "log"
    assert ax.get_xlabel() == "step k" and "loss" in ax.get_ylabel()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [run.label]


def test_loss_overlay_colours_and_legend():
    runs = [_net_run(label="a"), _net_run(eta=0.2, label="b")]
    ax = plots.loss(runs)
    a, b = find(ax, "loss:line:0"), find(ax, "loss:line:1")
    assert a.get_color() != b.get_color()
    assert a.get_color() in plots.RUN_COLORS and b.get_color() in plots.RUN_COLORS
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a", "b"]


def test_diverged_run_is_drawn_to_its_last_finite_point_and_marked():
    run = _diverged_run()
    ax = plots.loss(run)
    y = find(ax, "loss:line:0").get_ydata()
    np.testing.assert_array_equal(y[:3], run.loss[:3])
    assert math.isnan(y[3])  # inf is not drawn
    mark = find(ax, "loss:diverged:0")
    assert mark.get_marker() == "X"
    assert (mark.get_xdata()[0], mark.get_ydata()[0]) == (2, 40.0)
    assert "diverged at step 3" in [t.get_text() for t in ax.get_legend().get_texts()]


def test_sharpness_threshold_floor_and_measured_points():
    run = _net_run(rule="nls")
    ax = plots.sharpness(run)
    m = np.isfinite(run.sharpness)
    line = find(ax, "sharpness:line:0")
    np.testing.assert_array_equal(line.get_xdata(), run.step[m])
    np.testing.assert_array_equal(line.get_ydata(), run.sharpness[m])
    # an adaptive η: 2/η_k as light dots at the steps drawn, equal to 2/run.eta there
    dots = find(ax, "sharpness:2/eta:0")
    assert dots.get_linestyle() == "None" and dots.get_marker() == "o"
    np.testing.assert_allclose(dots.get_ydata(), 2 / run.eta[dots.get_xdata().astype(int)])
    np.testing.assert_allclose(find(ax, "sharpness:floor:0").get_ydata(), [0.2, 0.2])  # a line search: the floor
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("2/η_k" in lab for lab in labels) and any("2/K" in lab for lab in labels)
    assert ax.get_ylabel() == "sharpness λ_max"
    # a constant step: one dashed 2/η line, and no floor (2/K is not its story); no floor where it is 0
    const = _net_run()
    ax2 = plots.sharpness(const)
    np.testing.assert_allclose(find(ax2, "sharpness:2/eta:0").get_ydata(), 2 / const.eta)
    assert find(ax2, "sharpness:2/eta:0").get_linestyle() == "--"
    assert find(ax2, "sharpness:floor:0") is None
    assert find(plots.sharpness(const, floor=True), "sharpness:floor:0") is not None
    assert find(plots.sharpness(_net_run(floor=0.0, rule="nls")), "sharpness:floor:0") is None


def test_sharpness_momentum_threshold():
    run = _net_run(momentum=0.5)
    ax = plots.sharpness(run)
    np.testing.assert_allclose(find(ax, "sharpness:momentum:0").get_ydata(), 2 * 1.5 / run.eta)
    np.testing.assert_allclose(find(ax, "sharpness:2/eta:0").get_ydata(), 2 / run.eta)  # plain 2/η for reference


def test_eta_sharpness_reference_lines():
    run = _net_run(rule="nls", c=0.1)
    ax = plots.eta_sharpness(run)
    m = np.isfinite(run.eta_sharpness)
    np.testing.assert_array_equal(find(ax, "eta_sharpness:line:0").get_ydata(), run.eta_sharpness[m])
    assert find(ax, "eta_sharpness:two").get_ydata()[0] == 2.0
    assert find(ax, "eta_sharpness:one_minus_c").get_ydata()[0] == pytest.approx(0.9)
    assert find(ax, "eta_sharpness:momentum:0") is None
    assert find(plots.eta_sharpness(_net_run()), "eta_sharpness:one_minus_c") is None  # no line search: no 1 − c
    hb = plots.eta_sharpness(_net_run(momentum=0.9))
    assert find(hb, "eta_sharpness:momentum:0").get_ydata()[0] == pytest.approx(3.8)
    nes = plots.eta_sharpness(_net_run(momentum=0.5, nesterov=True))
    assert find(nes, "eta_sharpness:momentum:0").get_ydata()[0] == pytest.approx(3.0 / 2.0)
    assert hb.get_ylim()[1] > 3.8


def test_step_size_test_accuracy_layer_grad_norms():
    run = _net_run(rule="nls")
    ax = plots.step_size(run)
    np.testing.assert_array_equal(find(ax, "step_size:line:0").get_ydata(), run.eta)
    assert ax.get_yscale() == "log"
    assert find(ax, "step_size:K").get_ydata()[0] == 10.0  # a line search: η = K is drawn
    assert find(plots.step_size(_net_run()), "step_size:K") is None  # constant η: not its story
    m = np.isfinite(run.sharpness)
    np.testing.assert_allclose(find(ax, "step_size:2/sharpness:0").get_ydata(), 2 / run.sharpness[m])

    ax = plots.test_accuracy(run)
    m = np.isfinite(run.test_accuracy)
    np.testing.assert_array_equal(find(ax, "test_accuracy:line:0").get_ydata(), run.test_accuracy[m])
    assert ax.get_ylim() == (-0.02, 1.02)

    ax = plots.layer_grad_norms(run)
    np.testing.assert_array_equal(find(ax, "layer_grad_norms:hidden:0").get_ydata(), run.grad_norm_hidden)
    np.testing.assert_array_equal(find(ax, "layer_grad_norms:last_bias:0").get_ydata(), run.grad_norm_last_bias)
    assert ax.get_yscale() == "log"
    assert find(ax, "layer_grad_norms:last_bias:0").get_linestyle() == "--"


def test_second_call_updates_in_place():
    ax = plots.loss(_net_run())
    line = find(ax, "loss:line:0")
    new = _net_run(n=30)
    plots.loss(new, ax=ax)
    assert find(ax, "loss:line:0") is line  # the same artist, new data
    np.testing.assert_array_equal(line.get_ydata(), new.loss)
    assert len(ax.lines) == 1
    # fewer runs: the extra run's artists are removed
    plots.loss([_net_run(label="a"), _net_run(label="b")], ax=ax)
    plots.loss(_net_run(), ax=ax)
    assert find(ax, "loss:line:1") is None


def test_legend_modes():
    runs = [_net_run(label="a", rule="nls"), _net_run(label="b", rule="nls")]
    ax = plots.sharpness(runs, legend="references")
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "a" not in labels and any("2/η" in lab for lab in labels)
    assert plots.sharpness(runs, legend=False).get_legend() is None
    with pytest.raises(ValueError, match="legend"):
        plots.loss(runs, legend="maybe")


def test_legend_sits_above_the_axes():
    ax = plots.loss([_net_run(label="a"), _net_run(label="b")])
    ax.figure.canvas.draw()
    legend, box = ax.get_legend().get_window_extent(), ax.get_window_extent()
    assert legend.y0 >= box.y1 - 1  # a strip above the plotting area, never over the data
    assert ax.title.get_window_extent().y0 >= legend.y1 - 1  # the title above the strip


def test_dashboard_panels_and_in_place_update():
    net = _net_run()
    fig, axes = plots.dashboard(net)
    assert set(axes) == {"loss", "sharpness", "eta_sharpness", "step_size", "test_accuracy", "layer_grad_norms"}
    toy = Run({"loss": np.array([1.0, 0.5]), "eta": np.full(2, 0.1)})
    fig2, axes2 = plots.dashboard(toy)
    assert set(axes2) == {"loss", "sharpness", "eta_sharpness", "step_size"}
    line = find(axes["loss"], "loss:line:0")
    fig_again, axes_again = plots.dashboard(_net_run(n=20), fig=fig)
    assert fig_again is fig and axes_again["loss"] is axes["loss"]
    assert find(axes["loss"], "loss:line:0") is line and len(line.get_ydata()) == 20
    with pytest.raises(ValueError, match="unknown panel"):
        plots.dashboard(toy, panels=["loss", "nope"])


def test_dashboard_names_runs_once_in_a_figure_legend():
    fig, axes = plots.dashboard([_net_run(label="a", rule="nls"), _net_run(label="b", rule="nls")], title="T")
    assert all(a.get_legend() is None for a in axes.values()) and len(fig.legends) == 1
    texts = [t.get_text() for t in fig.legends[0].get_texts()]
    assert texts.count("a") == 1 and texts.count("b") == 1 and any("2/K" in t for t in texts)
    assert fig.legends[0].get_title().get_text() == "T"
    assert round(fig.get_size_inches()[0] * fig.dpi) <= 900


def test_bad_arguments():
    with pytest.raises(ValueError, match="non-empty"):
        plots.loss([])
    with pytest.raises(ValueError, match="Run"):
        plots.loss([1, 2])
    with pytest.raises(ValueError, match="Axes"):
        plots.loss(_net_run(), ax="left")


def test_plots_never_touch_rcparams(quad_run):
    q, run = quad_run
    before = dict(matplotlib.rcParams)
    plots.dashboard([run, _net_run()])
    plots.trajectory(q, run)
    plots.phase(run)
    plots.spectrum(_net_run())
    plots.density((np.linspace(0, 1, 5), np.ones(5)))
    assert dict(matplotlib.rcParams) == before


# --------------------------------------------------------------------------------------------------
# Real runs: data equal the run's
# --------------------------------------------------------------------------------------------------
def test_real_quadratic_run(quad_run):
    q, run = quad_run
    fig, axes = plots.dashboard(run)
    np.testing.assert_array_equal(find(axes["loss"], "loss:line:0").get_ydata(), run.loss)
    np.testing.assert_allclose(find(axes["sharpness"], "sharpness:line:0").get_ydata(), 10.0)
    np.testing.assert_allclose(find(axes["sharpness"], "sharpness:2/eta:0").get_ydata(), 2 / 0.15)
    np.testing.assert_allclose(find(axes["eta_sharpness"], "eta_sharpness:line:0").get_ydata(), 1.5)


def test_real_diverged_quadratic_run():
    q = Quadratic([1.0, 10.0])
    run = train(q, 0.25, 500)
    assert run.diverged
    ax = plots.loss(run)
    assert len(find(ax, "loss:line:0").get_ydata()) == run.num_steps
    assert f"diverged at step {run.diverged_at}" in [t.get_text() for t in ax.get_legend().get_texts()]
    ax = plots.trajectory(q, run, extent=(-2, 2, -2, 2))
    assert find(ax, "trajectory:diverged:0") is not None


# --------------------------------------------------------------------------------------------------
# Toys: trajectory, phase plane, bifurcation
# --------------------------------------------------------------------------------------------------
def test_trajectory_2d_contours_once(quad_run):
    q, run = quad_run
    ax = plots.trajectory(q, run)
    path = find(ax, "trajectory:path:0")
    np.testing.assert_array_equal(path.get_xdata(), run.params[:, 0])
    np.testing.assert_array_equal(path.get_ydata(), run.params[:, 1])
    surfaces = [c for c in ax.collections if str(c.get_gid()).startswith("trajectory:surface")]
    assert len(surfaces) == 1
    ex = ax.get_xlim() + ax.get_ylim()
    run2 = with_exact_sharpness(q, train(q, 0.1, 30, seed=1))
    plots.trajectory(q, run2, ax=ax, extent=ex)
    assert [c for c in ax.collections if str(c.get_gid()).startswith("trajectory:surface")] == surfaces
    assert ax.get_xlabel() == "w₁" and ax.get_ylabel() == "w₂"


def test_trajectory_1d_and_errors():
    q = Quartic()
    run = train(q, 0.5, 20)
    ax = plots.trajectory(q, run)
    np.testing.assert_array_equal(find(ax, "trajectory:path:0").get_xdata(), run.params[:, 0])
    assert find(ax, "trajectory:path:0").get_ydata()[0] == pytest.approx(run.loss[0])
    with pytest.raises(ValueError, match="dim 1 or 2"):
        plots.trajectory(Quadratic([1.0, 2.0, 3.0]), train(Quadratic([1.0, 2.0, 3.0]), 0.1, 3))
    with pytest.raises(ValueError, match="no recorded iterates"):
        plots.trajectory(q, Run({"loss": np.ones(2)}))


def test_loss_grid_matches_pointwise_loss():
    m = Minimalist()
    X, Y, F = plots.loss_grid(m, (0.5, 2.0, -1.0, 1.0), resolution=7)
    i, j = 3, 5
    assert F[i, j] == pytest.approx(m.loss(torch.tensor([X[i, j], Y[i, j]], dtype=torch.float64)))


def test_phase_coordinates_definition_and_sign_alignment():
    # A period-2 orbit along e1 of half-amplitude 0.1; the eigen-solver returns ±u at random.
    n = 6
    params = np.array([[0.1 * (-1) ** k, 0.0] for k in range(n + 1)])
    u = np.array([[(-1.0) ** (k // 2), 0.0] for k in range(n)])
    sharp = np.array([4.0, 4.2, 4.0, 3.8, 4.0, 4.0])
    run = Run({"loss": np.ones(n), "eta": np.full(n, 0.5), "sharpness": sharp, "params": params,
               "eigenvector": u})
    steps, x, y = plots.phase_coordinates(run)
    np.testing.assert_allclose(np.abs(x), 0.1)
    assert len(set(np.sign(x))) == 1  # demodulated and sign-aligned: one side
    # the last step has no measured partner w_{k+1}: left out rather than mixed in one-sided
    np.testing.assert_allclose(y, [0.1, 0.1, -0.1, -0.1, 0.0])
    ax = plots.phase(run)
    np.testing.assert_allclose(find(ax, "phase:path").get_ydata(), y)
    assert find(ax, "phase:edge").get_ydata()[0] == 0.0
    assert ax.get_ylabel() == "λ_max − 2/η"
    with pytest.raises(ValueError, match="eigenvector"):
        plots.phase(Run({"loss": np.ones(2), "params": np.zeros((3, 2))}))


def test_phase_on_a_real_minimalist_run():
    m = Minimalist()
    run = with_exact_sharpness(m, train(m, 0.25, 80, w0=torch.tensor([2.0, 0.45], dtype=torch.float64)))
    steps, x, y = plots.phase_coordinates(run)
    assert len(steps) == 79 and np.all(np.isfinite(x)) and np.all(np.isfinite(y))  # the last has no partner
    # the iterates oscillate along the top eigenvector: a real displacement, not zero
    assert np.max(np.abs(x)) > 1e-3


def test_bifurcation_plot_from_a_sweep():
    q = Quadratic([1.0, 10.0])
    sw = bifurcation_sweep(q, [0.05, 0.1, 0.19, 0.25], num_steps=300, keep_last=4)
    assert sw.diverged.tolist() == [False, False, False, True]
    np.testing.assert_allclose(sw.sharpness[:3], 10.0)
    ax = plots.bifurcation(sw, eta=0.1)
    pts = find(ax, "bifurcation:points")
    assert pts.get_offsets().shape == (12, 2)
    assert find(ax, "bifurcation:diverged").get_xdata().tolist() == [0.25]
    assert find(ax, "bifurcation:selected").get_xdata()[0] == 0.1
    grid = find(ax, "bifurcation:2/eta")
    np.testing.assert_allclose(grid.get_ydata(), 2 / grid.get_xdata())
    ax2 = plots.bifurcation(sw, quantity="w1")
    assert ax2.get_ylabel() == "w₁"
    with pytest.raises(ValueError, match="quantity"):
        plots.bifurcation(sw, quantity="x")


def test_bifurcation_accepts_any_object_with_the_fields():
    sweep = SimpleNamespace(etas=np.array([0.1, 0.2]), loss=np.array([[1e-3, 2e-3], [1e-2, 1e-2]]))
    ax = plots.bifurcation(sweep, quantity="loss")
    assert ax.get_yscale() == "log"


# --------------------------------------------------------------------------------------------------
# Spectra
# --------------------------------------------------------------------------------------------------
def test_spectrum_exact_vs_lanczos_legend_has_hvp_counts():
    a = _net_run(label="exact")
    a = a.replace(settings=a.settings.replace(sharpness_method="exact"))
    b = _net_run(label="lanczos")
    ax = plots.spectrum([a, b])
    np.testing.assert_array_equal(find(ax, "spectrum:eig1:1").get_ydata(),
                                  b.top_eigenvalues[np.isfinite(b.sharpness), 1])
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    hvps = int(np.nansum(b.sharpness_hvps))
    assert any(f"{hvps:,} HVPs" in lab and "lanczos" in lab for lab in labels)
    assert any("exact" in lab for lab in labels)
    assert find(ax, "spectrum:floor:0") is None  # constant η: the floor is not drawn unless asked
    assert find(plots.spectrum([a, b], floor=True), "spectrum:floor:0") is not None
    assert find(ax, "spectrum:2/eta").get_ydata()[0] == pytest.approx(20.0)


def test_density_from_spectral_density():
    from eostutor.spectrum import spectral_density

    q = Quadratic([1.0, 2.0, 3.0, 4.0])
    d = spectral_density(q, torch.zeros(4, dtype=torch.float64))
    ax = plots.density(d, eigenvalues=q.eigenvalues)
    np.testing.assert_array_equal(find(ax, "density:curve").get_ydata(), d.density)
    np.testing.assert_array_equal(find(ax, "density:curve").get_xdata(), d.grid)
    assert ax.get_yscale() == "log" and find(ax, "density:rug") is not None
    with pytest.raises(ValueError, match="same shape"):
        plots.density((np.zeros(3), np.zeros(4)))


def test_segment_smoothness_figure4_marks():
    from eostutor.spectrum import segment_smoothness

    q = Quartic(dim=2)
    w = torch.tensor([1.0, -0.5], dtype=torch.float64)
    res = segment_smoothness(q, w, np.geomspace(1e-3, 10, 20))
    ax = plots.segment_smoothness(res, eta=0.3, sharpness=3.0, floor=0.2)
    np.testing.assert_array_equal(find(ax, "segment_smoothness:curve").get_ydata(), res.smoothness)
    np.testing.assert_array_equal(find(ax, "segment_smoothness:curve").get_xdata(), res.step_sizes)
    np.testing.assert_allclose(find(ax, "segment_smoothness:sup").get_ydata(), res.segment_sup)
    assert find(ax, "segment_smoothness:eta").get_xdata()[0] == 0.3
    assert find(ax, "segment_smoothness:sharpness").get_ydata()[0] == 3.0
    assert find(ax, "segment_smoothness:floor").get_ydata()[0] == 0.2
    assert find(ax, "segment_smoothness:rayleigh").get_ydata()[0] == pytest.approx(res.rayleigh)
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    ax2 = plots.segment_smoothness({"steps": [0.1, 1.0], "smoothness": [1.0, 2.0]}, floor=0.0)
    assert find(ax2, "segment_smoothness:floor") is None


# --------------------------------------------------------------------------------------------------
# gallery computations
# --------------------------------------------------------------------------------------------------
def test_exact_curvature_matches_in_loop_exact_sharpness():
    m = Minimalist()
    w0 = torch.tensor([2.0, 0.45], dtype=torch.float64)
    slow = train(m, 0.25, 40, w0=w0, sharpness_every=1, sharpness_method="exact")
    fast = with_exact_sharpness(m, train(m, 0.25, 40, w0=w0))
    np.testing.assert_allclose(fast.sharpness, slow.sharpness, rtol=1e-12)
    np.testing.assert_allclose(fast.eta_sharpness, slow.eta_sharpness, rtol=1e-12)
    np.testing.assert_allclose(np.abs(np.sum(fast.eigenvector * slow.eigenvector, axis=1)), 1.0, rtol=1e-10)
    vals, vecs = exact_curvature(m, np.array([[np.nan, 1.0], [1.0, 1.0]]))
    assert math.isnan(vals[0, 0]) and vals[1, 0] == pytest.approx(Minimalist.valley_sharpness(1.0))


def test_exact_curvature_refuses_big_problems():
    with pytest.raises(ValueError, match="dim <= 10"):
        exact_curvature(Quadratic(np.ones(11)), np.zeros((1, 11)))


@pytest.mark.slow
def test_render_gallery_fast(tmp_path):
    from PIL import Image

    from eostutor.gallery import CAPTIONS, render_gallery

    paths = render_gallery(tmp_path, fast=True)
    assert [p.stem for p in paths] == list(CAPTIONS)
    for p in paths:
        assert p.exists() and p.stat().st_size > 5_000
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        with Image.open(p) as img:
            assert img.width <= plots.MAX_WIDTH_PX and img.info["Description"] == CAPTIONS[p.stem]
    plt.close("all")


def test_eigenvalue_snapshots_draw_each_snapshot_and_the_floor():
    run = Run({"loss": np.ones(5), "eig_steps": np.array([0, 4]),
               "eig_values": np.array([[0.5, 0.3, -0.01, -0.2], [0.2, 0.2, 0.0, 0.0]])},
              {"sharpness_floor": 0.2})
    ax = plots.eigenvalue_snapshots(run)
    assert plots.find(ax, "snapshots:step0").get_ydata().tolist() == [0.5, 0.3, -0.01, -0.2]
    assert plots.find(ax, "snapshots:step4").get_xdata().tolist() == [1, 2, 3, 4]
    assert plots.find(ax, "snapshots:floor").get_ydata()[0] == 0.2
    assert ax.get_yscale() == "symlog"
    with pytest.raises(ValueError, match="eig_values"):
        plots.eigenvalue_snapshots(Run({"loss": np.ones(2)}))


def test_a_preconditioned_run_gets_no_2_over_eta_on_its_plain_sharpness():
    import eostutor as eos

    run = eos.train(eos.Quadratic([1.0, 10.0]), eos.make_rule("adam", eta=0.01), 30, sharpness_every=5)
    ax = plots.sharpness(run)
    assert plots.find(ax, "sharpness:2/eta:0") is None  # 2/η bounds GD's λ_max, not Adam's
    assert "P⁻¹H" in plots.find(ax, "sharpness:line:0").get_label()
    assert plots.find(plots.eta_sharpness(run), "eta_sharpness:two") is None
