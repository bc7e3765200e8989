"""StepSizeExplorer: choose a problem, a rule and η; watch the loss, the sharpness, η·λ_max and the iterates."""

from __future__ import annotations

import html
import math
import time
from dataclasses import dataclass

import numpy as np

from eostutor import stepsizes
from eostutor._validate import check_choice, check_positive
from eostutor.problems import TINY_DIM, Problem
from eostutor.record import Run
from eostutor.widgets import curves
from eostutor.widgets.base import PAGE_WIDTH, PANEL_HEIGHT, PANEL_WIDTH, Job, LiveWidget, log_slider, typed_box, widened
from eostutor.widgets.model import ExplorerModel, ExplorerSettings, divergence_message
from eostutor.widgets.panels import OKABE_ITO, RUN_COLORS, Panel, _widgets, landscape_png, legend_html

__all__ = ["StepSizeExplorer"]

#: Time panels of a toy (next to the landscape) and of a network, in reading order.
TOY_PANELS = ("loss", "sharpness", "eta_sharpness", "step_size")
NETWORK_PANELS = ("loss", "sharpness", "test_accuracy", "eta_sharpness", "step_size", "layer_grad_norms")
MAX_PINS = 4
CURSOR_COLOR = OKABE_ITO["orange"]
SLIDER_WIDTH = 374  # px of the η slider with its 40 px label (the threshold strip below it is as wide)
# Measured in JupyterLab (Chromium): the slider's track starts 56 px right of the strip's left edge (after
# the 40 px label) and is 314 px long; the browser test checks that a mark sits under the handle at its η.
TRACK_START, TRACK_LENGTH = 56, 314


@dataclass(frozen=True)
class Pin:
    """A run kept on the axes for comparison."""

    run: Run
    settings: ExplorerSettings
    color: str
    label: str


class StepSizeExplorer(LiveWidget):
    """Choose a problem, a step-size rule and η; watch loss, sharpness, η·λ_max, the step and the iterates.

    The panels are drawn in the browser (bqplot): a slider move sends the new run's arrays, not a picture.
    Dragging the η slider updates the picture while the handle moves; the threshold where the start
    w₀ is at the edge (2/λ_max(w₀), or the momentum threshold) is marked under the slider. Type an exact η
    in the box next to it. Play (or drag the k slider) to move a cursor through the iterates in every
    panel; click on the landscape to start from that point; pin a run to keep it on the axes while you
    try another η.

    Args:
        problem: A preset name (see :data:`eostutor.widgets.PRESETS`) or a Problem (added as "custom").
        rules: Rule names for the menu (default: every registered rule that can run on the problem).
        rule: Initial rule.
        eta: Initial η (default: the preset's). It sets the rule's own η parameter (η for GD, the first
            step η₀ for the line searches, the cap of NLS-ub); rules that choose every step disable it.
        num_steps: Initial number of steps (default: the preset's).
        seed: Initial seed.
        momentum: Initial β (rules that support momentum: constant and warm-up).
        nesterov: Nesterov instead of heavy-ball momentum.
        background: Run in a background thread: ``None`` = networks, toy runs over ``sync_max_steps``
            steps and changes made in the browser (default), True/False = always/never.
        presets: Name -> Preset (default :data:`eostutor.widgets.PRESETS`).

    Example (no browser needed; a change made from Python re-runs at once)::

        >>> ex = StepSizeExplorer("quadratic")
        >>> ex.controls["eta"].value = 0.25          # > 2/λ_max = 0.2
        >>> ex.run.diverged
        True
    """

    #: Toy runs longer than this go to the background thread with a progress bar.
    sync_max_steps = 2000

    def __init__(self, problem: str | Problem | None = None, rules=None, *, rule: str = "constant",
                 eta: float | None = None, num_steps: int | None = None, seed: int = 0, momentum: float = 0.0,
                 nesterov: bool = False, background: bool | None = None, presets=None):
        super().__init__()
        w = _widgets()
        self.model = ExplorerModel(presets)
        if isinstance(problem, Problem):
            problem = self.model.add_problem(problem, eta=0.1 if eta is None else check_positive("eta", eta))
        problem = "quadratic" if problem is None else check_choice("problem", problem, self.model.presets)
        self._menu = None if rules is None else tuple(check_choice("rule", r, stepsizes.RULES) for r in rules)
        for r in self._menu or ():
            if stepsizes.RULES[r].preconditioned:
                raise ValueError(f"rule {r!r} is preconditioned: its edge bounds λ_max(P⁻¹H), which this explorer "
                                 "does not show; use eos.widgets.OptimizerExplorer")
        options = self._rule_options(problem)
        check_choice("rule", rule, options)
        self.background = background
        preset = self.model.presets[problem]
        eta = preset.eta if eta is None else check_positive("eta", eta)
        lo, hi = preset.eta_range  # a given η outside the preset's range widens it
        self._eta_ranges = {problem: widened(lo, hi, eta)}
        style = {"description_width": "60px"}
        self.controls = {
            "problem": w.Dropdown(options=list(self.model.presets), value=problem, description="problem",
                                  style=style, layout=w.Layout(width="240px")),
            "rule": w.Dropdown(options=list(options), value=rule, description="rule",
                               style={"description_width": "40px"},
                               layout=w.Layout(width="220px")),
            "eta": log_slider(eta, *self._eta_ranges[problem], description="η", width=f"{SLIDER_WIDTH}px",
                              description_width="40px"),
            "eta_text": typed_box(eta),
            "num_steps": w.IntSlider(value=preset.num_steps if num_steps is None else num_steps, min=10,
                                     max=5000, step=10, description="steps", continuous_update=False,
                                     style={"description_width": "44px"}, layout=w.Layout(width="290px")),
            "seed": w.BoundedIntText(value=seed, min=0, max=10_000, description="seed",
                                     style={"description_width": "36px"},
                                     layout=w.Layout(width="120px")),
            "momentum": w.FloatSlider(value=momentum, min=0.0, max=0.95, step=0.01, description="momentum β",
                                      style={"description_width": "96px"}, layout=w.Layout(width="330px")),
            "nesterov": w.ToggleButtons(options=[("heavy ball", False), ("Nesterov", True)], value=bool(nesterov),
                                        style={"button_width": "96px"}, layout=w.Layout(margin="0 0 0 100px")),
            "play": w.Play(value=0, min=0, max=max(1, preset.num_steps), step=1, interval=40, description="play",
                           show_repeat=False, layout=w.Layout(width="90px")),
            "k": w.IntSlider(value=0, min=0, max=max(1, preset.num_steps), description="step k",
                             style=style, layout=w.Layout(width="330px")),
            "pin": w.Button(description="pin this run", icon="thumb-tack", layout=w.Layout(width="120px"),
                            tooltip="keep this run on the axes and compare it with the next"),
            "clear_pins": w.Button(description="clear pins", layout=w.Layout(width="95px")),
            "reset_w0": w.Button(description="reset w₀", layout=w.Layout(width="90px"), disabled=True,
                                 tooltip="start from the preset's initialisation again"),
        }
        c = self.controls
        self._links.append(w.jslink((c["play"], "value"), (c["k"], "value")))  # play moves the k slider in the page
        self.strip = w.HTML(layout=w.Layout(width=f"{SLIDER_WIDTH + 10}px", margin="-6px 0 0 0"))
        self.help = w.HTML()
        self.readout = w.HTML(layout=w.Layout(width=f"{PAGE_WIDTH - 2 * PANEL_WIDTH - 12}px"))
        self.runs_legend = w.HTML()
        self.legends: dict[str, object] = {}
        self.grid = w.Box()
        eta_box = w.VBox([w.HBox([c["eta"].position, c["eta_text"]]), self.strip])
        self.widget = w.VBox([
            w.HBox([c["problem"], c["rule"], c["num_steps"], c["seed"]]),
            w.HBox([eta_box, w.VBox([c["momentum"], c["nesterov"]])]),
            self.help,
            w.HBox([c["play"], c["k"], c["pin"], c["clear_pins"], c["reset_w0"]]),
            w.HBox([self.progress, self.status]),
            self.runs_legend, self.grid, self.output,
        ], layout=w.Layout(max_width=f"{PAGE_WIDTH}px"))
        self.pins: list[Pin] = []
        self._w0: tuple[float, ...] | None = None
        self._kind = None
        self._panels_problem = None
        self._observe("problem", self._on_problem)
        for name in ("rule", "eta", "num_steps", "seed", "momentum", "nesterov"):
            self._observe(name, self.update)
        self._observe("eta_text", lambda browser=False: self._typed("eta_text", "eta"))
        self._observe("k", self._on_cursor)
        c["pin"].on_click(self._guard(lambda _b: self.pin()))
        c["clear_pins"].on_click(self._guard(lambda _b: self.clear_pins()))
        c["reset_w0"].on_click(self._guard(lambda _b: self.set_start(None, browser=True)))
        self._guard(self._on_problem)(reset=False)

    def __repr__(self) -> str:
        s = self.settings
        return f"StepSizeExplorer(problem={s.problem!r}, rule={s.rule!r}, eta={s.eta:.3g}, num_steps={s.num_steps})"

    def _rule_options(self, problem: str) -> tuple[str, ...]:
        usable = self.model.rule_names(problem)
        return usable if self._menu is None else tuple(r for r in self._menu if r in usable) or self._menu

    @property
    def settings(self) -> ExplorerSettings:
        """The current control values (and the clicked start, if any) as model settings."""
        c = self.controls
        return ExplorerSettings(c["problem"].value, c["rule"].value, self.value("eta"), int(c["num_steps"].value),
                                int(c["seed"].value), self.value("momentum"), bool(c["nesterov"].value), self._w0)

    # -- panels ---------------------------------------------------------------------------------------
    def _build_panels(self, kind: str) -> None:
        w = _widgets()
        for panel in self.panels.values():
            panel.figure.close()
        names = TOY_PANELS if kind == "toy" else NETWORK_PANELS
        self.panels = {name: curves.make_panel(name, PANEL_WIDTH, PANEL_HEIGHT) for name in names}
        self.legends = {name: w.HTML(layout=w.Layout(width=f"{PANEL_WIDTH}px", min_height="22px")) for name in names}
        slots = {name: w.VBox([self.panels[name].figure, self.legends[name]]) for name in names}
        grid = w.GridBox([slots[n] for n in names],
                         layout=w.Layout(grid_template_columns=f"repeat({2 if kind == 'toy' else 3}, {PANEL_WIDTH}px)",
                                         grid_gap="2px 4px"))
        if kind == "toy":
            land = Panel("Iterates on the loss landscape", "w₁", "w₂", width=PAGE_WIDTH - 2 * PANEL_WIDTH - 12,
                         height=PANEL_HEIGHT + 80)
            self.panels["landscape"] = land
            self.grid.children = [w.HBox([w.VBox([land.figure, self.readout]), grid])]
        else:
            self.grid.children = [w.VBox([grid, self.readout])]
        self._kind = kind

    def _extent(self, problem: Problem, settings: ExplorerSettings):
        preset = self.model.presets[settings.problem]
        if problem.dim == 1:
            w0 = float(self.model.start(settings)[0])
            r = max(1.0, 1.3 * abs(w0))
            return (-r, r)
        if preset.extent is None:
            return None
        extent = list(preset.extent)
        w0 = self.model.start(settings).cpu().numpy()
        # The landscape box is fixed per preset (drawn once); it grows only if w₀ falls outside.
        for d in range(2):
            lo, hi = extent[2 * d], extent[2 * d + 1]
            if not lo <= w0[d] <= hi:
                span = hi - lo
                extent[2 * d] = min(lo, w0[d] - 0.1 * span)
                extent[2 * d + 1] = max(hi, w0[d] + 0.1 * span)
        return tuple(float(e) for e in extent)

    def _drawn_runs(self, run: Run):
        """(run, role prefix, colour, is the current run) for the current run and the pins."""
        out = [(pin.run, f"pin{i}", pin.color, False) for i, pin in enumerate(self.pins)]
        return [*out, (run, "run", RUN_COLORS[0], True)]  # the current run on top

    def _draw(self, run: Run, settings: ExplorerSettings, force: bool = True) -> None:
        """Send ``run`` (and the pins) to every panel (throttled while a network run streams)."""
        if self.throttled(force):
            return
        with self.drawing():
            if settings.problem != self._panels_problem:
                return  # a stale run of the previous problem: the panels were rebuilt meanwhile
            runs = self._drawn_runs(run)
            n = max([settings.num_steps, *(len(r.loss) - 1 for r, *_ in runs)])
            k = self._cursor_step(run)
            for name in (TOY_PANELS if self._kind == "toy" else NETWORK_PANELS):
                panel, legend, values = self.panels[name], [], []
                with panel.frame():
                    for r, key, color, main in runs:
                        values += curves.DRAW[name](panel, r, key, color, main=main, width=2.0 if main else 1.4,
                                                    opacity=1.0 if main else 0.8, legend=legend if main else None)
                    if panel.xlim != (0.0, float(n)):
                        panel.set_limits(x=(0.0, float(n)))
                    panel.fit_y(values)
                    panel.cursor(k, color=CURSOR_COLOR)
                html_legend = legend_html(legend)
                if self.legends[name].value != html_legend:
                    self.legends[name].value = html_legend
            if self._kind == "toy":
                self._draw_landscape(runs, settings, k)
            self._show_runs_legend(run)

    def _draw_landscape(self, runs, settings: ExplorerSettings, k: int | None) -> None:
        problem = self.model.problem(settings.problem)
        panel = self.panels["landscape"]
        extent = self._extent(problem, settings)
        with panel.frame():
            if problem.dim == 2 and extent is not None:
                if panel.xlim != extent[:2] or panel.ylim != extent[2:]:
                    panel.set_limits(x=extent[:2], y=extent[2:])
                    panel.image("landscape", landscape_png(problem, extent), extent,
                                on_click=self._guard(lambda x, y: self.set_start((x, y), browser=True)))
                    panel.click_catcher(extent, self._guard(lambda x, y: self.set_start((x, y), browser=True)))
            elif problem.dim == 1 and panel.xlim != (float(extent[0]), float(extent[1])):
                # (the curve depends only on the extent: a new problem gets new panels, see _on_problem)
                from eostutor.plots import loss_grid

                x, f = loss_grid(problem, extent, 200)
                panel.line("surface", x, f, color="#555555", width=2.0)
                panel.set_limits(x=extent)
            for r, key, color, main in runs:
                p = np.asarray(r.params, dtype=float)
                ok = np.all(np.isfinite(p), axis=1)
                if problem.dim == 1:
                    ok &= np.isfinite(np.r_[r.loss, np.nan][:len(p)])
                # Only finite iterates (a diverged run stops being recorded at its blow-up): a marker at a NaN
                # point is an error in the page.
                p = p[ok]
                xs, ys = (p[:, 0], p[:, 1]) if problem.dim == 2 else (p[:, 0], np.r_[r.loss, np.nan][:len(ok)][ok])
                mark = panel.line(key, xs, ys, color=color, width=1.6 if main else 1.2, opacity=0.95 if main else 0.8)
                marker = "circle" if len(p) <= 200 else None
                if mark.marker != marker:
                    mark.marker = marker
                    mark.marker_size = 14
                if len(xs):
                    panel.points(f"{key}:end", [xs[-1]], [ys[-1]], color=color, size=60,
                                 marker="cross" if r.diverged else "circle", stroke="black")
                    if main:
                        panel.points("start", [xs[0]], [ys[0]], color="white", size=70, stroke="black")
            if problem.dim == 1:
                panel.fit_y([ys, panel.marks["surface"].y])
            self._cursor_landscape(k)

    def _show_runs_legend(self, run: Run) -> None:
        entries = [(f"pin {i + 1}: {pin.label}", pin.color, "-") for i, pin in enumerate(self.pins)]
        entries.append((f"current: {run.label}", RUN_COLORS[0], "-"))
        value = legend_html(entries)
        if self.runs_legend.value != value:
            self.runs_legend.value = value

    # -- the cursor -----------------------------------------------------------------------------------
    def _cursor_step(self, run: Run | None) -> int | None:
        k = int(self.controls["k"].value)
        if run is None or k <= 0:
            return None
        return min(k, len(run.loss) - 1)

    def _on_cursor(self, browser: bool = False) -> None:
        """Move the cursor to step k in every panel and say what is there."""
        run = self.run
        k = self._cursor_step(run)
        with self.drawing("cursor"):
            for name, panel in self.panels.items():
                if name != "landscape":
                    panel.cursor(k, color=CURSOR_COLOR)
            if self._kind == "toy":
                self._cursor_landscape(k)
        self._show_readout(run, k)

    def _show_readout(self, run: Run, k: int | None) -> None:
        """Say what is at step k (the line under the panels)."""
        if k is None:
            self.readout.value = ('<span style="color:#555; font-size:12.5px">move <b>step k</b> (or press play) '
                                  "to follow one iterate through every panel</span>")
            return
        parts = [f"k = {k}", f"f = {run.loss[k]:.4g}", f"η_k = {run.eta[k]:.4g}"]
        lam = run.sharpness[k] if k < len(run.sharpness) else math.nan
        if math.isfinite(lam):
            parts += [f"λ_max = {lam:.4g}", f"η_k·λ_max = {run.eta[k] * lam:.3g}"]
        self.readout.value = (f'<span style="font-size:12.5px; color:{CURSOR_COLOR}">■</span> '
                              f'<span style="font-size:12.5px">{html.escape(", ".join(parts))}</span>')

    def _cursor_landscape(self, k: int | None) -> None:
        panel = self.panels.get("landscape")
        run = self.run
        if panel is None or run is None or k is None or "params" not in run.arrays:
            if panel is not None:
                panel.hide("cursor")
            return
        p = run.params[min(k, len(run.params) - 1)]
        y = p[1] if p.shape[0] > 1 else run.loss[k]
        if np.all(np.isfinite(p)):
            panel.points("cursor", [p[0]], [y], color=CURSOR_COLOR, size=110, stroke="black")
        else:
            panel.hide("cursor")

    # -- pins and the start -------------------------------------------------------------------------
    def pin(self) -> None:
        """Keep the current run on the axes (at most 4: the oldest pin goes)."""
        if self.run is None:
            return
        if len(self.pins) == MAX_PINS:
            self.pins.pop(0)
        used = {p.color for p in self.pins}
        color = next(c for c in RUN_COLORS[1:] if c not in used)
        self.pins.append(Pin(self.run, self.settings, color, self.run.label))
        self._draw(self.run, self.settings)
        self._say(f"pinned {self.run.label}: change η and compare (up to {MAX_PINS} pins)", "ok")

    def clear_pins(self) -> None:
        """Remove every pinned run."""
        self.pins = []
        if self.run is not None:
            self._draw(self.run, self.settings)

    def set_start(self, w0, *, browser: bool = False) -> None:
        """Start from ``w0`` (what a click on the landscape does); ``None`` returns to the preset's start."""
        problem = self.model.problem(self.controls["problem"].value)
        self._w0 = None if w0 is None else tuple(float(v) for v in problem.check_params(w0, "w0").cpu().numpy())
        self.controls["reset_w0"].disabled = self._w0 is None
        self.update(browser=browser)

    # -- η: slider, typed value, threshold --------------------------------------------------------
    def _show_eta(self) -> None:
        """The typed readout and the threshold marks under the slider."""
        c = self.controls
        self._show_value("eta_text", "eta")
        settings = self.settings
        c["eta"].description = stepsizes.eta_symbol(settings.rule) or "η"
        preset = self.model.presets[settings.problem]
        try:
            threshold = self.model.threshold(settings)
        except (ValueError, RuntimeError):
            threshold = math.nan
        momentum = settings.momentum > 0
        name = "edge at w₀ (momentum)" if momentum else "2/λ_max(w₀)"
        marks = [(threshold, f"{name} = {threshold:.3g}", "#000000")]
        marks += [(eta, label, "#666666") for eta, label in preset.marks]
        self.strip.value = _strip_svg(marks, c["eta"])

    # -- callbacks ------------------------------------------------------------------------------------
    def _on_problem(self, reset: bool = True, browser: bool = False) -> None:
        name = self.controls["problem"].value
        preset = self.model.presets[name]
        problem = self.model.problem(name)
        kind = "network" if problem.dim > TINY_DIM else "toy"
        self.help.value = f'<span style="color:#555">{html.escape(preset.description)}</span>'
        with self._hold():
            options = self._rule_options(name)
            if tuple(self.controls["rule"].options) != options:
                current = self.controls["rule"].value
                self.controls["rule"].options = list(options)
                self.controls["rule"].value = current if current in options else options[0]
            self.controls["eta"].set_range(*self._eta_ranges.get(name, preset.eta_range))
            if reset:  # a new problem: its own default η and steps, its own start, no pins
                self.controls["eta"].value = preset.eta
                self.controls["num_steps"].value = preset.num_steps
                self._w0 = None
                self.controls["reset_w0"].disabled = True
                self.pins = []
        self.jobs.cancel()  # a running run of the old problem must not draw into the new panels
        with self._draw_lock:
            if kind != self._kind or "landscape" in self.panels:
                self._build_panels(kind)  # toys: a new landscape too
            self._panels_problem = name
        self.update(browser=browser)

    def update(self, browser: bool = False) -> None:
        """Re-run with the current control values (called by every control).

        Changes from Python run now (the next line of a cell sees the result); changes dragged or typed in
        the page run in the background thread, newest first, so the kernel is free for the next one.
        """
        if self._holding:
            return
        settings = self.settings
        self._clear_output()
        cls = stepsizes.RULES[settings.rule]
        self.controls["eta"].disabled = cls.eta_param is None
        self.controls["eta_text"].disabled = cls.eta_param is None
        self.controls["momentum"].disabled = not cls.supports_momentum
        self.controls["nesterov"].disabled = not cls.supports_momentum or settings.momentum == 0
        self._show_eta()
        if settings.momentum > 0 and not cls.supports_momentum:
            # rejected before any work: train would refuse it too, with the same message
            raise ValueError(f"momentum β = {settings.momentum:g} is only available with the constant and warm-up "
                             f"rules, not {settings.rule!r}; set β = 0 or choose 'constant'")
        tiny = self.model.is_tiny(settings.problem)
        # Long runs go to the background thread with a progress bar, so the kernel never blocks for long.
        heavy = not tiny or settings.num_steps > self.sync_max_steps
        background = (heavy or browser) if self.background is None else self.background
        self.submit(lambda job: self._job(job, settings, tiny), background=background,
                    message=f"training {settings.num_steps} steps …" if heavy else None, show_progress=heavy)

    def _job(self, job: Job, settings: ExplorerSettings, tiny: bool) -> None:
        start = time.perf_counter()
        streaming = not tiny

        def on_partial(partial: Run) -> None:
            job.progress(partial.num_steps / settings.num_steps,
                         f"training: step {partial.num_steps} / {settings.num_steps}")
            if streaming and not job.stale():  # toy runs get their curvature at the end
                self._draw(partial, settings, force=partial.num_steps <= 10)  # the first frame at once

        # A toy run takes milliseconds: it finishes and is drawn even if a newer value arrived meanwhile
        # (so a drag shows every value the kernel gets to); a network run stops at its next step.
        run = self.model.train(settings, callback=on_partial if job.show_progress else None,
                               callback_every=10 if streaming else 200,
                               should_stop=job.stale if streaming else None)
        self.timings["model"] = time.perf_counter() - start
        if streaming and job.superseded(run):
            return
        self.run = run
        # (No _hold here: this may be the background thread, and the hold is the kernel thread's. Neither the
        # step slider nor play runs update: their observer is _on_cursor.)
        self.controls["k"].max = self.controls["play"].max = max(1, len(run.loss) - 1)
        self.controls["play"].step = max(1, (len(run.loss) - 1) // 200)
        self._draw(run, settings)
        self.last_update_seconds = time.perf_counter() - start
        if job.stale():
            return
        self._show_readout(run, self._cursor_step(run))  # (_draw has moved the cursor marks already)
        self._finish_message(run, settings)

    def _finish_message(self, run: Run, settings: ExplorerSettings) -> None:
        if run.diverged:
            self._say(divergence_message(run, self.model.problem(settings.problem)) +
                      f" (plotted up to step {run.diverged_at})", "warn")
            return
        s = run.summary()
        edge = s["frac_eta_sharpness_gt_2"]
        extra = f", η·λ_max > 2 at {100 * edge:.0f}% of measured steps" if math.isfinite(edge) else ""
        start = "" if settings.w0 is None else f" from w₀ = ({', '.join(f'{v:.3g}' for v in settings.w0)})"
        self._say(f"{run.num_steps} steps{start} in {1000 * self.last_update_seconds:.0f} ms: final loss "
                  f"{s['final_loss']:.3g}, {s['loss_increases']} loss increases{extra}", "ok")


def _strip_svg(marks, slider) -> str:
    """Marks under a log slider at the positions of their η: ``marks`` are (η, label, colour)."""
    lo, hi = slider.min, slider.max
    width = SLIDER_WIDTH
    parts, out_of_range = [], []
    placed = []
    for eta, label, color in marks:
        if not (isinstance(eta, float | int) and math.isfinite(eta) and eta > 0):
            continue
        f = (math.log10(eta) - lo) / (hi - lo)
        if not 0 <= f <= 1:
            out_of_range.append(label)
            continue
        x = TRACK_START + f * TRACK_LENGTH
        row = sum(1 for p in placed if abs(p - x) < 150)  # labels that would overlap go one line down
        placed.append(x)
        anchor = "end" if f > 0.6 else "start"
        dx = -4 if anchor == "end" else 4
        y = 12 + 13 * row
        parts.append(f'<polygon points="{x - 5:.1f},8 {x + 5:.1f},8 {x:.1f},0" fill="{color}"/>'
                     f'<text x="{x + dx:.1f}" y="{y + 6}" font-size="11.5" fill="{color}" '
                     f'text-anchor="{anchor}">{html.escape(label)}</text>')
    height = 22 + 13 * max(0, len(placed) - 1)
    note = ""
    if out_of_range:
        note = (f'<div style="font-size:11.5px; color:#555">outside the slider: '
                f"{html.escape('; '.join(out_of_range))}</div>")
    return f'<svg width="{width}" height="{height}">{"".join(parts)}</svg>{note}'
