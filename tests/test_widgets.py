"""Widgets driven programmatically, without a browser: set controls, check the run, the panels' marks
(bqplot holds the data it sends to the page), the messages, the error output and the cancellation of stale
runs ("latest wins").

A change "from the page" is simulated the way ipywidgets receives it: ``control.set_state({"value": v})``
(the frontend's message), which runs under the property lock that tells the widgets where it came from.
Tiny problems keep every test fast.
"""

from __future__ import annotations

import math
import threading
import time

import numpy as np
import pytest

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
)
from eostutor.widgets.base import LogSlider
from eostutor.widgets.panels import Panel, nice_ticks


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
    ex = StepSizeExplorer("quadratic", presets=PRESETS_FOR_TESTS)
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


def test_panel_limits_stick_for_small_changes_and_refit_for_big_ones():
    p = Panel(ylog=True)
    first = p.fit_y([[1e-3, 1.0]])
    assert p.fit_y([[2e-3, 0.9]]) == first  # nearly the same range: the axis stays still
    assert p.fit_y([[1e-3, 1e6]]) != first  # the data left the box: re-fitted
    lo, hi = p.fit_y([[0.0, 1e-30, 1.0]])  # zeros and 1e-30 fall off a 12-decade axis
    assert lo == pytest.approx(10 ** (-12 - 0.72)) and hi > 1
    assert p.ys.min > 0  # a log axis never gets a non-positive limit
    ticks = list(p.yaxis.tick_values)
    assert ticks == [1e-12, 1e-9, 1e-6, 1e-3, 1.0] and p.yaxis.tick_labels["0.000001"] == "1e-6"


def test_nice_ticks_are_round_numbers():
    assert nice_ticks(-0.6, 10.6).tolist() == [0.0, 2.5, 5.0, 7.5, 10.0]
    assert nice_ticks(1.6, 5.0, log=True).tolist() == [2.0, 5.0]
    assert nice_ticks(1.0, 1.0).size == 0



def _y(panel, role):
    return np.asarray(panel.marks[role].y, dtype=float)


def _from_page(control, value):
    """What ipywidgets does with a value sent by the browser (a drag, a typed value); for a LogSlider the
    page sends the position of its handle."""
    control = getattr(control, "position", control)
    control.set_state({"value": value})


# --------------------------------------------------------------------------------------------------
# StepSizeExplorer
# --------------------------------------------------------------------------------------------------
def test_explorer_exposes_controls_panels_run_widget(explorer):
    assert {"problem", "rule", "eta", "eta_text", "num_steps", "seed", "momentum", "nesterov", "play", "k", "pin",
            "clear_pins", "reset_w0"} == set(explorer.controls)
    assert explorer.run is not None and not explorer.run.diverged
    assert set(explorer.panels) == {"landscape", "loss", "sharpness", "eta_sharpness", "step_size"}
    assert explorer.controls["eta"].continuous_update is True  # a drag updates while it moves
    assert explorer.controls["eta"].description == "η" and explorer.controls["eta_text"].value == "0.15"
    assert "StepSizeExplorer(problem='quadratic'" in repr(explorer)
    # the η slider spans the preset's range around the threshold, in 400 steps (about 1% of η per key)
    slider = explorer.controls["eta"]
    assert (10**slider.min, 10**slider.max) == pytest.approx(PRESETS["quadratic"].eta_range)
    assert 10**slider.step - 1 < 0.011 and slider.position.max == 400


def test_setting_eta_reruns_and_updates_marks_in_place(explorer):
    mark = explorer.panels["loss"].marks["run"]
    explorer.controls["eta"].value = 0.1
    run = explorer.run
    assert run.eta[0] == pytest.approx(0.1)
    assert explorer.panels["loss"].marks["run"] is mark  # same mark, new data
    np.testing.assert_allclose(_y(explorer.panels["loss"], "run"), run.loss)
    np.testing.assert_allclose(_y(explorer.panels["sharpness"], "run"), 10.0)
    assert _y(explorer.panels["sharpness"], "run:2/eta").tolist() == [20.0, 20.0]  # 2/η, drawn once
    np.testing.assert_allclose(explorer.panels["landscape"].marks["run"].x, run.params[:, 0])
    assert explorer.controls["eta_text"].value == "0.1"


def test_threshold_is_marked_under_the_slider(explorer):
    assert "2/λ_max(w₀) = 0.2" in explorer.strip.value
    explorer.controls["momentum"].value = 0.5
    assert "edge at w₀ (momentum) = 0.3" in explorer.strip.value  # 2(1 + β)/λ_max
    explorer.controls["nesterov"].value = True
    assert "= 0.15" in explorer.strip.value  # (2 + 2β)/((1 + 2β)λ_max)


def test_divergence_shows_message_and_plot_up_to_that_step(explorer):
    explorer.controls["eta"].value = 0.25
    run = explorer.run
    assert run.diverged and "diverged at step" in explorer.status.value and "2/λ_max = 0.2" in explorer.status.value
    sharp = explorer.panels["sharpness"]
    assert sharp.marks["run:diverged"].visible
    assert sharp.ylim[1] < 100  # the axis stays near 2/η = 8, not the blow-up
    explorer.controls["eta"].value = 0.1
    assert not sharp.marks["run:diverged"].visible  # hidden again once the run converges


def test_typed_eta_is_exact_and_bad_values_leave_the_picture(explorer):
    box = explorer.controls["eta_text"]
    _from_page(box, "0.19")
    assert explorer.run.eta[0] == 0.19 and explorer.settings.eta == 0.19
    good = explorer.run
    for text, words in (("abc", "not a number"), ("0", "positive"), ("-1", "positive"), ("nan", "finite"),
                        ("1e9", "outside this slider&#x27;s range")):
        _from_page(box, text)
        assert words in explorer.status.value, text
        assert explorer.run is good and not explorer.output.outputs  # nothing raised, last good picture kept


def test_an_exact_eta_stays_exact_and_the_handle_moves_to_it(explorer, monkeypatch):
    slider = explorer.controls["eta"]
    explorer.controls["eta"].value = 0.19  # exact, from Python
    assert explorer.settings.eta == 0.19 and explorer.run.eta[0] == 0.19
    p = slider.position.value
    assert abs(slider.at(p) / 0.19 - 1) < 10**slider.step - 1  # the handle sits at the nearest position
    runs = []
    monkeypatch.setattr(explorer.model, "train", lambda *a, **k: runs.append(a) or explorer.run)
    _from_page(slider.position, p + 1)  # the learner presses → once
    assert explorer.wait(10) and len(runs) == 1 and explorer.settings.eta == slider.at(p + 1)
    assert explorer.controls["eta_text"].value == f"{slider.at(p + 1):.4g}"


def test_a_drag_in_the_page_is_coalesced_in_the_background(explorer, monkeypatch):
    calls = []
    train = explorer.model.train

    def slow_train(settings, **kwargs):
        calls.append(settings.eta)
        time.sleep(0.05)
        return train(settings, **kwargs)

    monkeypatch.setattr(explorer.model, "train", slow_train)
    slider = explorer.controls["eta"]
    start = slider.position.value
    for i in range(1, 21):  # twenty quick moves: each returns at once, the kernel stays free
        t0 = time.perf_counter()
        _from_page(slider, start + i)
        assert time.perf_counter() - t0 < 0.04
    assert explorer.wait(10)
    last = slider.at(start + 20)
    assert calls[-1] == pytest.approx(last) and len(calls) < 20  # never a queue of stale runs
    assert explorer.run.eta[0] == pytest.approx(last)
    np.testing.assert_allclose(_y(explorer.panels["loss"], "run"), explorer.run.loss)


def test_cursor_follows_step_k_in_every_panel(explorer):
    explorer.controls["k"].value = 7
    run = explorer.run
    for name in ("loss", "sharpness", "eta_sharpness", "step_size"):
        cursor = explorer.panels[name].marks["cursor"]
        assert cursor.visible and list(cursor.x) == [7, 7]
    point = explorer.panels["landscape"].marks["cursor"]
    assert (point.x[0], point.y[0]) == tuple(run.params[7])
    assert "k = 7" in explorer.readout.value and f"{run.loss[7]:.4g}" in explorer.readout.value
    assert explorer.controls["play"].max == len(run.loss) - 1  # the last recorded step


def test_pins_keep_runs_for_comparison(explorer):
    explorer.controls["eta"].value = 0.1
    explorer.pin()
    pinned = explorer.run
    explorer.controls["eta"].value = 0.18
    loss = explorer.panels["loss"]
    np.testing.assert_allclose(_y(loss, "pin0"), pinned.loss)
    np.testing.assert_allclose(_y(loss, "run"), explorer.run.loss)
    assert "pin 1: GD, η = 0.1" in explorer.runs_legend.value and "current: GD, η = 0.18" in explorer.runs_legend.value
    explorer.clear_pins()
    assert not loss.marks["pin0"].visible and "pin 1" not in explorer.runs_legend.value


def test_clicking_the_landscape_sets_the_start(explorer):
    mark = explorer.panels["landscape"].marks["click"]
    mark._handle_custom_msgs(None, {"event": "element_click", "data": {"click_x": 1.0, "click_y": -0.5}})
    assert explorer.wait(10)
    assert explorer.run.params[0].tolist() == [1.0, -0.5] and explorer.run.settings.w0_given
    assert not explorer.controls["reset_w0"].disabled and "from w₀ = (1, -0.5)" in explorer.status.value
    explorer.controls["reset_w0"].click()
    assert explorer.wait(10) and not explorer.run.settings.w0_given


def test_invalid_values_are_rejected_with_a_message(explorer):
    explorer.controls["rule"].value = "nls"
    explorer.controls["momentum"].value = 0.5  # momentum is only for constant / warm-up
    assert "rejected" in explorer.status.value and "momentum" in explorer.status.value
    assert explorer.controls["momentum"].disabled


def test_exception_in_the_model_appears_in_the_output_area(explorer, monkeypatch):
    monkeypatch.setattr(explorer.model, "train", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("boom")))
    explorer.controls["seed"].value = 3
    assert "boom" in _texts(explorer) and "RuntimeError" in explorer.status.value


def test_rule_changes_the_meaning_of_eta(explorer):
    explorer.controls["rule"].value = "nls"
    assert explorer.controls["eta"].description == "η₀"
    assert explorer.run.settings.rule_params["eta0"] == pytest.approx(0.15)
    explorer.controls["rule"].value = "polyak"
    assert explorer.controls["eta"].disabled and explorer.controls["eta_text"].disabled


def test_problem_switch_rebuilds_panels(explorer):
    explorer.controls["problem"].value = "minimalist"
    assert explorer.run.settings.problem == "Minimalist()"
    assert explorer.settings.eta == PRESETS["minimalist"].eta
    assert 10 ** explorer.controls["eta"].max == pytest.approx(PRESETS["minimalist"].eta_range[1])
    explorer.controls["problem"].value = "tiny-net"
    explorer.wait(30)
    assert set(explorer.panels) == {"loss", "sharpness", "test_accuracy", "eta_sharpness", "step_size",
                                    "layer_grad_norms"}
    assert explorer.run is not None and explorer.run.settings.dim == TINY_NET.dim
    np.testing.assert_allclose(_y(explorer.panels["loss"], "run"), explorer.run.loss)


def test_network_runs_stream_and_latest_wins():
    ex = StepSizeExplorer("tiny-net", presets=PRESETS_FOR_TESTS, num_steps=5000)
    try:
        deadline = time.time() + 20
        while ex.progress.value == 0.0 and time.time() < deadline:  # the first run is streaming
            time.sleep(0.01)
        assert ex.jobs.busy() and ex.progress.layout.display == ""
        assert len(ex.panels["loss"].marks["run"].y) > 1  # frames drawn while it trains
        ex.controls["eta"].value = 0.3
        ex.controls["num_steps"].value = 50
        assert ex.wait(60)
        run = ex.run
        assert run.eta[0] == pytest.approx(0.3) and run.num_steps == 50 and not run.interrupted
        assert ex.cancelled, "the stale run should have been stopped"
        stale = ex.cancelled[0]
        assert stale.interrupted and stale.num_steps < 5000
        assert ex.progress.layout.display == "none"
    finally:
        ex.close()


def test_custom_problem_instance():
    ex = StepSizeExplorer(_tiny_net(), num_steps=20, background=False)
    try:
        assert ex.controls["problem"].value == "custom" and ex.run.num_steps == 20
    finally:
        ex.close()


def test_every_widget_fits_the_page():
    from eostutor.widgets.base import PAGE_WIDTH

    def px(panel):
        return int(panel.figure.layout.width.rstrip("px"))

    ex = StepSizeExplorer("minimalist")
    lab = FlatlandLab(num_steps=10, problem=_tiny_net("relu"), sharpness_every=5, background=False)
    try:
        assert PAGE_WIDTH <= 900  # JupyterLab's output area at 1366×768 with the file browser open: 934 px
        assert ex.widget.layout.max_width == lab.widget.layout.max_width == f"{PAGE_WIDTH}px"
        row = px(ex.panels["landscape"]) + px(ex.panels["loss"]) + px(ex.panels["sharpness"])
        assert row + 3 * 4 <= PAGE_WIDTH  # with the grid gaps
        assert sum(px(lab.panels[n]) for n in lab.PANELS[:3]) + 3 * 4 <= PAGE_WIDTH
    finally:
        ex.close()
        lab.close()


# --------------------------------------------------------------------------------------------------
# The other widgets
# --------------------------------------------------------------------------------------------------
def test_bifurcation_explorer():
    b = BifurcationExplorer(etas=np.linspace(0.1, 0.6, 6), num_steps=80, keep_last=10, background=False)
    try:
        assert b.sweep is not None and b.sweep.params.shape == (6, 10, 2)
        b.controls["eta"].value = 0.3
        assert b.run.eta[0] == pytest.approx(0.3)
        panel = b.panels["bifurcation"]
        assert list(panel.marks["selected"].x) == [0.3, 0.3]
        np.testing.assert_array_equal(b.panels["trajectory"].marks["path"].x, b.run.params[:, 0])
        b.controls["quantity"].value = "w1"
        assert panel.yaxis.label == "w₁"
        np.testing.assert_allclose(np.sort(panel.marks["points"].y),
                                   np.sort(b.sweep.params[..., 0][np.isfinite(b.sweep.params[..., 0])]))
    finally:
        b.close()


def test_bifurcation_quantity_toggle_round_trips():
    b = BifurcationExplorer(etas=np.linspace(0.1, 0.6, 6), num_steps=80, keep_last=10, background=False)
    try:
        panel = b.panels["bifurcation"]
        linear = panel.ylim
        b.controls["quantity"].value = "loss"
        assert panel.ylog and panel.ylim[0] > 0 and panel.marks["points"].scales["y"] is panel.ys
        b.controls["quantity"].value = "sharpness"
        assert not panel.ylog and panel.ylim == pytest.approx(linear)
        assert panel.yaxis.scale is panel.ys and panel.marks["selected"].scales["y"] is panel.ys
    finally:
        b.close()


def test_smoothness_explorer_marks_the_accepted_step():
    s = SmoothnessExplorer("minimalist", "nls", num_steps=30, background=False)
    try:
        assert s.run is not None and s.controls["iterate"].max == 29
        s.controls["iterate"].value = 12
        panel = s.panels["smoothness"]
        assert panel.marks["eta"].x[0] == pytest.approx(s.run.eta[12])
        assert panel.marks["sharpness"].y[0] == pytest.approx(s.run.sharpness[12])
        np.testing.assert_array_equal(panel.marks["curve"].y, s.result.smoothness)
        assert list(s.panels["loss"].marks["cursor"].x) == [12, 12]
        assert "k = 12" in s.status.value
    finally:
        s.close()


def test_flatland_lab_two_rules_on_shared_axes():
    lab = FlatlandLab(num_steps=20, problem=_tiny_net("relu"), sharpness_every=5, background=False)
    try:
        a, b = lab.runs
        assert a.label == "NLS" and b.label == "NLS-ub"  # rule_label, the paper's names
        loss = lab.panels["loss"]
        np.testing.assert_allclose(_y(loss, "run0"), a.loss)
        np.testing.assert_allclose(_y(loss, "run1"), b.loss)
        assert loss.ylim[0] <= min(np.nanmin(a.loss), np.nanmin(b.loss))  # the axis spans both runs
        assert np.all(b.eta < 3)  # NLS-ub: η < K = 3
        panel = lab.panels["eta_sharpness"]  # the η·λ_max panel (the paper's Figure 3)
        for i, run in enumerate(lab.runs):
            m = np.isfinite(run.sharpness)
            assert m.sum() >= 2
            np.testing.assert_allclose(_y(panel, f"run{i}"), (run.eta * run.sharpness)[m])
        assert panel.marks["run0:edge"].visible and panel.marks["run0:one_minus_c"].visible
        assert set(FlatlandLab.PANELS) >= {"layer_grad_norms", "test_accuracy", "step_size"}
        assert "NLS" in lab.runs_legend.value and "NLS-ub" in lab.runs_legend.value
        # each slider sets its rule's own η parameter, starting at the rule's default (NLS-ub's cap: K = 3)
        assert (lab.controls["eta_a"].description, lab.controls["eta_b"].description) == ("η₀", "η cap")
        assert lab.value("eta_b") == 3.0 and lab.runs[1].settings.rule_params["cap"] is None
        lab.controls["rule_a"].value = "cdat"
        assert lab.runs[0].label == "CDAT" and lab.controls["eta_a"].disabled  # CDAT chooses every η itself
        lab.controls["eta_b"].value = 2.0
        assert lab.runs[1].label == "NLS-ub, cap = 2" and np.all(lab.runs[1].eta < 2)
    finally:
        lab.close()
def test_flatland_lab_menus_have_the_flatland_rules():
    lab = FlatlandLab(num_steps=10, problem=_tiny_net("relu"), sharpness_every=5, background=False)
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
                      sharpness_every=5, background=False)
    try:
        a, b = lab.runs
        assert a.label == "GD, η = 0.5" and np.all(a.eta == 0.5)
        assert lab.controls["eta_a"].description == "η" and not lab.controls["eta_a"].disabled
        assert lab.controls["eta_b"].disabled  # CDAT chooses η itself
        lab.controls["eta_a"].value = 0.25
        assert lab.runs[0] is not a and np.all(lab.runs[0].eta == 0.25)
        assert lab.runs[0].label == "GD, η = 0.25"
        np.testing.assert_allclose(_y(lab.panels["step_size"], "run0"), lab.runs[0].eta)
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
                      sharpness_every=5, background=False)
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
    lab = FlatlandLab(num_steps=10, sharpness_every=5, background=False)
    try:
        assert lab.problem is small and lab.controls["seed"].value == experiments.FLATLAND_SEED
        assert [r.label for r in lab.runs] == ["NLS", "NLS-ub"]
        assert lab.runs[0].settings.seed == experiments.FLATLAND_SEED
    finally:
        lab.close()


def test_flatland_lab_error_path(monkeypatch):
    import eostutor.widgets.model as model

    lab = FlatlandLab(num_steps=10, problem=_tiny_net("relu"), background=False)
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


def test_long_toy_runs_go_to_the_background_with_progress(explorer):
    explorer.sync_max_steps = 50
    explorer.controls["num_steps"].value = 120
    assert explorer.wait(30)
    assert explorer.run.num_steps == 120
    assert explorer.progress.layout.display == "none" and "✓" in explorer.status.value


def test_axis_limits_follow_the_data_after_big_changes(explorer):
    explorer.controls["eta"].value = 0.25  # diverges: the loss climbs to ~1e8
    explorer.controls["eta"].value = 0.1
    lo, hi = explorer.panels["loss"].ylim
    loss = explorer.run.loss[explorer.run.loss > 0]
    assert lo <= max(loss.min(), hi * 1e-12) and loss.max() <= hi  # the run, or 12 decades of it
    assert hi < 1e3  # not stuck at the diverged run's range


def test_flatland_lab_init_scale_and_seed_survey():
    net = _tiny_net("relu")
    lab = FlatlandLab(num_steps=20, problem=net, sharpness_every=5, background=False)
    try:
        first = lab.runs[0]
        lab.controls["init_scale"].value = 2.0
        w0 = lab.model.start(lab.controls["seed"].value, 2.0)
        assert lab.runs[0] is not first and lab.runs[0].settings.w0_given
        weight = net.layer_slices["layer0.weight"]
        np.testing.assert_allclose(w0[weight].numpy(), 2 * net.init(lab.controls["seed"].value)[weight].numpy())
        lab.controls["n_seeds"].value = 3
        lab.controls["survey"].click()
        result = lab.survey_result
        assert set(result) == {"NLS", "NLS-ub"} and all(r["seeds"] == 3 for r in result.values())
        assert all(0 <= r["flatland"] <= 3 for r in result.values())
        assert "of 3" in lab.survey_table.value and "in Flatland" in lab.survey_table.value
        runs = lab.runs
        lab.survey(n=2, first_seed=7)  # from code: the controls follow, the pair on show is not re-run
        assert lab.controls["seed"].value == 7 and lab.controls["n_seeds"].value == 2 and lab.runs is runs
        assert "seeds 7–8" in lab.survey_table.value and "earlier settings" not in lab.survey_table.value
        lab.controls["rule_b"].value = "constant"  # new settings: the table stays, marked as the earlier ones'
        assert lab.survey_table.value.count("earlier settings") == 1 and "seeds 7–8" in lab.survey_table.value
        lab.controls["eta_b"].value = 1.0  # marked once, not again
        assert lab.survey_table.value.count("earlier settings") == 1
    finally:
        lab.close()


def test_flatland_lab_draws_the_floor_for_every_rule():
    lab = FlatlandLab(("constant", "cdat"), num_steps=10, problem=_tiny_net("relu"), eta=(0.5, 2.0),
                      sharpness_every=5, background=False)
    try:
        panel = lab.panels["sharpness"]
        assert "2/K floor" in panel.figure.title and panel.marks["run0:floor"].visible
        assert _y(panel, "run0:floor").tolist() == pytest.approx([2 / 3, 2 / 3])
        assert lab.legends["sharpness"].value.count("2/K floor = 0.667") == 1
        lab.controls["rule_a"].value = "nls"  # a line search: still one floor and one legend entry
        assert lab.legends["sharpness"].value.count("2/K floor") == 1
    finally:
        lab.close()


@pytest.mark.parametrize("make", [
    lambda: StepSizeExplorer("minimalist"),
    lambda: BifurcationExplorer(etas=np.linspace(0.1, 0.6, 4), num_steps=40, keep_last=5, background=False),
    lambda: SmoothnessExplorer("quadratic", "constant", eta=0.05, num_steps=20),
    lambda: FlatlandLab(num_steps=10, problem=_tiny_net("relu"), sharpness_every=5, background=False),
], ids=["explorer", "bifurcation", "smoothness", "flatland"])
def test_closing_a_widget_frees_every_model_it_made(make):
    import gc
    import weakref

    from ipywidgets.widgets.widget import _instances

    make().close()  # once first: widgets created once per kernel are not the widget's own
    gc.collect()
    before = len(_instances)
    widget = make()
    assert len(_instances) > before
    ref = weakref.ref(widget)
    widget.close()
    del widget
    gc.collect()
    assert len(_instances) == before, "widget models left registered after close()"
    assert ref() is None, "something still holds the closed widget"


def test_preconditioned_rules_are_left_to_the_optimizer_explorer():
    assert "adam" not in ExplorerModel().rule_names("quadratic")
    with pytest.raises(ValueError, match="OptimizerExplorer"):
        StepSizeExplorer("quadratic", rules=["constant", "adam"])


def test_a_start_value_outside_a_sliders_range_is_refused():
    with pytest.raises(ValueError, match="outside the slider's range"):
        BifurcationExplorer(etas=np.linspace(0.1, 0.6, 4), num_steps=40, keep_last=5, eta=5.0, background=False)
    lab = FlatlandLab(num_steps=10, problem=_tiny_net("relu"), eta=(500.0, 1.0), background=False)
    try:  # the lab widens an η slider to a given η, like the explorer, and to a rule's default
        assert lab.value("eta_a") == 500.0 and lab.controls["eta_b"].max == pytest.approx(2.0)
        lab.controls["rule_b"].value = "adgd"  # AdGD's first step is 1e-6
        assert lab.value("eta_b") == pytest.approx(1e-6) and lab.runs[1].eta[0] == pytest.approx(1e-6)
        lab.controls["rule_b"].value = "nls"
        assert lab.value("eta_b") == 1.0 and 10 ** lab.controls["eta_b"].min == pytest.approx(1e-2)
    finally:
        lab.close()
    ex = StepSizeExplorer("quadratic", eta=5.0)  # the explorer widens its range to a given η instead
    try:
        assert ex.settings.eta == 5.0 and ex.run.diverged
    finally:
        ex.close()
    slider = LogSlider(0.1, 0.01, 0.5, description="η")  # set from Python later: refused too, not clamped
    for bad, needle in ((5.0, "outside the slider's range"), (-1.0, "positive finite"), (math.nan, "positive")):
        with pytest.raises(ValueError, match=needle):
            slider.value = bad
    assert slider.value == 0.1
    slider.value = 0.5 * (1 + 1e-12)  # round-off at an end is clamped
    assert slider.value == 0.5


def test_holds_that_overlap_from_two_threads_leave_the_controls_live():
    """A hold opened on one thread and closed after another thread's hold must not leave updates blocked."""
    ex = StepSizeExplorer("quadratic", background=False)
    try:
        entered, release = threading.Event(), threading.Event()

        def other():
            with ex._hold():
                entered.set()
                release.wait(5)

        with ex._hold():
            thread = threading.Thread(target=other)
            thread.start()
            assert entered.wait(5)
        release.set()  # this thread left its hold first, the other thread second
        thread.join(5)
        ex.controls["eta"].value = 0.05
        assert ex.run.settings.rule_params["eta"] == pytest.approx(0.05)
    finally:
        ex.close()


def test_latest_wins_never_joins_a_thread_that_has_not_started(monkeypatch):
    """A submit from another thread while a new job's thread is still starting must wait for it, not fail."""
    jobs = LatestWins()
    real_start = threading.Thread.start

    def slow_start(self):  # only the first job's thread is slow to start
        if self.name == "eostutor-run-1":
            time.sleep(0.2)
        real_start(self)

    monkeypatch.setattr(threading.Thread, "start", slow_start)
    done, errors = [], []
    first = threading.Thread(target=lambda: jobs.submit(lambda stale: done.append(1), background=True))
    real_start(first)
    time.sleep(0.05)  # the first submit is inside its (slow) start now
    threading.excepthook, hook = (lambda args: errors.append(args.exc_value)), threading.excepthook
    try:
        jobs.submit(lambda stale: done.append(2), background=True)
        assert jobs.wait(5)
        first.join(5)
    finally:
        threading.excepthook = hook
    assert errors == [] and done[-1] == 2


def test_clicks_at_the_ends_of_the_bifurcation_diagram_are_clamped():
    ex = BifurcationExplorer(etas=np.linspace(0.1, 2 / 3, 4), num_steps=40, keep_last=5, eta=0.3, background=False)
    try:
        ex._on_click(0.66666, 0)  # rounds to 0.667, just past the last η
        assert ex.value("eta") == pytest.approx(2 / 3)
    finally:
        ex.close()
