"""BifurcationExplorer: the long-run behaviour of GD against η on a 2-D toy, and the run at one η."""

from __future__ import annotations

import time

import numpy as np

from eostutor._validate import check_choice
from eostutor.problems import Problem
from eostutor.widgets import curves
from eostutor.widgets.base import PAGE_WIDTH, Job, LiveWidget, log_slider, typed_box
from eostutor.widgets.model import PRESETS, BifurcationModel, divergence_message
from eostutor.widgets.panels import OKABE_ITO, RUN_COLORS, Panel, _widgets, landscape_png, legend_html

__all__ = ["BifurcationExplorer"]

QUANTITIES = ("sharpness", "loss", "w1", "w2")
_YLABELS = {"sharpness": "λ_max of the last iterates", "loss": "loss f of the last iterates", "w1": "w₁", "w2": "w₂"}


class BifurcationExplorer(LiveWidget):
    """Sweep η on a 2-D toy; slide (or click the diagram at) an η to see that run's iterates and loss.

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

    >>> bx = BifurcationExplorer("quadratic", etas=[0.1, 0.3], num_steps=50, keep_last=5, w0=(1.0, 1.0),
    ...                          eta=0.1, background=False)
    >>> bx.controls["quantity"].value = "loss"; bx.panels["bifurcation"].ylog
    True
    """

    def __init__(self, problem: str | Problem = "minimalist", etas=None, *, num_steps: int = 300,
                 keep_last: int = 50, w0=(2.0, 0.45), eta: float = 0.3, quantity: str = "sharpness",
                 background: bool = True):
        super().__init__()
        w = _widgets()
        if isinstance(problem, Problem):
            self.problem, self.extent = problem, None
        else:
            preset = PRESETS[check_choice("problem", problem, PRESETS)]
            self.problem, self.extent = preset.make(), preset.extent
        self.model = BifurcationModel(self.problem, etas, num_steps=num_steps, keep_last=keep_last, w0=w0)
        self.etas = self.model.etas
        if self.extent is None:
            r = 1.5 * max(1.0, float(np.abs(self.model.w0.cpu().numpy()).max()))
            self.extent = (-r, r, -r, r)
        self.sweep = None
        lo, hi = float(self.etas.min()), float(self.etas.max())
        self.controls = {
            "eta": log_slider(eta, lo, hi, width="400px"),
            "eta_text": typed_box(eta),
            "quantity": w.ToggleButtons(options=list(QUANTITIES), value=check_choice("quantity", quantity, QUANTITIES),
                                        description="show",
                                        style={"button_width": "90px", "description_width": "40px"}),
        }
        self.panels = {
            "bifurcation": Panel("Long-run behaviour against η (click to choose η)", "step size η", "", width=470,
                                 height=380, xlim=(lo, hi)),
            "trajectory": Panel("Iterates", "w₁", "w₂", width=300, height=220),
            "loss": curves.make_panel("loss", 300, 180),
        }
        self.legend = w.HTML()
        self.widget = w.VBox([
            w.HBox([self.controls["eta"].position, self.controls["eta_text"], self.controls["quantity"]]),
            w.HBox([self.progress, self.status]),
            self.legend,
            w.HBox([self.panels["bifurcation"].figure,
                    w.VBox([self.panels["trajectory"].figure, self.panels["loss"].figure])]),
            self.output], layout=w.Layout(max_width=f"{PAGE_WIDTH}px"))
        traj = self.panels["trajectory"]
        traj.set_limits(x=self.extent[:2], y=self.extent[2:])
        traj.image("landscape", landscape_png(self.problem, self.extent), self.extent)
        # A click is rounded to 3 digits, which can step just past an end of the diagram: clamp it back.
        self._on_click = self._guard(lambda x, _y: setattr(self.controls["eta"], "value",
                                                           self.controls["eta"]._clamp(float(f"{x:.3g}"))))
        self._observe("eta", self.select)
        self._observe("eta_text", lambda browser=False: self._typed("eta_text", "eta"))
        self._observe("quantity", lambda browser=False: self._draw_diagram())
        self._draw_diagram()
        self.select()  # synchronous (milliseconds): it never cancels the sweep running in the background
        self.submit(self._sweep_job, background=background, message=f"sweeping {len(self.etas)} step sizes …")

    def __repr__(self) -> str:
        return f"BifurcationExplorer({self.problem!r}, {len(self.etas)} step sizes)"

    def _sweep_job(self, job: Job) -> None:
        sweep = self.model.sweep(callback=lambda i, n: job.progress(i / n))
        self.sweep = sweep
        self._draw_diagram()
        self._say(f"swept {len(self.etas)} step sizes in {sweep.wall_time:.1f} s; "
                  f"{int(sweep.diverged.sum())} diverged", "ok")

    def _draw_diagram(self) -> None:
        """The diagram of the chosen quantity (log axis for the loss), 2/η on the sharpness, the selected η."""
        quantity = self.controls["quantity"].value
        panel = self.panels["bifurcation"]
        eta = self.value("eta")
        with self.drawing():
            panel.set_ylog(quantity == "loss")
            panel.yaxis.label = _YLABELS[quantity]
            entries = [("selected η", OKABE_ITO["vermillion"], "-")]
            with panel.frame():
                values = []
                sweep = self.sweep
                if sweep is not None:
                    vals = (sweep.params[..., 0 if quantity == "w1" else 1] if quantity in ("w1", "w2")
                            else getattr(sweep, quantity))
                    ex, ey = np.repeat(sweep.etas, vals.shape[1]), vals.ravel()
                    ok = np.isfinite(ey)
                    panel.points("points", ex[ok], ey[ok], color=RUN_COLORS[0], size=6, stroke=None, opacity=0.6)
                    values.append(ey[ok])
                    entries.insert(0, (f"last {vals.shape[1]} iterates of each run", RUN_COLORS[0], "-", "dot"))

                if quantity == "sharpness":
                    grid = np.geomspace(self.etas.min(), self.etas.max(), 200)
                    panel.line("2/eta", grid, 2.0 / grid, color="black", style="--", width=1.4)
                    values.append([0.0, 2.0 / self.etas.max()])
                    entries.insert(1, ("2/η", "black", "--"))
                lim = panel.fit_y(values if values else [[0.0, 1.0]])
                if lim is not None:
                    panel.vline("selected", eta, lim, color=OKABE_ITO["vermillion"], width=1.8)
                    panel.click_catcher((*panel.xlim, *lim), self._on_click)
                    if sweep is not None and sweep.diverged.any():  # ✕ on the bottom edge: no long run
                        bottom = lim[0] * (lim[1] / lim[0]) ** 0.03 if panel.ylog else lim[0] + 0.03 * (lim[1] - lim[0])
                        panel.points("diverged", sweep.etas[sweep.diverged], np.full(int(sweep.diverged.sum()), bottom),
                                     color=OKABE_ITO["vermillion"], marker="cross", size=40, stroke=None)
                        entries.append(("diverged", OKABE_ITO["vermillion"], "-", "dot"))
            self.legend.value = legend_html(entries)

    def select(self, browser: bool = False) -> None:
        """Train the selected η from the common start and draw its iterates and loss."""
        self._clear_output()
        self._show_value("eta_text", "eta")
        eta = self.value("eta")
        start = time.perf_counter()
        run = self.model.run_at(eta)
        self.run = run
        self.timings["model"] = time.perf_counter() - start
        with self.drawing():
            traj = self.panels["trajectory"]
            traj.set_title(f"Iterates, η = {eta:.3g}")
            p = np.where(np.isfinite(run.params), run.params, np.nan)
            traj.line("path", p[:, 0], p[:, 1], color=RUN_COLORS[0], width=1.4)
            traj.points("start", p[:1, 0], p[:1, 1], color="white", size=60, stroke="black")
            loss = self.panels["loss"]
            with loss.frame():
                curves.loss(loss, run, "run", RUN_COLORS[0])
                loss.set_limits(x=(0.0, float(self.model.num_steps)))
                loss.fit_y([run.loss])
            panel = self.panels["bifurcation"]
            if panel.ylim is not None:
                panel.vline("selected", eta, panel.ylim, color=OKABE_ITO["vermillion"], width=1.8)
        self.last_update_seconds = time.perf_counter() - start
        if run.diverged:
            self._say(divergence_message(run, self.problem), "warn")
        elif self.sweep is not None:
            self._say(f"η = {eta:.3g}: final loss {run.final_loss:.3g}, final λ_max "
                      f"{run.sharpness[-1]:.3g} (2/η = {2 / eta:.3g})", "ok")
