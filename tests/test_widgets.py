"""Widgets driven programmatically, without a browser: set controls, check the run, the artists, the
messages, the error output and the cancellation of stale runs ("latest wins").

The figures use the PNG fallback (Agg backend from conftest.py); tiny problems keep every test fast.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from eostutor import plots
from eostutor.datasets import gaussian_clusters
from eostutor.problems import MLPProblem
from eostutor.widgets import (
    PRESETS,
    BifurcationExplorer,
    ExplorerModel,
    ExplorerSettings,
    FlatlandLab,
    LatestWins,
    Preset,
    SmoothnessExplorer,
    StepSizeExplorer,
    divergence_message,
    sticky_limits,
)

find = plots.find


def _tiny_net(activation="tanh"):
    return MLPProblem(gaussian_clusters(num_classes=3, dim=2, n_train=30, n_test=9), hidden=(6,),
                      activation=activation, loss="mse")


TINY_NET = _tiny_net()
PRESETS_FOR_TESTS = {
    "quadratic": PRESETS["quadratic"],
    "minimalist": PRESETS["minimalist"],
    "tiny-net": Preset("tiny-net", lambda: TINY_NET, 0.5, 40, None, "a tiny MLP", sharpness_every=5),
}


def _texts(widget) -> str:
    return " ".join(o.get("text", "") for o in widget.output.outputs)


@pytest.fixture
def explorer():
    ex = StepSizeExplorer("quadratic", interactive=False, presets=PRESETS_FOR_TESTS)
    yield ex
    ex.close()


# --------------------------------------------------------------------------------------------------
# Model (no GUI)
# --------------------------------------------------------------------------------------------------
def test_model_runs_and_measures_exact_sharpness_on_toys():
    model = ExplorerModel()
    run = model.train(ExplorerSettings("quadratic", "constant", eta=0.15, num_steps=50))
    assert not run.diverged and run.num_steps == 50
    np.testing.assert_allclose(run.sharpness, 10.0)
    np.testing.assert_allclose(run.eta_sharpness, 1.5)
    assert run.params.shape == (51, 2)


def test_model_eta_means_the_rules_parameter():
    model = ExplorerModel()
    p = model.problem("quadratic")
    assert model.rule(ExplorerSettings(rule="nls", eta=0.3), p).eta0 == 0.3
    assert model.rule(ExplorerSettings(rule="nls-ub", eta=4.0), p).cap == 4.0
    assert model.rule(ExplorerSettings(rule="constant", eta=0.3), p).eta == 0.3
    with pytest.raises(ValueError, match="rule"):
        model.rule(ExplorerSettings(rule="sgd"), p)


def test_latest_wins_skips_stale_jobs():
    jobs = LatestWins()
    started, gate = [], threading.Event()

    def job(tag):
        def run(is_stale):
            started.append(tag)
            gate.wait(5)
            while not is_stale() and tag == "first":
                time.sleep(0.001)
        return run

    jobs.submit(job("first"), background=True)
    while not started:
        time.sleep(0.001)
    for tag in ("a", "b", "c"):  # queued behind "first"; only the newest may run
        jobs.submit(job(tag), background=True)
    gate.set()
    assert jobs.wait(10)
    assert started == ["first", "c"]


def test_divergence_message_explains_the_quadratic_threshold():
    model = ExplorerModel()
    run = model.train(ExplorerSettings("quadratic", "constant", eta=0.25, num_steps=500))
    msg = divergence_message(run, model.problem("quadratic"))
    assert msg.startswith(f"diverged at step {run.diverged_at}") and "2/λ_max = 0.2" in msg


def test_sticky_limits_keeps_or_updates():
    import matplotlib.figure

    ax = matplotlib.figure.Figure().subplots()
    ax.set_ylim(0.0, 2.0)
    sticky_limits(ax, (0.0, 10.0))  # much narrower: take the new limits
    assert ax.get_ylim() == (0.0, 2.0)
    ax.set_ylim(0.0, 12.0)
    sticky_limits(ax, (0.0, 10.0))  # outside the old ones: take the new limits
    assert ax.get_ylim() == (0.0, 12.0)


# --------------------------------------------------------------------------------------------------
# StepSizeExplorer
# --------------------------------------------------------------------------------------------------
def test_explorer_exposes_controls_figure_run_widget(explorer):
    assert set(explorer.controls) == {"problem", "rule", "eta", "num_steps", "seed", "momentum", "nesterov"}
    assert explorer.run is not None and not explorer.run.diverged
    assert explorer.widget is not None and explorer.figure is explorer.live.figure
    assert explorer.controls["eta"].description == "η"
    assert explorer.controls["eta"].continuous_update is False
    assert explorer.live.view.value[:4] == b"\x89PNG"
    assert "StepSizeExplorer(problem='quadratic'" in repr(explorer)


def test_setting_eta_reruns_and_updates_artists_in_place(explorer):
    loss_line = find(explorer.axes["loss"], "loss:line:0")
    explorer.controls["eta"].value = 0.1
    run = explorer.run
    assert run.eta[0] == pytest.approx(0.1)
    assert find(explorer.axes["loss"], "loss:line:0") is loss_line  # same artist, new data
    np.testing.assert_array_equal(loss_line.get_ydata(), run.loss)
    np.testing.assert_allclose(find(explorer.axes["sharpness"], "sharpness:2/eta:0").get_ydata(), 2 / run.eta)
    np.testing.assert_array_equal(find(explorer.axes["trajectory"], "trajectory:path:0").get_xdata(),
                                  run.params[:, 0])
    assert "✓" in explorer.status.value and len(explorer.output.outputs) == 0


def test_small_changes_are_blitted(explorer):
    explorer.controls["eta"].value = 0.10
    full = explorer.live.full_draws
    png = explorer.live.view.value
    explorer.controls["eta"].value = 0.101
    explorer.controls["eta"].value = 0.102
    assert explorer.live.blits >= 1 and explorer.live.full_draws <= full + 1
    assert explorer.live.view.value != png


def test_divergence_shows_message_and_plot_up_to_that_step(explorer):
    explorer.controls["eta"].value = 0.25  # > 2/λ_max = 0.2
    run = explorer.run
    assert run.diverged
    assert f"diverged at step {run.diverged_at}" in explorer.status.value
    assert "2/λ_max = 0.2" in explorer.status.value
    assert len(find(explorer.axes["loss"], "loss:line:0").get_ydata()) == run.num_steps
    assert find(explorer.axes["loss"], "loss:diverged:0") is not None


def test_invalid_values_are_rejected_with_a_message(explorer):
    before = explorer.run
    explorer.controls["rule"].value = "nls"
    explorer.controls["momentum"].value = 0.5
    assert "rejected" in explorer.status.value and "momentum" in explorer.status.value
    assert "ValueError" in _texts(explorer)
    assert explorer.run is not before and explorer.run.settings.rule == "nls"  # the last valid run stays
    assert explorer.controls["momentum"].disabled


def test_exception_in_the_model_appears_in_the_output_area(explorer, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("boom in the model")

    monkeypatch.setattr(explorer.model, "train", boom)
    explorer.controls["eta"].value = 0.12
    assert "boom in the model" in _texts(explorer)
    assert "RuntimeError" in explorer.status.value


def test_rule_changes_the_meaning_of_eta(explorer):
    explorer.controls["rule"].value = "nls-ub"
    assert explorer.controls["eta"].description == "η cap"
    assert np.all(explorer.run.eta < explorer.controls["eta"].value)
    explorer.controls["rule"].value = "cdat"
    assert explorer.controls["eta"].disabled
    assert explorer.run.settings.rule == "cdat"


def test_problem_switch_rebuilds_panels_once(explorer):
    explorer.controls["problem"].value = "minimalist"
    assert explorer.run.settings.problem == "Minimalist()"
    assert explorer.controls["eta"].value == pytest.approx(PRESETS["minimalist"].eta)
    assert "trajectory" in explorer.axes
    explorer.controls["problem"].value = "tiny-net"
    explorer.wait(30)
    assert set(explorer.axes) >= {"test_accuracy", "layer_grad_norms"}
    assert explorer.run is not None and explorer.run.settings.dim == TINY_NET.dim
    np.testing.assert_array_equal(find(explorer.axes["loss"], "loss:line:0").get_ydata(), explorer.run.loss)


def test_network_runs_stream_and_latest_wins():
    ex = StepSizeExplorer("tiny-net", interactive=False, presets=PRESETS_FOR_TESTS, num_steps=5000)
    try:
        deadline = time.time() + 20
        while ex.progress.value == 0.0 and time.time() < deadline:  # the first run is streaming
            time.sleep(0.01)
        assert ex.jobs.busy() and ex.progress.layout.visibility == "visible"
        ex.controls["eta"].value = 0.3
        ex.controls["num_steps"].value = 50
        assert ex.wait(60)
        run = ex.run
        assert run.eta[0] == pytest.approx(0.3) and run.num_steps == 50 and not run.interrupted
        assert ex.cancelled, "the stale run should have been stopped"
        stale = ex.cancelled[0]
        assert stale.interrupted and stale.num_steps < 5000
        assert ex.progress.layout.visibility == "hidden"
    finally:
        ex.close()


def test_custom_problem_instance():
    ex = StepSizeExplorer(_tiny_net(), interactive=False, num_steps=20, background=False)
    try:
        assert ex.controls["problem"].value == "custom" and ex.run.num_steps == 20
    finally:
        ex.close()


# --------------------------------------------------------------------------------------------------
# The other widgets
# --------------------------------------------------------------------------------------------------
def test_bifurcation_explorer():
    b = BifurcationExplorer(etas=np.linspace(0.1, 0.6, 6), num_steps=80, keep_last=10, background=False,
                            interactive=False)
    try:
        assert b.sweep is not None and b.sweep.params.shape == (6, 10, 2)
        b.controls["eta"].value = 0.3
        assert b.run.eta[0] == pytest.approx(0.3)
        ax = b.axes["bifurcation"]
        assert find(ax, "bifurcation:selected").get_xdata()[0] == pytest.approx(0.3)
        np.testing.assert_array_equal(find(b.axes["trajectory"], "trajectory:path:0").get_xdata(), b.run.params[:, 0])
        b.controls["quantity"].value = "w1"
        assert ax.get_ylabel() == "w₁"
    finally:
        b.close()


def test_smoothness_explorer_marks_the_accepted_step():
    s = SmoothnessExplorer("minimalist", "nls", num_steps=30, background=False, interactive=False)
    try:
        assert s.run is not None and s.controls["iterate"].max == 29
        s.controls["iterate"].value = 12
        ax = s.axes["smoothness"]
        assert find(ax, "segment_smoothness:eta").get_xdata()[0] == pytest.approx(s.run.eta[12])
        assert find(ax, "segment_smoothness:sharpness").get_ydata()[0] == pytest.approx(s.run.sharpness[12])
        np.testing.assert_array_equal(find(ax, "segment_smoothness:curve").get_ydata(), s.result.smoothness)
        assert "k = 12" in s.status.value
    finally:
        s.close()


def test_flatland_lab_two_aligned_dashboards():
    lab = FlatlandLab(num_steps=20, problem=_tiny_net("relu"), sharpness_every=5, background=False,
                      interactive=False)
    try:
        a, b = lab.runs
        assert a.label == "NLS" and b.label == "NLS-ub"  # rule_label, the paper's names
        np.testing.assert_array_equal(find(lab.axes[("loss", 0)], "loss:line:0").get_ydata(), a.loss)
        np.testing.assert_array_equal(find(lab.axes[("loss", 1)], "loss:line:0").get_ydata(), b.loss)
        assert lab.axes[("sharpness", 0)].get_ylim() == lab.axes[("sharpness", 1)].get_ylim()  # aligned
        assert np.all(b.eta < 3)  # NLS-ub: η < K = 3
        for col, run in enumerate(lab.runs):  # the η·λ_max row (the paper's Figure 3)
            line = find(lab.axes[("eta_sharpness", col)], "eta_sharpness:line:0")
            m = np.isfinite(run.sharpness)
            assert m.sum() >= 2
            np.testing.assert_allclose(line.get_ydata(), (run.eta * run.sharpness)[m])
            np.testing.assert_allclose(line.get_ydata(), run.eta_sharpness[m])
            assert find(lab.axes[("eta_sharpness", col)], "eta_sharpness:two") is not None
            assert find(lab.axes[("eta_sharpness", col)], "eta_sharpness:one_minus_c") is not None
        top = max(np.nanmax(r.eta_sharpness) for r in lab.runs)
        assert lab.axes[("eta_sharpness", 0)].get_ylim()[1] >= top  # the shared limits span both runs
        assert {"layer_grad_norms", "test_accuracy", "step_size"} <= set(FlatlandLab.ROWS)
        # each slider sets its rule's own η parameter, starting at the rule's default (NLS-ub's cap: K = 3)
        assert (lab.controls["eta_a"].description, lab.controls["eta_b"].description) == ("η₀", "η cap")
        assert lab.controls["eta_b"].value == pytest.approx(3.0) and lab.runs[1].settings.rule_params["cap"] is None
        lab.controls["rule_a"].value = "cdat"
        assert lab.runs[0].label == "CDAT" and lab.controls["eta_a"].disabled  # CDAT chooses every η itself
        lab.controls["eta_b"].value = 2.0
        assert lab.runs[1].label == "NLS-ub, cap = 2" and np.all(lab.runs[1].eta < 2)
    finally:
        lab.close()


def test_flatland_lab_menus_have_the_flatland_rules():
    lab = FlatlandLab(num_steps=10, problem=_tiny_net("relu"), sharpness_every=5, background=False,
                      interactive=False)
    try:
        for side in ("rule_a", "rule_b"):
            assert {"warmup", "warmup-ub", "nls-cap-only", "nls-once-only", "constant", "nls", "nls-ub"} <= set(
                lab.controls[side].options)
        expected = {"warmup": "GD-warmup", "warmup-ub": "GD-warmup-ub", "nls-cap-only": "NLS (cap only)",
                    "nls-once-only": "NLS (one doubling only)"}
        for name, label in expected.items():
            lab.controls["rule_b"].value = name
            assert lab.runs[1].label == label and len(lab.output.outputs) == 0
        assert np.all(lab.runs[1].eta[np.isfinite(lab.runs[1].eta)] > 0)
        lab.controls["rule_b"].value = "warmup-ub"
        assert np.nanmax(lab.runs[1].eta) <= 0.9 * 3 + 1e-12  # GD-warmup-ub: η ≤ 0.9 K, K = 3
        lab.controls["rule_b"].value = "nls-cap-only"
        assert np.all(lab.runs[1].eta < 3)  # the cap K = 3 without the one-doubling limit
    finally:
        lab.close()


def test_flatland_lab_constant_eta_control_reruns():
    lab = FlatlandLab(("constant", "cdat"), num_steps=10, problem=_tiny_net("relu"), eta=(0.5, 2.0),
                      sharpness_every=5, background=False, interactive=False)
    try:
        a, b = lab.runs
        assert a.label == "GD, η = 0.5" and np.all(a.eta == 0.5)
        assert lab.controls["eta_a"].description == "η" and not lab.controls["eta_a"].disabled
        assert lab.controls["eta_b"].disabled  # CDAT chooses η itself
        lab.controls["eta_a"].value = 0.25
        assert lab.runs[0] is not a and np.all(lab.runs[0].eta == 0.25)
        assert lab.runs[0].label == "GD, η = 0.25"
        line = find(lab.axes[("step_size", 0)], "step_size:line:0")
        np.testing.assert_allclose(line.get_ydata(), lab.runs[0].eta)
        before = lab.runs
        lab.controls["eta_b"].value = 1.0  # unused by CDAT: no re-run
        assert lab.runs is before
        lab.controls["rule_b"].value = "constant"  # now it is used, from constant GD's default 8
        assert lab.runs[1].label == "GD, η = 8" and not lab.controls["eta_b"].disabled
        lab.controls["eta_b"].value = 1.0
        assert lab.runs[1].label == "GD, η = 1"
    finally:
        lab.close()


def test_flatland_lab_diverged_message():
    lab = FlatlandLab(("constant", "constant"), num_steps=10, problem=_tiny_net("relu"), eta=(50.0, 0.5),
                      sharpness_every=5, background=False, interactive=False)
    try:
        assert lab.runs[0].diverged and not lab.runs[1].diverged
        assert "diverged at step" in lab.status.value and "⚠" in lab.status.value
    finally:
        lab.close()


def test_flatland_lab_defaults_to_the_flatland_setting(monkeypatch):
    import eostutor.widgets.model as model
    from eostutor import experiments

    small = experiments.flatland_problem(n_train=60)
    monkeypatch.setattr(model, "flatland_problem", lambda: small)  # the shipped one, smaller for speed
    lab = FlatlandLab(num_steps=10, sharpness_every=5, background=False, interactive=False)
    try:
        assert lab.problem is small and lab.controls["seed"].value == experiments.FLATLAND_SEED
        assert [r.label for r in lab.runs] == ["NLS", "NLS-ub"]
        assert lab.runs[0].settings.seed == experiments.FLATLAND_SEED
    finally:
        lab.close()


def test_flatland_lab_error_path(monkeypatch):
    import eostutor.widgets.model as model

    lab = FlatlandLab(num_steps=10, problem=_tiny_net("relu"), background=False, interactive=False)
    try:
        monkeypatch.setattr(model, "train", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("flat boom")))
        lab.controls["seed"].value += 1  # any change re-runs (the default seed is FLATLAND_SEED)
        assert "flat boom" in _texts(lab) and "RuntimeError" in lab.status.value
    finally:
        lab.close()


def test_displaying_a_widget_shows_its_container(explorer, monkeypatch):
    import IPython.display

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda *objs, **kw: shown.extend(objs))
    explorer._ipython_display_()  # what a bare `explorer` at the end of a cell does
    explorer.display()
    assert shown == [explorer.widget, explorer.widget]
    assert explorer.live.view in explorer.widget.children


def test_long_toy_runs_go_to_the_background_with_progress(explorer):
    explorer.sync_max_steps = 50
    explorer.controls["num_steps"].value = 120
    assert explorer.wait(30)
    assert explorer.run.num_steps == 120
    assert explorer.progress.layout.visibility == "hidden" and "✓" in explorer.status.value


def test_axis_limits_follow_the_data_after_big_changes(explorer):
    explorer.controls["eta"].value = 0.25  # diverges: the loss climbs to ~1e8
    explorer.controls["eta"].value = 0.1
    lo, hi = explorer.axes["loss"].get_ylim()
    loss = explorer.run.loss[explorer.run.loss > 0]
    assert lo <= loss.min() and loss.max() <= hi and hi < 1e3  # not stuck at the diverged run's range
