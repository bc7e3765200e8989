"""The base of every widget: controls, a live figure, a status line, errors shown, latest-wins jobs.

A widget subclasses :class:`LiveWidget`, builds its controls and figure, and computes through its model
inside :meth:`LiveWidget.submit`, the one job template: the job runs now or in a background thread, only
the newest request matters (a newer one makes it stale: it stops at its next step and never draws), the
progress bar and status line follow it, and any exception is shown in the widget instead of being lost.
"""

from __future__ import annotations

import collections
import html
import math
import threading
import time
import traceback
from collections.abc import Callable

from eostutor.record import Run
from eostutor.widgets.live import LiveFigure, _widgets
from eostutor.widgets.scheduling import LatestWins

__all__ = ["LiveWidget", "Job", "log_slider", "PANEL_TITLES"]

#: Panel titles shared by the widgets.
PANEL_TITLES = {"loss": "Training loss", "sharpness": "Sharpness λ_max and 2/η", "eta_sharpness": "η·λ_max",
                "step_size": "Step size η_k", "test_accuracy": "Test accuracy",
                "layer_grad_norms": "Layer gradient norms"}


def log_slider(value: float, lo: float, hi: float, description: str = "η"):
    """A logarithmic slider for a step size (one run per release)."""
    w = _widgets()
    return w.FloatLogSlider(value=value, base=10, min=math.log10(lo), max=math.log10(hi), step=0.01,
                            description=description, continuous_update=False, readout_format=".3g",
                            style={"description_width": "70px"}, layout=w.Layout(width="380px"))


class Job:
    """One request inside :meth:`LiveWidget.submit`: ask whether it went stale, report progress."""

    def __init__(self, widget: LiveWidget, is_stale: Callable[[], bool], show_progress: bool):
        self.widget, self.stale, self.show_progress = widget, is_stale, show_progress

    def progress(self, fraction: float, text: str | None = None) -> None:
        """Move the progress bar (and say ``text``) unless the job went stale."""
        if self.stale():
            return
        if self.show_progress:
            self.widget._progress(fraction)
        if text:
            self.widget._say(text)

    def superseded(self, run: Run | None = None) -> bool:
        """True when a newer request replaced this one (a stopped ``run`` is kept in ``widget.cancelled``)."""
        if not self.stale():
            return False
        if run is not None and run.interrupted:
            self.widget.cancelled.append(run)
        return True


class LiveWidget:
    """Shared GUI machinery: status line, progress bar, error output, live figure, latest-wins jobs.

    Every widget exposes, so it can be driven and tested without a browser:

    * ``controls``: name -> ipywidget (set ``controls["eta"].value`` and the widget re-runs),
    * ``model``: the frontend-free model it computes with (:mod:`eostutor.widgets.model`),
    * ``figure``: the matplotlib Figure, built once; updates move the artists' data in place,
    * ``run``: the latest finished run (``None`` before the first),
    * ``status`` (an HTML line: "diverged at step k", "rejected: ...", timings), ``progress``, ``output``
      (an Output area where every exception raised in a callback is shown with its traceback),
    * ``widget``: the top-level container; ``display()`` and ``_ipython_display_`` show it,
    * ``wait(timeout)``: block until the background job (if any) is done.

    Args:
        figsize: Figure size in inches.
        dpi: Resolution.
        interactive: Force the ipympl canvas (True) or the PNG fallback (False); default from the backend.
    """

    redraw_interval = 0.25  # seconds between redraws while a network run streams

    def __init__(self, figsize, dpi: int = 80, interactive: bool | None = None):
        w = _widgets()
        self.controls: dict[str, object] = {}
        self.run: Run | None = None
        self.cancelled: collections.deque[Run] = collections.deque(maxlen=20)
        self.status = w.HTML(value="")
        self.progress = w.FloatProgress(value=0.0, min=0.0, max=1.0, description="",
                                        layout=w.Layout(width="260px", visibility="hidden"))
        self.output = w.Output(layout=w.Layout(max_height="240px", overflow="auto"))
        self.live = LiveFigure(figsize, dpi, interactive)
        self.figure = self.live.figure
        self.jobs = LatestWins()
        self._draw_lock = threading.RLock()
        self._last_draw = 0.0
        self.last_update_seconds = math.nan
        #: Seconds spent in the last update: "model" (training), "artists" (set_data), "render" (draw + send).
        self.timings: dict[str, float] = {}
        self.widget = None  # set by subclasses

    # -- the job template ----------------------------------------------------------------------------
    def submit(self, work: Callable[[Job], None], *, background: bool, message: str | None = None,
               show_progress: bool = True):
        """Run ``work(job)`` as the newest request (now, or in the background thread).

        The progress bar shows while it runs; an exception is reported in the widget unless the job has
        gone stale meanwhile (then nobody is waiting for it).
        """

        def run_job(is_stale):
            job = Job(self, is_stale, show_progress)
            try:
                if show_progress:
                    self._progress(0.0)
                if message:
                    self._say(message)
                work(job)
            except Exception as exc:  # noqa: BLE001 - shown in the widget, that is the point
                if not is_stale():
                    self._report(exc)
            finally:
                if not is_stale():
                    self._progress(None)

        return self.jobs.submit(run_job, background)

    def throttled(self, force: bool) -> bool:
        """Whether a streaming redraw should be skipped (the last one was under ``redraw_interval`` ago)."""
        return not force and time.perf_counter() - self._last_draw < self.redraw_interval

    # -- display ------------------------------------------------------------------------------------
    def display(self):
        """Show the widget in the notebook (also what a bare expression at the end of a cell does)."""
        from IPython.display import display

        display(self.widget)

    def _ipython_display_(self):
        self.display()

    # -- messages -----------------------------------------------------------------------------------
    def _say(self, text: str, kind: str = "info") -> None:
        colors = {"info": "#333333", "ok": "#007A5A", "warn": "#B34700", "bad": "#B34700"}
        icon = {"info": "", "ok": "✓ ", "warn": "⚠ ", "bad": "✗ "}[kind]
        self.status.value = (f'<span style="color:{colors[kind]}; font-size:14px">{icon}'
                             f"{html.escape(text)}</span>")

    def _report(self, exc: BaseException) -> None:
        """Show an exception: a short line in the status, the full traceback in the output area."""
        if isinstance(exc, ValueError):
            self._say(f"rejected: {exc}", "bad")
        else:
            self._say(f"{type(exc).__name__}: {exc} (details below)", "bad")
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        self.output.append_stderr(text)
        self._progress(None)

    def _guard(self, fn):
        """Wrap a control callback so no exception is lost in the log console."""

        def wrapped(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - shown to the learner, that is the point
                self._report(exc)

        return wrapped

    def _clear_output(self) -> None:
        # Setting the trait (not IPython's clear_output) works from any thread and without a kernel.
        self.output.outputs = ()

    def _progress(self, fraction: float | None) -> None:
        if fraction is None:
            self.progress.layout.visibility = "hidden"
        else:
            self.progress.layout.visibility = "visible"
            self.progress.value = float(min(max(fraction, 0.0), 1.0))

    def wait(self, timeout: float | None = 60.0) -> bool:
        """Block until the background job is done (tests, scripts); True if nothing is running."""
        return self.jobs.wait(timeout)

    def close(self) -> None:
        """Stop any running job and close the figure and widgets (frees what the widget holds)."""
        self.jobs.cancel()
        self.jobs.wait(5.0)
        import matplotlib.pyplot as plt

        plt.close(self.figure)
        if self.widget is not None:
            self.widget.close()
        self.run = None
        self.cancelled.clear()

    def _observe(self, name: str, callback) -> None:
        self.controls[name].observe(self._guard(lambda change: callback()), names="value")

    def _draw_now(self, draw: Callable[[], None]) -> None:
        """Update artists (``draw``) and show them, under the draw lock, with timings."""
        with self._draw_lock:
            t0 = time.perf_counter()
            draw()
            t1 = time.perf_counter()
            self.live.draw()
            self._last_draw = time.perf_counter()
            self.timings.update(artists=t1 - t0, render=self._last_draw - t1)
