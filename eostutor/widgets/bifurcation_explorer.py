"""BifurcationExplorer: the long-run behaviour of GD against η on a 2-D toy, and the run at one η."""

from __future__ import annotations

import time

from eostutor import plots
from eostutor._validate import check_choice
from eostutor.problems import Problem
from eostutor.widgets.base import Job, LiveWidget, log_slider
from eostutor.widgets.live import _widgets
from eostutor.widgets.model import PRESETS, BifurcationModel, divergence_message

__all__ = ["BifurcationExplorer"]

QUANTITIES = ("sharpness", "loss", "w1", "w2")


class BifurcationExplorer(LiveWidget):
    """Sweep η on a 2-D toy; slide (or click) an η to see that run's iterates and loss.

    The sweep (:meth:`~eostutor.widgets.model.BifurcationModel.sweep`) is computed once, in the background,
    with a progress bar; the selected η's run is trained on demand (milliseconds).

    Args:
        problem: A 2-D preset name or Problem (default: the minimalist example).
        etas: Step sizes of the sweep (default 80 values over [0.05, 0.7]).
        num_steps: Steps per run.
        keep_last: Final iterates kept per η.
        w0: Common starting point (default (2.0, 0.45): on the sharp part of the minimalist valley).
        eta: Initially selected η.
        quantity: What the diagram shows: "sharpness", "loss", "w1" or "w2".
        background: Compute the sweep in a background thread (default True).
        interactive: See :class:`~eostutor.widgets.StepSizeExplorer`.
    """

    def __init__(self, problem: str | Problem = "minimalist", etas=None, *, num_steps: int = 300,
                 keep_last: int = 50, w0=(2.0, 0.45), eta: float = 0.3, quantity: str = "sharpness",
                 background: bool = True, interactive: bool | None = None):
        super().__init__(figsize=(11, 4.8), interactive=interactive)
        w = _widgets()
        if isinstance(problem, Problem):
            self.problem, self.extent = problem, None
        else:
            preset = PRESETS[check_choice("problem", problem, PRESETS)]
            self.problem, self.extent = preset.make(), preset.extent
        self.model = BifurcationModel(self.problem, etas, num_steps=num_steps, keep_last=keep_last, w0=w0)
        self.etas = self.model.etas
        self.sweep = None
        self.controls = {
            "eta": log_slider(eta, float(self.etas.min()), float(self.etas.max())),
            "quantity": w.ToggleButtons(options=list(QUANTITIES), value=check_choice("quantity", quantity, QUANTITIES),
                                        description="show", style={"button_width": "80px"}),
        }
        fig = self.figure
        gs = fig.add_gridspec(2, 2, width_ratios=[1.5, 1.0])
        self.axes = {"bifurcation": fig.add_subplot(gs[:, 0]), "trajectory": fig.add_subplot(gs[0, 1]),
                     "loss": fig.add_subplot(gs[1, 1])}
        self.widget = w.VBox([w.HBox([self.controls["eta"], self.controls["quantity"]]),
                              w.HBox([self.progress, self.status]), self.live.view, self.output])
        self._observe("eta", self.select)
        self._observe("quantity", self._redraw_diagram)
        if self.live.interactive:
            fig.canvas.mpl_connect("button_press_event", self._guard(self._on_click))
        self.select()  # synchronous (milliseconds): it never cancels the sweep running in the background
        self.submit(self._sweep_job, background=background, message=f"sweeping {len(self.etas)} step sizes …")

    def __repr__(self) -> str:
        return f"BifurcationExplorer({self.problem!r}, {len(self.etas)} step sizes)"

    def _sweep_job(self, job: Job) -> None:
        sweep = self.model.sweep(callback=lambda i, n: job.progress(i / n))
        self.sweep = sweep
        self._redraw_diagram()
        self._say(f"swept {len(self.etas)} step sizes in {sweep.wall_time:.1f} s; "
                  f"{int(sweep.diverged.sum())} diverged", "ok")

    def _on_click(self, event) -> None:
        if event.inaxes is self.axes["bifurcation"] and event.xdata is not None:
            self.controls["eta"].value = float(event.xdata)

    def _redraw_diagram(self) -> None:
        with self._draw_lock:
            if self.sweep is not None:
                plots.bifurcation(self.sweep, ax=self.axes["bifurcation"], quantity=self.controls["quantity"].value,
                                  eta=float(self.controls["eta"].value))
            self.live.draw()

    def select(self) -> None:
        """Train the selected η from the common start and draw its iterates and loss."""
        self._clear_output()
        eta = float(self.controls["eta"].value)
        start = time.perf_counter()
        self.run = self.model.run_at(eta)

        def draw():
            plots.trajectory(self.problem, self.run, ax=self.axes["trajectory"], extent=self.extent,
                             markers=False, title=f"Iterates, η = {eta:.3g}")
            plots.loss(self.run, ax=self.axes["loss"], title=None)
            ax = self.axes["bifurcation"]
            if self.sweep is not None:
                plots.bifurcation(self.sweep, ax=ax, quantity=self.controls["quantity"].value, eta=eta)
            else:
                ax.set_xlim(self.etas.min(), self.etas.max())
                ax.set_title("Long-run behaviour against η (computing …)", fontsize=plots.FONT["title"])

        self._draw_now(draw)
        self.last_update_seconds = time.perf_counter() - start
        if self.run.diverged:
            self._say(divergence_message(self.run, self.problem), "warn")
        elif self.sweep is not None:
            self._say(f"η = {eta:.3g}: final loss {self.run.final_loss:.3g}, final λ_max "
                      f"{self.run.sharpness[-1]:.3g} (2/η = {2 / eta:.3g})", "ok")
