"""SmoothnessExplorer: the smoothness along the gradient step (Flatland's Figure 4) at a chosen iterate."""

from __future__ import annotations

import math

import numpy as np

from eostutor._validate import check_choice
from eostutor.problems import TINY_DIM, Problem
from eostutor.record import Run
from eostutor.widgets import curves
from eostutor.widgets.base import PAGE_WIDTH, Job, LiveWidget
from eostutor.widgets.model import PRESETS, SmoothnessModel
from eostutor.widgets.panels import OKABE_ITO, REF_COLOR, RUN_COLORS, Panel, _widgets, legend_html

__all__ = ["SmoothnessExplorer"]


class SmoothnessExplorer(LiveWidget):
    """The segment-smoothness curve (Flatland's Figure 4) at a chosen iterate of a run.

    Trains one run (recording the iterates), then for the iterate k chosen with the slider computes
    ‖∇f(w_k) − ∇f(w_k − s g)‖/(s‖g‖) over s ∈ [1e-3, 10] (:meth:`~eostutor.widgets.model.SmoothnessModel.inspect`)
    and marks the accepted step η_k, λ_max(w_k) and the 2/K floor.

    Args:
        problem: A preset name or Problem (default "mlp-digits").
        rule: Rule name (default "nls").
        num_steps: Steps of the run.
        eta: The rule's η parameter (default: the rule's own default).
        step_sizes: The s grid (default 40 log-spaced values in [1e-3, 10]).
        run: An existing run to inspect instead (must have ``params``; give its ``problem`` too).
        background: Train in a background thread (default: for networks).

    >>> sx = SmoothnessExplorer("quadratic", "constant", eta=0.05, num_steps=20)
    >>> sx.controls["iterate"].value = 3; round(sx.inspection.sharpness, 6)
    10.0
    """

    def __init__(self, problem: str | Problem = "mlp-digits", rule: str = "nls", *, num_steps: int = 100,
                 eta: float | None = None, step_sizes=None, run: Run | None = None, background: bool | None = None):
        super().__init__()
        w = _widgets()
        if not isinstance(problem, Problem):
            problem = PRESETS[check_choice("problem", problem, PRESETS)].make()
        self.problem = problem
        self.model = SmoothnessModel(problem, step_sizes)
        self.inspection = None
        self.controls = {
            "iterate": w.IntSlider(value=0, min=0, max=max(0, num_steps - 1), description="iterate k",
                                   style={"description_width": "70px"}, layout=w.Layout(width="470px")),
        }
        s = self.model.step_sizes
        self.panels = {
            "smoothness": Panel("Smoothness along −g", "step along −g: s", "smoothness ratio", xlog=True, ylog=True,
                                width=470, height=340, xlim=(float(s.min()), float(s.max()))),
            "loss": curves.make_panel("loss", PAGE_WIDTH - 470 - 10, 340),
        }
        self.legend = w.HTML(layout=w.Layout(width="470px"))
        self.widget = w.VBox([self.controls["iterate"], w.HBox([self.progress, self.status]),
                              w.HBox([w.VBox([self.panels["smoothness"].figure, self.legend]),
                                      self.panels["loss"].figure]),
                              self.output], layout=w.Layout(max_width=f"{PAGE_WIDTH}px"))
        self._observe("iterate", self.select)
        if run is not None:
            if "params" not in run.arrays:
                raise ValueError(f"{run!r} has no recorded iterates: train with record_params=True")
            self._set_run(run)
            return
        bg = problem.dim > TINY_DIM if background is None else background

        def work(job: Job) -> None:
            run = self.model.train(rule, eta, num_steps, should_stop=job.stale,
                                   callback=lambda partial: job.progress(partial.num_steps / num_steps))
            if not job.superseded(run):
                self._set_run(run)

        self.submit(work, background=bg, message=f"training {num_steps} steps with {rule} …")

    @property
    def result(self):
        """The :class:`~eostutor.curvature.SegmentSmoothness` at the selected iterate."""
        return None if self.inspection is None else self.inspection.smoothness

    def __repr__(self) -> str:
        return f"SmoothnessExplorer({self.problem!r}, iterate={self.controls['iterate'].value})"

    def _set_run(self, run: Run) -> None:
        self.run = run
        with self.drawing():
            loss = self.panels["loss"]
            with loss.frame():
                curves.loss(loss, run, "run", RUN_COLORS[0])
                loss.set_limits(x=(0.0, float(max(1, run.num_steps))))
                loss.fit_y([run.loss])
        self.controls["iterate"].max = max(0, min(run.num_steps, len(run.params)) - 1)
        self._guard(self.select)()

    def select(self, browser: bool = False) -> None:
        """Compute and draw the smoothness curve at the selected iterate."""
        if self.run is None:
            return
        self._clear_output()
        ins = self.model.inspect(self.run, int(self.controls["iterate"].value))
        self.inspection = ins
        floor = float(self.problem.sharpness_floor)
        res = ins.smoothness
        s, r = res.step_sizes, res.smoothness
        with self.drawing():
            panel = self.panels["smoothness"]
            panel.set_title(f"Smoothness along −g at iterate k = {ins.k}")
            entries = [("‖∇f(w) − ∇f(w − s g)‖ / (s‖g‖)", RUN_COLORS[0], "-"),
                       ("l(w, s): its running max", RUN_COLORS[0], "--"), ("1/s and 2/s", REF_COLOR, ":")]
            with panel.frame():
                panel.line("curve", s, r, color=RUN_COLORS[0], width=2.0)
                panel.line("sup", s, res.segment_sup, color=RUN_COLORS[0], width=1.2, style="--", opacity=0.7)
                panel.line("1/s", s, 1.0 / s, color=REF_COLOR, style=":", width=1.2)
                panel.line("2/s", s, 2.0 / s, color=REF_COLOR, style=":", width=1.2)
                values = [r, [ins.sharpness]]
                xspan = panel.xlim
                if math.isfinite(ins.sharpness):
                    panel.hline("sharpness", ins.sharpness, xspan, color="black", style="--", width=1.5)
                    entries.append((f"λ_max = {ins.sharpness:.3g}", "black", "--"))
                if floor > 0:
                    panel.hline("floor", floor, xspan, color=OKABE_ITO["reddish_purple"], style=":", width=2.0)
                    entries.append((f"2/K = {floor:.3g}", OKABE_ITO["reddish_purple"], ":"))
                    values.append([floor])
                ok = np.isfinite(r) & (r > 0)
                if ok.any():
                    lo, hi = float(np.min(r[ok])), float(np.max([*r[ok], ins.sharpness, floor]))
                    values.append([lo / 3.0, hi * 2.0])
                lim = panel.fit_y(values)
                if lim is not None and math.isfinite(ins.eta):
                    panel.vline("eta", ins.eta, lim, color=OKABE_ITO["vermillion"], width=2.0)
                    entries.append((f"accepted η_k = {ins.eta:.3g}", OKABE_ITO["vermillion"], "-"))
            self.legend.value = legend_html(entries)
            self.panels["loss"].cursor(ins.k, color=OKABE_ITO["vermillion"])
        self._say(f"k = {ins.k}: η_k = {ins.eta:.3g}, λ_max = {ins.sharpness:.3g}, η_k·λ_max = "
                  f"{ins.eta * ins.sharpness:.3g}, η_k·l(w, η_k) = {ins.eta * ins.l_eta:.3g} "
                  f"({'large' if ins.large else 'small'} step)", "ok")
