"""OptimizerExplorer: GD, SGD, Adam or RMSProp on one network; watch each sit at its own edge."""

from __future__ import annotations

import time

import numpy as np

from eostutor._validate import check_choice, check_int, check_positive
from eostutor.problems import Problem
from eostutor.record import Run
from eostutor.widgets.base import PAGE_WIDTH, PANEL_HEIGHT, PANEL_WIDTH, Job, LiveWidget, log_slider, typed_box, widened
from eostutor.widgets.optimizer_model import OPTIMIZERS, OptimizerModel, OptimizerSettings
from eostutor.widgets.panels import OKABE_ITO, REF_COLOR, RUN_COLORS, Panel, _widgets, legend_html

__all__ = ["OptimizerExplorer", "BATCH_SIZES"]

#: The batch-size menu: (text, value); 0 is full-batch gradient descent (a menu value of ``None`` would show
#: as an empty menu in the page).
BATCH_SIZES = (("full batch", 0), ("8", 8), ("16", 16), ("32", 32), ("64", 64), ("128", 128), ("256", 256))
BATCH_COLOR = OKABE_ITO["vermillion"]


class OptimizerExplorer(LiveWidget):
    """Choose an optimizer (GD, Adam, RMSProp), η, a batch size and Adam's β₁; watch the loss, the curvature
    that optimizer is stable against next to its threshold, and their ratio.

    Three panels: the full-batch training loss (and, for mini-batches, the loss of each step's batch,
    faint); the curvature with its threshold, λ_max and 2/η for GD and SGD, λ_max(P⁻¹H) and
    (2+2β₁)/((1−β₁)η) for Adam (38/η at β₁ = 0.9), λ_max(P⁻¹H) and 2/η for RMSProp; and the ratio of the two,
    at 1 on the edge, with the batch sharpness E_B[g_Bᵀ H_B g_B / ‖g_B‖²] / (2/η) of a mini-batch run next to
    it. The run streams; changing a control stops it and starts a new one (latest wins).

    Args:
        optimizer: ``"gd"``, ``"adam"`` or ``"rmsprop"``.
        eta: Initial η (default: the optimizer's, 3 for GD, 5e-3 for Adam, 1e-3 for RMSProp).
        batch_size: ``None`` (full batch) or one of 8, 16, 32, 64, 128, 256 (the menu's "full batch" is 0).
        beta1: Adam's β₁ in [0, 0.99].
        num_steps: Steps per run.
        seed: Initialisation and mini-batch seed.
        problem: A network (default: the reference network, 1,000 digits, float32).
        background: Train in a background thread (default True).

    Example (no browser needed)::

        >>> ex = OptimizerExplorer("gd", eta=2.0, num_steps=20, background=False)
        >>> ex.controls["batch_size"].value = 32     # re-runs as SGD with batch 32
        >>> ex.run.settings.batch_size
        32
    """

    PANELS = ("loss", "curvature", "ratio")

    def __init__(self, optimizer: str = "adam", *, eta: float | None = None, batch_size: int | None = None,
                 beta1: float = 0.9, num_steps: int = 600, seed: int = 0, problem: Problem | None = None,
                 background: bool = True):
        super().__init__()
        w = _widgets()
        optimizer = check_choice("optimizer", optimizer, OPTIMIZERS)
        self.model = OptimizerModel(problem)
        self.problem = self.model.problem
        self.background = background
        eta = OPTIMIZERS[optimizer][1] if eta is None else check_positive("eta", eta)
        sizes = [(text, b) for text, b in BATCH_SIZES if b <= (self.problem.num_train or 0)]
        allowed = [None] + [b for _, b in sizes if b]
        if batch_size not in allowed or isinstance(batch_size, bool):
            raise ValueError(f"batch_size must be one of {allowed} (None: full batch), got {batch_size!r}")
        lo, hi = OPTIMIZERS[optimizer][2]
        lo, hi = widened(lo, hi, eta)  # a given η outside the optimizer's range widens it
        self.controls = {
            "optimizer": w.Dropdown(options=[(label, key) for key, (label, _, _) in OPTIMIZERS.items()],
                                    value=optimizer, description="optimizer", layout=w.Layout(width="220px")),
            "eta": log_slider(eta, lo, hi, width="330px"),
            "eta_text": typed_box(eta),
            "batch_size": w.Dropdown(options=sizes, value=batch_size or 0, description="batch",
                                     layout=w.Layout(width="190px")),
            "beta1": w.FloatSlider(value=float(beta1), min=0.0, max=0.99, step=0.01, description="β₁",
                                   continuous_update=False, readout_format=".2f",
                                   style={"description_width": "30px"}, layout=w.Layout(width="260px")),
            "num_steps": w.IntSlider(value=check_int("num_steps", num_steps, minimum=10, maximum=5000), min=10,
                                     max=5000, step=10, description="steps", continuous_update=False),
            "seed": w.BoundedIntText(value=check_int("seed", seed, minimum=0), min=0, max=10_000,
                                     description="seed", layout=w.Layout(width="170px")),
        }
        size = {"width": PANEL_WIDTH, "height": PANEL_HEIGHT}
        self.panels = {"loss": Panel("Training loss", "step k", "", ylog=True, **size),
                       "curvature": Panel("Curvature and its threshold", "step k", "", **size),
                       "ratio": Panel("Curvature / threshold: 1 = the edge", "step k", "", **size)}
        self.legends = {name: w.HTML(layout=w.Layout(width=f"{PANEL_WIDTH}px", min_height="22px"))
                        for name in self.PANELS}
        c = self.controls
        grid = w.GridBox([w.VBox([self.panels[n].figure, self.legends[n]]) for n in self.PANELS],
                         layout=w.Layout(grid_template_columns=f"repeat(3, {PANEL_WIDTH}px)", grid_gap="2px 4px"))
        self.widget = w.VBox([w.HBox([c["optimizer"], c["eta"].position, c["eta_text"]]),
                              w.HBox([c["batch_size"], c["beta1"]]),
                              w.HBox([c["num_steps"], c["seed"]]),
                              w.HBox([self.progress, self.status]), grid, self.output],
                             layout=w.Layout(max_width=f"{PAGE_WIDTH}px"))
        for name in ("batch_size", "beta1", "num_steps", "seed", "eta"):
            self._observe(name, self.update)
        self._observe("eta_text", lambda browser=False: self._typed("eta_text", "eta"))
        self._observe("optimizer", self._on_optimizer)
        self._guard(self.update)()

    def __repr__(self) -> str:
        return f"OptimizerExplorer({self.settings!r} on {self.problem!r})"

    @property
    def settings(self) -> OptimizerSettings:
        """The settings the controls show."""
        c = self.controls
        return OptimizerSettings(c["optimizer"].value, self.value("eta"), c["batch_size"].value or None,
                                 float(c["beta1"].value), int(c["num_steps"].value), int(c["seed"].value))

    def _on_optimizer(self, browser: bool = False) -> None:
        """A new optimizer: its η range and default η (one run, not one per control moved)."""
        name = self.controls["optimizer"].value
        _, default, (lo, hi) = OPTIMIZERS[name]
        slider = self.controls["eta"]
        with self._hold():
            slider.set_range(lo, hi)
            slider.value = default
        self.update(browser=browser)

    def update(self, browser: bool = False) -> None:
        """Re-run with the current controls (cancels a running run)."""
        if self._holding:
            return
        self._clear_output()
        settings = self.settings
        self.controls["beta1"].disabled = settings.optimizer != "adam"
        self._show_value("eta_text", "eta")
        self.model.rule(settings)  # bad settings: rejected before any work
        self.submit(lambda job: self._job(job, settings), background=self.background,
                    message=f"training {settings.num_steps} steps …")

    def _job(self, job: Job, settings: OptimizerSettings) -> None:
        start = time.perf_counter()

        def on_partial(partial: Run) -> None:
            job.progress(partial.num_steps / settings.num_steps,
                         f"training: step {partial.num_steps} / {settings.num_steps}")
            if not job.stale():
                self._draw(partial, settings, force=False)

        run = self.model.train(settings, callback=on_partial, callback_every=10, should_stop=job.stale)
        self.timings["model"] = time.perf_counter() - start
        if job.superseded(run):
            return
        self.run = run
        self._draw(run, settings, force=True)
        self.last_update_seconds = time.perf_counter() - start
        if run.diverged:
            self._say(f"{run.label}: diverged at step {run.diverged_at} (plotted up to there)", "warn")
            return
        self._say(f"{run.label}: final loss {run.summary()['final_loss']:.3g}; {self.model.verdict(run)}", "ok")

    def _draw(self, run: Run, settings: OptimizerSettings, force: bool) -> None:
        if self.throttled(force):
            return
        n = float(settings.num_steps)
        level = self.model.threshold(settings)
        precon = run.settings.threshold_applies_to == "preconditioned_sharpness"
        name = "λ_max(P⁻¹H)" if precon else "λ_max"
        factor = level * settings.eta
        symbol = "2/η" if abs(factor - 2) < 1e-9 else f"(2+2β₁)/((1−β₁)η) = {factor:.3g}/η"
        curvature = run.preconditioned_sharpness if precon else run.sharpness
        m = np.isfinite(curvature)
        with self.drawing():
            loss, legend_loss = self.panels["loss"], []
            with loss.frame():
                if settings.batch_size is not None:
                    loss.line("batch", run.step, run.batch_loss, color=REF_COLOR, width=1.0, opacity=0.35)
                    legend_loss.append((f"loss of the step's batch of {settings.batch_size}", REF_COLOR, "-"))
                loss.line("run", run.step, run.loss, color=RUN_COLORS[0], width=1.8)
                legend_loss.insert(0, ("full-batch loss f(w_k)", RUN_COLORS[0], "-"))
                if loss.xlim != (0.0, n):
                    loss.set_limits(x=(0.0, n))
                loss.fit_y([run.loss])
            panel = self.panels["curvature"]
            with panel.frame():
                panel.line("run", run.step[m], curvature[m], color=RUN_COLORS[0], width=1.8)
                panel.hline("threshold", level, (0, n), color="black", style="--", width=1.4)
                if panel.xlim != (0.0, n):
                    panel.set_limits(x=(0.0, n))
                panel.fit_y([curvature[m], [0.0, 1.1 * level]])
            ratio = self.panels["ratio"]
            legend_ratio = [(f"{name} / threshold", RUN_COLORS[0], "-")]
            with ratio.frame():
                r = curvature[m] / level
                ratio.line("run", run.step[m], np.minimum(r, 3.0), color=RUN_COLORS[0], width=1.8)
                values = [np.minimum(r, 3.0), [0.0, 1.2]]
                mb = np.isfinite(run.batch_sharpness)
                if mb.any() and not precon:  # the batch sharpness is unpreconditioned: GD's edge only
                    rb = run.batch_sharpness[mb] / level
                    ratio.line("batch", run.step[mb], np.minimum(rb, 3.0), color=BATCH_COLOR, width=1.8, style="--")
                    values.append(np.minimum(rb, 3.0))
                    legend_ratio.append(("batch sharpness / threshold", BATCH_COLOR, "--"))
                ratio.hline("one", 1.0, (0, n), color="black", style="--", width=1.4)
                if ratio.xlim != (0.0, n):
                    ratio.set_limits(x=(0.0, n))
                ratio.fit_y(values)
            panel.set_title(f"{name} and {symbol.split(' = ')[-1]}")
            legends = {"loss": legend_loss,
                       "curvature": [(name, RUN_COLORS[0], "-"), (f"{symbol} = {level:.4g}", "black", "--")],
                       "ratio": legend_ratio + [("1: at the edge", "black", "--")]}
            for key, entries in legends.items():
                value = legend_html(entries)
                if self.legends[key].value != value:
                    self.legends[key].value = value
