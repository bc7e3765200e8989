"""StepSizeExplorer: choose a problem, a rule and η; watch the loss, the sharpness, η·λ_max and the iterates."""

from __future__ import annotations

import html
import math
import time
from contextlib import contextmanager

from eostutor import plots, stepsizes
from eostutor._validate import check_choice, check_positive
from eostutor.problems import TINY_DIM, Problem
from eostutor.record import Run
from eostutor.widgets.base import PANEL_TITLES, Job, LiveWidget, log_slider
from eostutor.widgets.live import _widgets, sticky_limits
from eostutor.widgets.model import ExplorerModel, ExplorerSettings, divergence_message

__all__ = ["StepSizeExplorer"]


class StepSizeExplorer(LiveWidget):
    """Choose a problem, a step-size rule and η; watch loss, sharpness, η·λ_max and the iterates.

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
        background: Run in a background thread: ``None`` = networks and toy runs over ``sync_max_steps``
            steps (default), True/False = always/never.
        interactive: Force the ipympl canvas (True) or the PNG fallback (False); default from the backend.
        presets: Name -> Preset (default :data:`eostutor.widgets.PRESETS`).

    Example (no browser needed; setting a control re-runs)::

        >>> ex = StepSizeExplorer("quadratic", interactive=False)
        >>> ex.controls["eta"].value = 0.25          # > 2/λ_max = 0.2
        >>> ex.run.diverged
        True
    """

    #: Toy runs longer than this go to the background thread with a progress bar.
    sync_max_steps = 2000

    def __init__(self, problem: str | Problem | None = None, rules=None, *, rule: str = "constant",
                 eta: float | None = None, num_steps: int | None = None, seed: int = 0, momentum: float = 0.0,
                 nesterov: bool = False, background: bool | None = None, interactive: bool | None = None,
                 presets=None):
        super().__init__(figsize=(11, 6.2), interactive=interactive)
        w = _widgets()
        self.model = ExplorerModel(presets)
        if isinstance(problem, Problem):
            problem = self.model.add_problem(problem)
        problem = "quadratic" if problem is None else check_choice("problem", problem, self.model.presets)
        self._menu = None if rules is None else tuple(check_choice("rule", r, stepsizes.RULES) for r in rules)
        options = self._rule_options(problem)
        check_choice("rule", rule, options)
        self.background = background
        preset = self.model.presets[problem]
        style = {"description_width": "70px"}
        self.controls = {
            "problem": w.Dropdown(options=list(self.model.presets), value=problem, description="problem", style=style),
            "rule": w.Dropdown(options=list(options), value=rule, description="rule", style=style),
            "eta": log_slider(preset.eta if eta is None else check_positive("eta", eta), 1e-3, 1e2),
            "num_steps": w.IntSlider(value=preset.num_steps if num_steps is None else num_steps, min=10,
                                     max=5000, step=10, description="steps", continuous_update=False, style=style),
            "seed": w.BoundedIntText(value=seed, min=0, max=10_000, description="seed", style=style,
                                     layout=w.Layout(width="170px")),
            "momentum": w.FloatSlider(value=momentum, min=0.0, max=0.95, step=0.05, description="momentum β",
                                      continuous_update=False, style={"description_width": "90px"}),
            "nesterov": w.ToggleButtons(options=[("heavy ball", False), ("Nesterov", True)], value=bool(nesterov),
                                        style={"button_width": "90px"}),
        }
        self.help = w.HTML()
        left = w.VBox([self.controls["problem"], self.controls["rule"], self.controls["eta"]])
        right = w.VBox([self.controls["num_steps"], self.controls["momentum"], self.controls["nesterov"],
                        self.controls["seed"]])
        self.widget = w.VBox([w.HBox([left, right]), self.help, w.HBox([self.progress, self.status]),
                              self.live.view, self.output])
        self._kind = None
        self._holding = False
        self._drawn_problem = None
        self.axes: dict[str, object] = {}
        self._observe("problem", self._on_problem)
        for name in ("rule", "eta", "num_steps", "seed", "momentum", "nesterov"):
            self._observe(name, self.update)
        self._guard(self._on_problem)(reset=False)

    def __repr__(self) -> str:
        s = self.settings
        return f"StepSizeExplorer(problem={s.problem!r}, rule={s.rule!r}, eta={s.eta:.3g}, num_steps={s.num_steps})"

    def _rule_options(self, problem: str) -> tuple[str, ...]:
        usable = self.model.rule_names(problem)
        return usable if self._menu is None else tuple(r for r in self._menu if r in usable) or self._menu

    @property
    def settings(self) -> ExplorerSettings:
        """The current control values as model settings."""
        c = self.controls
        return ExplorerSettings(c["problem"].value, c["rule"].value, float(c["eta"].value), int(c["num_steps"].value),
                                int(c["seed"].value), float(c["momentum"].value), bool(c["nesterov"].value))

    # -- figure ---------------------------------------------------------------------------------------
    def _build_axes(self, kind: str) -> None:
        fig = self.figure
        fig.clear()
        gs = fig.add_gridspec(2, 3)
        ax = {"loss": fig.add_subplot(gs[0, 0])}
        ax["sharpness"] = fig.add_subplot(gs[0, 1], sharex=ax["loss"])
        ax["eta_sharpness"] = fig.add_subplot(gs[1, 0], sharex=ax["loss"])
        ax["step_size"] = fig.add_subplot(gs[1, 1], sharex=ax["loss"])
        if kind == "network":
            ax["test_accuracy"] = fig.add_subplot(gs[0, 2], sharex=ax["loss"])
            ax["layer_grad_norms"] = fig.add_subplot(gs[1, 2], sharex=ax["loss"])
        else:  # 1-D and 2-D toys
            ax["trajectory"] = fig.add_subplot(gs[:, 2])
        self.axes = ax
        self._kind = kind
        self.live.relayout()

    def _draw(self, run: Run, settings: ExplorerSettings, force: bool = True) -> None:
        """Update every panel's artists from ``run`` and redraw (throttled while streaming)."""
        if self.throttled(force):
            return
        problem = self.model.problem(settings.problem)
        if (problem.dim > TINY_DIM) != (self._kind == "network"):
            return  # a stale run of the previous problem: the panels were rebuilt meanwhile

        def draw():
            for name, ax in self.axes.items():
                if name == "trajectory":
                    plots.trajectory(problem, run, ax=ax, extent=self._extent(problem, run, settings),
                                     markers=run.num_steps <= 400, title="Iterates on the loss landscape")
                    continue
                # keep the limits only between runs of the same problem
                previous = ax.get_ylim() if ax.lines and self._drawn_problem == settings.problem else None
                # Legends without the run's name (it contains η, which changes at every slider move and
                # would force a full render); the status line and the slider say which run it is.
                plots.DASHBOARD_PANELS[name](run, ax=ax, title=PANEL_TITLES.get(name), legend="references")
                if name != "test_accuracy":
                    sticky_limits(ax, previous)
                ax.set_xlim(0, max(1, int(settings.num_steps)))
            self._drawn_problem = settings.problem

        self._draw_now(draw)

    def _extent(self, problem: Problem, run: Run, settings: ExplorerSettings):
        preset = self.model.presets[settings.problem]
        if problem.dim == 1:
            r = max(1.0, 1.3 * abs(float(run.params[0, 0])))
            return (-r, r)
        if preset.extent is None:
            return None
        extent = list(preset.extent)
        w0 = run.params[0]
        # The landscape box is fixed per preset (contours are computed once); grow it if w0 falls outside.
        for d in range(2):
            lo, hi = extent[2 * d], extent[2 * d + 1]
            if not lo <= w0[d] <= hi:
                span = hi - lo
                extent[2 * d] = min(lo, w0[d] - 0.1 * span)
                extent[2 * d + 1] = max(hi, w0[d] + 0.1 * span)
        return tuple(extent)

    # -- callbacks ------------------------------------------------------------------------------------
    def _on_problem(self, reset: bool = True) -> None:
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
            if reset:  # a new problem: its own default η and steps (without triggering extra runs)
                self.controls["eta"].value = preset.eta
                self.controls["num_steps"].value = preset.num_steps
        if kind != self._kind:
            self.jobs.cancel()  # a running run of the old problem must not draw into the new panels
            with self._draw_lock:
                self._build_axes(kind)
        self.update()

    @contextmanager
    def _hold(self):
        """Change several controls without a run per change."""
        self._holding = True
        try:
            yield
        finally:
            self._holding = False

    def update(self) -> None:
        """Re-run with the current control values (called by every control)."""
        if self._holding:
            return
        settings = self.settings
        self._clear_output()
        cls = stepsizes.RULES[settings.rule]
        symbol = stepsizes.eta_symbol(settings.rule)
        self.controls["eta"].description = symbol or "η (unused)"
        self.controls["eta"].disabled = not symbol
        self.controls["momentum"].disabled = not cls.supports_momentum
        self.controls["nesterov"].disabled = not cls.supports_momentum or settings.momentum == 0
        if settings.momentum > 0 and not cls.supports_momentum:
            # rejected before any work: train would refuse it too, with the same message
            raise ValueError(f"momentum β = {settings.momentum:g} is only available with the constant and warm-up "
                             f"rules, not {settings.rule!r}; set β = 0 or choose 'constant'")
        tiny = self.model.is_tiny(settings.problem)
        # Long runs go to the background thread with a progress bar, so the kernel never blocks for long.
        heavy = not tiny or settings.num_steps > self.sync_max_steps
        background = heavy if self.background is None else self.background
        self.submit(lambda job: self._job(job, settings, streaming=not tiny), background=background,
                    message=f"training {settings.num_steps} steps …" if heavy else None, show_progress=heavy)

    def _job(self, job: Job, settings: ExplorerSettings, streaming: bool) -> None:
        start = time.perf_counter()

        def on_partial(partial: Run) -> None:
            job.progress(partial.num_steps / settings.num_steps,
                         f"training: step {partial.num_steps} / {settings.num_steps}")
            if streaming and not job.stale():  # toy runs get their curvature at the end
                self._draw(partial, settings, force=False)

        run = self.model.train(settings, callback=on_partial if job.show_progress else None,
                               callback_every=10 if streaming else 200, should_stop=job.stale)
        self.timings["model"] = time.perf_counter() - start
        if job.superseded(run):
            return
        self.run = run
        self._draw(run, settings)
        self.last_update_seconds = time.perf_counter() - start
        self._finish_message(run, settings)

    def _finish_message(self, run: Run, settings: ExplorerSettings) -> None:
        if run.diverged:
            self._say(divergence_message(run, self.model.problem(settings.problem)) +
                      f" (plotted up to step {run.diverged_at})", "warn")
            return
        s = run.summary()
        edge = s["frac_eta_sharpness_gt_2"]
        extra = f", η·λ_max > 2 at {100 * edge:.0f}% of measured steps" if math.isfinite(edge) else ""
        self._say(f"{run.num_steps} steps in {1000 * self.last_update_seconds:.0f} ms: final loss "
                  f"{s['final_loss']:.3g}, {s['loss_increases']} loss increases{extra}", "ok")
