"""Image comparison of the course's key figures against committed baselines (pytest-mpl).

Each test draws one key figure of :mod:`eostutor.plots` from deterministic data (hand-made runs, or toys
trained in float64) and compares the PNG with ``tests/baseline/<test name>.png``: a root-mean-square
difference above ``TOLERANCE`` (on the 0–255 scale) fails. The tolerance absorbs anti-aliasing and font
hinting differences between machines with the same matplotlib, and still catches a visual regression: a
missing reference line, a legend moved over the data, a changed colour or scale (see
``test_the_tolerance_catches_a_regression``).

With ``--mpl`` pytest-mpl does the comparison (and ``--mpl-results-path=DIR`` keeps the diff images);
without it, as in ``make test``, each test compares the same image with the same tolerance itself, so a
regression fails either way. The baselines were made with the matplotlib version in
``tests/baseline/MATPLOTLIB_VERSION``; with another version the tests are skipped (say so, don't pass).

Refresh the baselines after an intended change of a figure (then look at every PNG before committing it):

    .venv/bin/python -m pytest tests/test_figure_images.py --mpl-generate-path=tests/baseline
    .venv/bin/python -c "import matplotlib; print(matplotlib.__version__)" > tests/baseline/MATPLOTLIB_VERSION
"""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib
import numpy as np
import pytest
import torch

pytest.importorskip("pytest_mpl", reason="image comparison needs pytest-mpl (pip install -e '.[dev]')")

from matplotlib.testing.compare import compare_images  # noqa: E402

from eostutor import plots  # noqa: E402
from eostutor.experiments import bifurcation_sweep  # noqa: E402
from eostutor.problems import HolderPower, Minimalist, Quadratic, Quartic, ScalarNet  # noqa: E402
from eostutor.record import Run  # noqa: E402
from eostutor.spectrum import segment_smoothness  # noqa: E402
from eostutor.training import train, with_exact_sharpness  # noqa: E402

BASELINE = Path(__file__).parent / "baseline"
TOLERANCE = 3.0  # RMS on 0–255; measured: a missing line 7.2, a legend over the data 8.6, another colour 6.4
SAVEFIG = {"format": "png"}  # at the figure's own resolution, as the notebooks show it

_baseline_version = (BASELINE / "MATPLOTLIB_VERSION").read_text().strip() if (
    BASELINE / "MATPLOTLIB_VERSION").is_file() else None
pytestmark = pytest.mark.skipif(
    _baseline_version is not None and _baseline_version != matplotlib.__version__,
    reason=f"baselines made with matplotlib {_baseline_version}, this is {matplotlib.__version__}: refresh them "
           "(see the module docstring) or install that version")


def _compare(request, fig, name: str):
    """Return the figure to pytest-mpl under --mpl; otherwise compare it with the baseline here."""
    mpl_on = request.config.getoption("--mpl", default=False)
    generating = request.config.getoption("--mpl-generate-path", default=None) is not None
    if mpl_on or generating:
        return fig
    expected = BASELINE / f"{name}.png"
    assert expected.is_file(), f"no baseline {expected}: generate it (see the module docstring)"
    actual = Path(request.config.rootpath) / "test-artifacts" / "images" / f"{name}.png"
    actual.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(actual, **SAVEFIG)
    result = compare_images(str(expected), str(actual), tol=TOLERANCE, in_decorator=True)
    assert result is None, (f"{name} differs from its baseline (RMS {result['rms']:.2f} > {TOLERANCE}); "
                            f"diff image: {result['diff']}. If the change is intended, refresh the baselines.")
    return fig


def image_test(func):
    """Mark a figure test for pytest-mpl with this module's baseline folder and tolerance."""
    return pytest.mark.mpl_image_compare(baseline_dir="baseline", tolerance=TOLERANCE, savefig_kwargs=SAVEFIG,
                                         style="default", filename=f"{func.__name__}.png")(func)


# --------------------------------------------------------------------------------------------------
# Deterministic data shaped like the course's runs
# --------------------------------------------------------------------------------------------------
def _eos_run() -> Run:
    """Progressive sharpening to 2/η = 1, one overshoot with a loss spike, then hovering at the edge."""
    k = np.arange(600)
    after = 1.0 + 0.2 * np.exp(-(k - 300) / 6.0) * (k < 330) + 0.02 * np.sin(k / 15)
    sharp = np.where(k < 300, 0.45 + 0.0025 * k, after)
    sharp = np.where(k % 10 == 0, sharp, np.nan)
    loss = 0.12 * np.exp(-k / 300) + 0.01 * np.exp(-((k - 305) / 4.0) ** 2)
    return Run({"loss": loss, "eta": np.full(600, 2.0), "sharpness": sharp, "eta_sharpness": 2.0 * sharp},
               {"rule": "constant", "rule_params": {"eta": 2.0}, "sharpness_floor": 0.2, "num_classes": 10},
               label="GD, η = 2")


def _flatland_runs() -> list[Run]:
    k = np.arange(400)
    rng = np.random.default_rng(0)
    measured = k % 10 == 0
    nls_sharp = np.where(measured, 0.2 + 0.25 * np.exp(-k / 15), np.nan)
    nls = Run({"loss": np.maximum(0.09, 0.12 * np.exp(-k / 20)) * (1 + 1e-3 * rng.standard_normal(400)),
               "eta": np.where(k % 2 == 0, 8.0, 16.0), "sharpness": nls_sharp,
               "eta_sharpness": np.where(k % 2 == 0, 8.0, 16.0) * nls_sharp,
               "grad_norm_hidden": np.where(k < 40, 0.05 * np.exp(-k / 10), 0.0),
               "grad_norm_last_bias": 0.02 + 0.005 * np.sin(k), "test_accuracy": np.where(measured, 0.1, np.nan)},
              {"rule": "nls", "rule_params": {"c": 1e-4}, "sharpness_floor": 0.2, "num_classes": 10}, label="NLS")
    ub_sharp = np.where(measured, 0.3 + 0.2 * np.exp(-k / 100) + 0.03 * np.sin(k / 7), np.nan)
    ub_eta = np.where(k % 3 == 0, 4.0, 8.0)
    ub = Run({"loss": 0.12 * np.exp(-k / 90), "eta": ub_eta, "sharpness": ub_sharp, "eta_sharpness": ub_eta * ub_sharp,
              "grad_norm_hidden": 0.05 + 0.01 * np.sin(k / 5), "grad_norm_last_bias": 0.03 + 0.005 * np.cos(k / 3),
              "test_accuracy": np.where(measured, np.minimum(0.1 + k / 300, 0.95), np.nan)},
             {"rule": "nls-ub", "rule_params": {"c": 1e-4}, "sharpness_floor": 0.2, "num_classes": 10},
             label="NLS-ub")
    return [nls, ub]


def _adaptive_runs() -> list[Run]:
    k = np.arange(100)
    measured = k % 5 == 0
    out = []
    for j, (label, rule, level, wiggle) in enumerate([("NLS", "nls", 2.5, 0.3), ("LS", "ls", 2.2, 0.8),
                                                      ("CDAT", "cdat", 2.7, 0.2), ("Polyak", "polyak", 2.5, 3.0)]):
        es = np.where(measured, level + wiggle * np.sin(k * (j + 1) / 3.0), np.nan)
        if rule == "polyak":
            es[50] = 170.0  # a spike far above the panel: clipped and marked
        out.append(Run({"loss": 0.12 * np.exp(-k / 60), "eta": np.full(100, 4.0), "eta_sharpness": es,
                        "sharpness": es / 4.0}, {"rule": rule, "rule_params": {"c": 1e-4}}, label=label))
    return out


# --------------------------------------------------------------------------------------------------
# The key figures
# --------------------------------------------------------------------------------------------------
@image_test
def test_edge_of_stability_dashboard(request):
    fig, _ = plots.dashboard(_eos_run(), panels=["loss", "sharpness"], edge=True,
                             title="λ_max rises to 2/η, overshoots once, then stays at 2/η")
    return _compare(request, fig, "test_edge_of_stability_dashboard")


@image_test
def test_quadratic_loss_with_a_divergence(request):
    q = Quadratic([1.0, 10.0])
    runs = [train(q, eta, 80, seed=1, label=f"GD, η = {eta:g}") for eta in (0.05, 0.15, 0.19, 0.23)]
    ax = plots.loss(runs, title="Quadratic, λ_max = 10: GD converges iff η < 0.2")
    return _compare(request, ax.figure, "test_quadratic_loss_with_a_divergence")


@image_test
def test_flatland_dashboard(request):
    fig, _ = plots.dashboard(_flatland_runs(), panels=["loss", "sharpness", "step_size", "layer_grad_norms"],
                             title="NLS sinks to the 2/K floor and stalls; NLS-ub trains")
    return _compare(request, fig, "test_flatland_dashboard")


@image_test
def test_adaptive_small_multiples(request):
    fig, _ = plots.small_multiples(_adaptive_runs(), "eta_sharpness", ncols=2,
                                   title="η·λ_max of four rules, one panel each")
    return _compare(request, fig, "test_adaptive_small_multiples")


@image_test
def test_scalar_network_valley(request):
    net = ScalarNet(depth=2)
    runs = [train(net, eta, 400, w0=[2.5, 0.35], label=f"η = {eta:g}") for eta in (0.2, 0.4)]
    ax = plots.trajectory(net, runs, extent=(0.2, 2.8, -0.4, 1.6), valley=True,
                          title="η = 0.4 bounces to a flatter minimum")
    return _compare(request, ax.figure, "test_scalar_network_valley")


@image_test
def test_minimalist_phase_plane(request):
    m = Minimalist()
    run = with_exact_sharpness(m, train(m, 0.3, 200, w0=torch.tensor([2.0, 0.51], dtype=torch.float64)))
    ax = plots.phase(run, title="Self-stabilization on the minimalist example")
    return _compare(request, ax.figure, "test_minimalist_phase_plane")


@image_test
def test_quartic_secant(request):
    steps = np.geomspace(1e-3, 1, 31)
    res = {f"x = {x0}": segment_smoothness(Quartic(), [x0], steps) for x0 in (1.9, 2.1)}
    ax = plots.segment_smoothness(res, eta=0.5, title="At s = η: below 2/η from 1.9, above from 2.1")
    return _compare(request, ax.figure, "test_quartic_secant")


@image_test
def test_holder_two_cycle(request):
    run = train(HolderPower(nu=0.5), 0.1, 300, w0=[1.0])
    ax = plots.iterates(run, title="|x|^1.5: a two-cycle around 0")
    return _compare(request, ax.figure, "test_holder_two_cycle")


@image_test
def test_minimalist_bifurcation(request):
    sweep = bifurcation_sweep(Minimalist(), np.linspace(0.05, 0.7, 40), 400, 30,
                              torch.tensor([2.0, 0.51], dtype=torch.float64))
    ax = plots.bifurcation(sweep, eta=0.3, title="λ_max follows 2/η up to η = 1/2")
    return _compare(request, ax.figure, "test_minimalist_bifurcation")


# --------------------------------------------------------------------------------------------------
# The tolerance is tight enough
# --------------------------------------------------------------------------------------------------
def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, **SAVEFIG)
    return buf.getvalue()


def _rms(a: bytes, b: bytes, tmp_path) -> float:
    pa, pb = tmp_path / "a.png", tmp_path / "b.png"
    pa.write_bytes(a)
    pb.write_bytes(b)
    result = compare_images(str(pa), str(pb), tol=0, in_decorator=True)
    return 0.0 if result is None else float(result["rms"])


def test_the_tolerance_catches_a_regression(tmp_path):
    def draw():
        fig, axes = plots.dashboard(_eos_run(), panels=["loss", "sharpness"], edge=True, title="edge")
        return fig, axes

    fig, _ = draw()
    same = _png(fig)
    assert _rms(same, _png(draw()[0]), tmp_path) <= 0.5  # drawing twice gives the same picture
    regressions = {}
    fig, axes = draw()
    plots.find(axes["sharpness"], "sharpness:2/eta:0").remove()  # a reference line goes missing
    regressions["missing 2/η line"] = _png(fig)
    fig, axes = draw()
    axes["loss"].legend(["a legend over the data"], loc="center", fontsize=10)
    regressions["legend over the data"] = _png(fig)
    fig, axes = draw()
    plots.find(axes["loss"], "loss:line:0").set_color(plots.RUN_COLORS[1])  # another colour
    regressions["changed colour"] = _png(fig)
    for what, png in regressions.items():
        assert _rms(same, png, tmp_path) > TOLERANCE, f"a {what} would pass the image comparison"
