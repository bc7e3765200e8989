"""SmoothnessExplorer: the smoothness along the gradient step (Flatland's Figure 4) at a chosen iterate."""

from __future__ import annotations

from eostutor import plots
from eostutor._validate import check_choice
from eostutor.problems import TINY_DIM, Problem
from eostutor.record import Run
from eostutor.widgets.base import Job, LiveWidget
from eostutor.widgets.live import _widgets
from eostutor.widgets.model import PRESETS, SmoothnessModel

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
        interactive: See :class:`~eostutor.widgets.StepSizeExplorer`.
    """

    def __init__(self, problem: str | Problem = "mlp-digits", rule: str = "nls", *, num_steps: int = 100,
                 eta: float | None = None, step_sizes=None, run: Run | None = None, background: bool | None = None,
                 interactive: bool | None = None):
        super().__init__(figsize=(11, 4.4), interactive=interactive)
        w = _widgets()
        if not isinstance(problem, Problem):
            problem = PRESETS[check_choice("problem", problem, PRESETS)].make()
        self.problem = problem
        self.model = SmoothnessModel(problem, step_sizes)
        self.inspection = None
        self.controls = {
            "iterate": w.IntSlider(value=0, min=0, max=max(0, num_steps - 1), description="iterate k",
                                   continuous_update=False, style={"description_width": "70px"},
                                   layout=w.Layout(width="420px")),
        }
        fig = self.figure
        gs = fig.add_gridspec(1, 2, width_ratios=[1.4, 1.0])
        self.axes = {"smoothness": fig.add_subplot(gs[0, 0]), "loss": fig.add_subplot(gs[0, 1])}
        self.widget = w.VBox([self.controls["iterate"], w.HBox([self.progress, self.status]), self.live.view,
                              self.output])
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
        with self._draw_lock:
            self.controls["iterate"].max = max(0, min(run.num_steps, len(run.params)) - 1)
            self._guard(self.select)()

    def select(self) -> None:
        """Compute and draw the smoothness curve at the selected iterate."""
        if self.run is None:
            return
        self._clear_output()
        run = self.run
        ins = self.model.inspect(run, int(self.controls["iterate"].value))
        self.inspection = ins
        floor = float(self.problem.sharpness_floor)

        def draw():
            plots.segment_smoothness(ins.smoothness, ax=self.axes["smoothness"], eta=ins.eta,
                                     sharpness=ins.sharpness, floor=floor or None,
                                     title=f"Smoothness along −g at iterate k = {ins.k}")
            ax = self.axes["loss"]
            plots.loss(run, ax=ax, title=None, legend=False)
            marker = plots.find(ax, "smoothness:iterate")
            if marker is None:
                marker = ax.axvline(ins.k, color=plots.OKABE_ITO["vermillion"], linewidth=1.6,
                                    gid="smoothness:iterate")
            marker.set_xdata([ins.k, ins.k])
            ax.set_title(f"Training loss (iterate k = {ins.k} marked)", fontsize=plots.FONT["title"])

        self._draw_now(draw)
        self._say(f"k = {ins.k}: η_k = {ins.eta:.3g}, λ_max = {ins.sharpness:.3g}, η_k·λ_max = "
                  f"{ins.eta * ins.sharpness:.3g}, η_k·l(w, η_k) = {ins.eta * ins.l_eta:.3g} "
                  f"({'large' if ins.large else 'small'} step)", "ok")
