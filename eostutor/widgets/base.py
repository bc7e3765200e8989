"""The base of every widget: controls, live panels, a status line, errors shown, latest-wins jobs.

A widget subclasses :class:`LiveWidget`, builds its controls and panels (:mod:`eostutor.widgets.panels`),
and computes through its model inside :meth:`LiveWidget.submit`, the one job template: the job runs now or
in a background thread, only the newest request matters (requests that arrive while one runs are
coalesced: only the latest of them runs next), the progress bar and status line follow it, and any
exception is shown in the widget instead of being lost.

Changes typed or dragged in the browser run in the background thread, so the kernel stays free to take
the next one (a mouse drag updates the picture while it moves); changes made from Python
(``widget.controls["eta"].value = 0.25`` in a cell or a test) run at once, so the next line sees the result.
"""

from __future__ import annotations

import collections
import contextlib
import html
import math
import threading
import time
import traceback
from collections.abc import Callable

import traitlets

from eostutor._validate import check_int, check_positive
from eostutor.record import Run
from eostutor.widgets.panels import _widgets
from eostutor.widgets.scheduling import LatestWins

__all__ = ["LiveWidget", "Job", "LogSlider", "log_slider", "typed_box", "widened", "from_browser", "PAGE_WIDTH",
           "PANEL_WIDTH", "PANEL_HEIGHT"]

#: Widths in px: the widest widget fits a notebook's output area on a 1366×768 laptop with the file
#: browser open (934 px, measured in JupyterLab), with room to spare.
PAGE_WIDTH = 900
PANEL_WIDTH, PANEL_HEIGHT = 290, 210

class LogSlider(traitlets.HasTraits):
    """A logarithmic slider for a step size that keeps exact values.

    The page shows an integer slider (``position``: ``steps`` positions from lo to hi, fine enough to step
    across an edge: 400 over [0.01, 0.5] is 1% of η per arrow key; it updates while dragged). ``value`` is
    the step size itself: a value set from Python or typed (0.19) is kept exactly and the handle moves to the
    nearest position; moving the handle sets the value of that position. A float slider would instead round
    0.19 to its grid in the page and send the rounded value back, sometimes after later changes.

    It behaves like an ipywidgets slider where the widgets use it: ``value``, ``min``/``max``/``step`` (log10
    units), ``description``, ``disabled``, ``observe``; put ``position`` in a layout.

    >>> s = LogSlider(0.19, 0.01, 0.5)
    >>> s.value, s.position.value, round(s.at(s.position.value), 4)
    (0.19, 301, 0.1899)
    """

    value = traitlets.Float()
    description = traitlets.Unicode()
    disabled = traitlets.Bool(False)

    def __init__(self, value: float, lo: float, hi: float, description: str = "η", *, steps: int = 400,
                 width: str = "380px", continuous: bool = True, description_width: str = "70px"):
        w = _widgets()
        self.base = 10.0
        self.from_page = False
        self._syncing = False
        self.position = w.IntSlider(value=0, min=0, max=steps, description=description, readout=False,
                                    continuous_update=continuous, style={"description_width": description_width},
                                    layout=w.Layout(width=width))
        self.set_range(lo, hi, steps)
        value = check_positive(description or "value", value)
        if not lo * (1 - 1e-12) <= value <= hi * (1 + 1e-12):
            raise ValueError(f"{description or 'value'} = {value:g} is outside the slider's range [{lo:g}, {hi:g}]")
        super().__init__(value=self._clamp(value), description=description)
        self._sync_position(self.value)
        self.position.observe(self._moved, names="value")

    @property
    def continuous_update(self) -> bool:
        return self.position.continuous_update

    def set_range(self, lo: float, hi: float, steps: int | None = None) -> None:
        """New ends (and number of positions); the value is clamped into them."""
        lo, hi = check_positive("lo", lo), check_positive("hi", hi)
        if not hi > lo:
            raise ValueError(f"the slider's range must have hi > lo, got [{lo}, {hi}]")
        steps = self.position.max if steps is None else check_int("steps", steps, minimum=2)
        self.min, self.max = math.log10(lo), math.log10(hi)
        self.step = (self.max - self.min) / steps
        self._syncing = True
        try:
            self.position.max = steps
        finally:
            self._syncing = False
        if "value" in self._trait_values:
            self.value = self._clamp(self.value)
            self._sync_position(self.value)

    def at(self, position: int) -> float:
        """The step size at an integer position."""
        return float(self.base ** (self.min + position * self.step))

    def _clamp(self, value: float) -> float:
        lo, hi = self.base**self.min, self.base**self.max
        return float(min(max(value, lo), hi))

    @traitlets.validate("value")
    def _check(self, proposal):
        value = float(proposal["value"])
        name = self.description or "value"
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a positive finite number, got {value!r}")
        lo, hi = self.base**self.min, self.base**self.max
        if not lo * (1 - 1e-9) <= value <= hi * (1 + 1e-9):  # (round-off at the ends is clamped)
            raise ValueError(f"{name} = {value:g} is outside the slider's range [{lo:.4g}, {hi:.4g}]")
        return self._clamp(value)

    @traitlets.observe("value")
    def _value_changed(self, change) -> None:
        self._sync_position(change["new"])

    @traitlets.observe("description", "disabled")
    def _look_changed(self, change) -> None:
        setattr(self.position, change["name"], change["new"])

    def _sync_position(self, value: float) -> None:
        p = int(round((math.log10(value) - self.min) / self.step))
        p = min(max(p, 0), self.position.max)
        if p != self.position.value:
            self._syncing = True
            try:
                self.position.value = p
            finally:
                self._syncing = False

    def _moved(self, change) -> None:
        if self._syncing:
            return
        self.from_page = from_browser(self.position)
        try:
            self.value = self.at(change["new"])
        finally:
            self.from_page = False


def widened(lo: float, hi: float, value: float) -> tuple[float, float]:
    """A slider range [lo, hi] widened to show ``value`` with room on both sides (a factor of 3), as the
    widgets do for an η given by the user or a rule's default outside their usual range.

    >>> widened(0.01, 100.0, 1.0), widened(0.01, 100.0, 1e-6)
    ((0.01, 100.0), (3.333333333333333e-07, 100.0))
    """
    return (min(lo, value / 3), max(hi, value * 3))


def log_slider(value: float, lo: float, hi: float, description: str = "η", *, readout: bool = False,
               **kwargs) -> LogSlider:
    """A :class:`LogSlider` (the arguments are its constructor's). It has no readout of its own: show the
    value in a :func:`typed_box` next to it (``readout=True`` is refused).
    """
    if readout:
        raise ValueError("a LogSlider has no readout: show its value in a typed_box next to it")
    return LogSlider(value, lo, hi, description, **kwargs)


def typed_box(value: float, width: str = "80px"):
    """A text box to type an exact value next to a slider (checked by :meth:`LiveWidget._typed`)."""
    w = _widgets()
    box = w.Text(value=f"{value:.4g}", continuous_update=False, layout=w.Layout(width=width))
    box.add_class("eostutor-typed")  # how the browser test finds it
    return box


def from_browser(control) -> bool:
    """Whether the control's current change came from the page (a drag, a typed value) rather than from
    Python code: ipywidgets holds a property lock while it applies a state sent by the frontend (a
    :class:`LogSlider` says so itself).
    """
    if isinstance(control, LogSlider):
        return control.from_page
    return bool(getattr(control, "_property_lock", None))


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
    """Shared GUI machinery: status line, progress bar, error output, live panels, latest-wins jobs.

    Every widget exposes, so it can be driven and tested without a browser:

    * ``controls``: name -> ipywidget (set ``controls["eta"].value`` and the widget re-runs),
    * ``model``: the frontend-free model it computes with (:mod:`eostutor.widgets.model`),
    * ``panels``: name -> :class:`~eostutor.widgets.panels.Panel` (bqplot figures, drawn in the browser;
      their marks hold the data, so tests read them),
    * ``run``: the latest finished run (``None`` before the first),
    * ``status`` (an HTML line: "diverged at step k", "rejected: ...", timings), ``progress``, ``output``
      (an Output area where every exception raised in a callback is shown with its traceback),
    * ``widget``: the top-level container; ``display()`` and ``_ipython_display_`` show it,
    * ``wait(timeout)``: block until the background job (if any) is done.

    """

    redraw_interval = 0.2  # seconds between redraws while a network run streams

    def __init__(self):
        w = _widgets()
        self.controls: dict[str, object] = {}
        self.run: Run | None = None
        self.cancelled: collections.deque[Run] = collections.deque(maxlen=20)
        self.status = w.HTML(value="")
        self.progress = w.FloatProgress(value=0.0, min=0.0, max=1.0, description="",
                                        layout=w.Layout(width="200px", display="none"))
        self.output = w.Output(layout=w.Layout(max_height="240px", overflow="auto"))
        self.panels: dict[str, object] = {}
        self._links: list = []  # jslink/jsdlink widgets (closed with the widget)
        self.jobs = LatestWins()
        self._draw_lock = threading.RLock()
        self._last_draw = 0.0
        self._holding = 0  # open _hold blocks: update() does nothing while one is open
        self._hold_lock = threading.Lock()
        self.last_update_seconds = math.nan
        #: Seconds spent in the last update: "model" (training), "draw" (updating the marks, sending the data).
        self.timings: dict[str, float] = {}
        self.widget = None  # set by subclasses

    @contextlib.contextmanager
    def _hold(self):
        """Change several controls without a run per change (the subclasses' ``update`` returns while one is
        open). Nests; a count under a lock, so holds that overlap from two threads cannot leave it set.
        """
        with self._hold_lock:
            self._holding += 1
        try:
            yield
        finally:
            with self._hold_lock:
                self._holding -= 1

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

    def _observe(self, name: str, fn: Callable[..., None]) -> None:
        """Call ``fn(browser=...)`` when control ``name`` changes (``browser``: the change came from the page,
        see :func:`from_browser`); exceptions are shown in the widget.
        """
        control = self.controls[name]

        def on_change(_change):
            fn(browser=from_browser(control))

        control.observe(self._guard(on_change), names="value")

    def value(self, name: str) -> float:
        """A control's value as a float."""
        return float(self.controls[name].value)

    def _typed(self, box: str, slider: str, what: str = "η") -> None:
        """Check a value typed in text control ``box`` and move ``slider`` to it, or say what is wrong
        (nothing raised, the last good picture kept).
        """
        text = self.controls[box].value.strip()
        if text == f"{self.value(slider):.4g}":
            return  # the box shows the slider's value (written by _show_value): nothing was typed
        control = self.controls[slider]
        log = isinstance(control, LogSlider)
        lo, hi = (control.base**control.min, control.base**control.max) if log else (control.min, control.max)
        try:
            value = float(text)
        except ValueError:
            self._say(f"{what} = {text!r} is not a number; type e.g. {self.value(slider):.3g}", "bad")
            return
        if not math.isfinite(value) or (log and value <= 0):
            self._say(f"{what} = {text} is not allowed: it must be a {'positive ' if log else ''}finite number", "bad")
            return
        if not lo * (1 - 1e-9) <= value <= hi * (1 + 1e-9):
            self._say(f"{what} = {value:g} is outside this slider's range [{lo:.4g}, {hi:.4g}]; the picture shows "
                      f"the last good value", "bad")
            return
        if not math.isclose(value, self.value(slider), rel_tol=1e-12):
            control.value = value  # through the slider's observer, as an exact value from Python
        else:
            self._show_value(box, slider)

    def _show_value(self, box: str, slider: str) -> None:
        """Write the slider's (exact) value into its text box."""
        text = f"{self.value(slider):.4g}"
        if self.controls[box].value != text:
            self.controls[box].value = text

    @contextlib.contextmanager
    def drawing(self, timing: str = "draw"):
        """Hold the draw lock (one thread draws at a time) and time the update of the marks as
        ``timings[timing]``.
        """
        start = time.perf_counter()
        with self._draw_lock:
            yield
            self._last_draw = time.perf_counter()
        self.timings[timing] = self._last_draw - start

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
            self.progress.layout.display = "none"
        else:
            self.progress.layout.display = ""
            self.progress.value = float(min(max(fraction, 0.0), 1.0))

    def wait(self, timeout: float | None = 60.0) -> bool:
        """Block until the background job is done (tests, scripts); True if nothing is running."""
        return self.jobs.wait(timeout)

    def close(self) -> None:
        """Stop any running job and close every widget model this widget created (controls, links, panels
        with their marks, scales and axes, layouts and styles), so the kernel and the page free them.
        """
        self.jobs.cancel()
        self.jobs.wait(5.0)
        seen: set[int] = set()
        for obj in [*self._links, *(p.figure for p in self.panels.values()), *self.controls.values(), self.widget]:
            obj = getattr(obj, "position", obj)  # a LogSlider's page widget
            if obj is not None:
                _close_tree(obj, seen)  # not Widget.close_all(): that closes every widget of the kernel
        self._links = []
        self.run = None
        self.cancelled.clear()
        self.panels = {}


def _close_tree(widget, seen: set[int]) -> None:
    """Close a widget and every widget it refers to through its synced traits (children, layout, style,
    marks, scales, axes, images, link sources), once each.
    """
    w = _widgets()
    if id(widget) in seen or not isinstance(widget, w.Widget):
        return
    seen.add(id(widget))
    for name in widget.keys:
        value = getattr(widget, name, None)
        items = value.values() if isinstance(value, dict) else value if isinstance(value, list | tuple) else [value]
        for item in items:
            if isinstance(item, tuple):  # a link's (widget, trait name)
                item = item[0]
            if isinstance(item, w.Widget):
                _close_tree(item, seen)
    widget.close()
