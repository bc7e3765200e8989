"""Live widgets for the notebooks: move a control, watch gradient descent respond.

Model first, GUI second (STYLE.md). The first half of this module is plain Python with no ipywidgets:
named problem presets, :class:`ExplorerModel` (settings -> problem, rule -> :func:`eostutor.training.train`)
and :class:`LatestWins` (runs jobs so that only the newest request matters). The second half wraps them in
ipywidgets: :class:`StepSizeExplorer`, :class:`BifurcationExplorer`, :class:`SmoothnessExplorer` and
:class:`FlatlandLab`.

Every widget exposes, so it can be driven and tested without a browser:

* ``controls``: name -> ipywidget (set ``controls["eta"].value`` and the widget re-runs),
* ``figure``: the matplotlib Figure, built once; updates move the artists' data in place,
* ``run``: the latest finished run (``None`` before the first),
* ``status`` (an HTML line: "diverged at step k", "rejected: ...", timings), ``progress``, ``output``
  (an Output area where every exception raised in a callback is shown with its traceback),
* ``widget``: the top-level container; ``display()`` and ``_ipython_display_`` show it,
* ``wait(timeout)``: block until the background run (if any) is done.

How runs are scheduled ("latest wins"): sliders use ``continuous_update=False`` (one run per release).
Runs of tiny 2-D problems are computed synchronously in the control's callback: they take milliseconds.
Network runs are computed in one background thread so the kernel stays free to receive the next control
change; that change bumps a generation counter which the running ``train`` polls through its
``should_stop`` argument, so the stale run stops at its next step. A new run first waits for the stale one
to finish, and is skipped if it is itself stale by then: there is never a queue of stale runs. Only the
newest run draws; drawing happens under a lock and at most every ``redraw_interval`` seconds while
streaming (the training callback fires every ``callback_every`` steps, with a progress bar).

Display: with the ipympl backend (``%matplotlib widget``) the figure's canvas widget is embedded and
redrawn with ``draw_idle``. With any other backend (inline, Colab, Voilà without ipympl) the figure is a
plain ``Figure`` rendered to PNG into an ``ipywidgets.Image`` on each redraw: no pyplot state, no duplicate
inline output, and setting an Image's value is safe from the worker thread.
"""

from __future__ import annotations

import collections
import html
import io
import math
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass

import matplotlib
import numpy as np
import torch
from matplotlib.figure import Figure

from eostutor import plots
from eostutor._validate import check_choice, check_in_range, check_int, check_positive
from eostutor.datasets import digits
from eostutor.experiments import (
    FLATLAND_RULES,
    FLATLAND_SEED,
    bifurcation_sweep,
    flatland_label,
    flatland_problem,
    flatland_rule,
)
from eostutor.problems import Minimalist, MLPProblem, Problem, Quadratic, ScalarNet
from eostutor.record import Run
from eostutor.spectrum import segment_smoothness
from eostutor.spectrum import sharpness as measure_sharpness
from eostutor.stepsizes import RULES as STEPSIZE_RULES
from eostutor.stepsizes import make_rule, rule_label
from eostutor.training import train, with_exact_sharpness

__all__ = [
    "Preset",
    "PRESETS",
    "WIDGET_RULES",
    "ExplorerSettings",
    "ExplorerModel",
    "LatestWins",
    "StepSizeExplorer",
    "BifurcationExplorer",
    "SmoothnessExplorer",
    "FlatlandLab",
    "FLATLAND_LAB_RULES",
    "flatland_lab_rule",
]


# ==================================================================================================
# Model: no ipywidgets below this line until the GUI section
# ==================================================================================================
@dataclass(frozen=True)
class Preset:
    """A named problem for the widgets' menus.

    Attributes:
        name: Menu entry.
        make: Builds the problem (called once, then cached).
        eta: Default step size.
        num_steps: Default number of steps.
        extent: Plot box of the loss landscape for 2-D toys (``None`` for networks).
        description: One line for the help text.
        sharpness_every: Sharpness measurement interval for networks (toys: exact at every step).
    """

    name: str
    make: Callable[[], Problem]
    eta: float
    num_steps: int
    extent: tuple | None = None
    description: str = ""
    sharpness_every: int = 10


def _digits_mlp(activation: str = "tanh", n_train: int = 500) -> MLPProblem:
    return MLPProblem(digits(n_train=n_train, dtype=torch.float32), hidden=(32, 32), activation=activation,
                      loss="mse", dtype=torch.float32)


#: The problems offered by the widgets' menus.
PRESETS: dict[str, Preset] = {
    "quadratic": Preset("quadratic", lambda: Quadratic([1.0, 10.0]), 0.15, 200, (-2.0, 2.0, -1.0, 1.0),
                        "½wᵀAw with λ = 1, 10: stable iff η < 2/10 = 0.2"),
    "minimalist": Preset("minimalist", Minimalist, 0.25, 1000, (1.0, 3.0, -0.8, 1.1),
                         "¼(x²y² − 1)²: GD drifts along the valley until λ_max ≈ 2/η"),
    "scalar-net": Preset("scalar-net", lambda: ScalarNet(depth=2), 0.8, 500, (0.2, 1.8, 0.2, 1.8),
                         "½(w₁w₂ − 1)²: a two-layer scalar network"),
    "mlp-digits": Preset("mlp-digits", lambda: _digits_mlp("tanh"), 2.0, 300, None,
                         "2×32 tanh MLP, 500 digits, MSE (float32): progressive sharpening to 2/η"),
}

#: Rules offered by the widgets' menus (names of :data:`eostutor.stepsizes.RULES`).
WIDGET_RULES = ("constant", "ls", "nls", "nls-ub", "ponls", "cdat", "polyak", "adgd")

#: What the η slider means for each rule ("" = the rule chooses η itself, the slider is unused).
ETA_ROLE = {"constant": "η", "ls": "η₀", "nls": "η₀", "adgd": "η₀", "nls-ub": "η cap", "ponls": "",
            "cdat": "", "polyak": ""}


@dataclass(frozen=True)
class ExplorerSettings:
    """Everything a run depends on (the model's input; the GUI's controls map onto it one to one)."""

    problem: str = "quadratic"
    rule: str = "constant"
    eta: float = 0.15
    num_steps: int = 200
    seed: int = 0
    momentum: float = 0.0


class ExplorerModel:
    """Settings -> a trained :class:`~eostutor.record.Run`, with no GUI.

    Tiny problems (dim ≤ 10) are trained without in-loop curvature and their exact sharpness is then
    measured at every iterate in one batched call (:func:`eostutor.training.with_exact_sharpness`): the
    same numbers as ``sharpness_every=1``, ~100x cheaper. Networks measure λ_max by warm-started Lanczos
    every ``preset.sharpness_every`` steps and stream partial runs through ``callback``.

    Args:
        presets: Name -> :class:`Preset` (default :data:`PRESETS`); a Problem instance may be added with
            :meth:`add_problem`.

    >>> model = ExplorerModel()
    >>> run = model.train(ExplorerSettings("quadratic", "constant", eta=0.25, num_steps=100))
    >>> run.diverged, float(run.sharpness[0])
    (True, 10.0)
    """

    def __init__(self, presets: dict[str, Preset] | None = None):
        self.presets = dict(PRESETS if presets is None else presets)
        self._problems: dict[str, Problem] = {}

    def add_problem(self, problem: Problem, name: str = "custom", eta: float = 0.1, num_steps: int = 300) -> str:
        """Offer a user's problem under ``name``; return the name."""
        if not isinstance(problem, Problem):
            raise ValueError(f"problem must be an eostutor Problem, got {type(problem).__name__}")
        extent = None
        if problem.dim == 2:
            w0 = problem.init(0).cpu().numpy()
            r = max(1.0, float(np.abs(w0).max()))
            extent = (-1.5 * r, 1.5 * r, -1.5 * r, 1.5 * r)
        self.presets[name] = Preset(name, lambda: problem, eta, num_steps, extent, repr(problem))
        self._problems[name] = problem
        return name

    def problem(self, name: str) -> Problem:
        """The (cached) problem of a preset."""
        check_choice("problem", name, self.presets)
        if name not in self._problems:
            self._problems[name] = self.presets[name].make()
        return self._problems[name]

    def is_tiny(self, name: str) -> bool:
        """Whether the preset's problem is tiny (fast, synchronous runs with exact curvature)."""
        return self.problem(name).dim <= 10

    def rule(self, settings: ExplorerSettings, problem: Problem):
        """The step-size rule for these settings: the η control's meaning depends on the rule (ETA_ROLE)."""
        name = check_choice("rule", settings.rule, WIDGET_RULES)
        eta = check_positive("eta", settings.eta)
        if name == "constant":
            return make_rule("constant", eta=eta)
        if name in ("ls", "nls"):
            return make_rule(name, eta0=eta)
        if name == "adgd":
            return make_rule("adgd", eta0=eta)
        if name == "nls-ub":
            return make_rule("nls-ub", cap=eta, eta0=min(1.0, eta / 2))
        return make_rule(name)

    def train(self, settings: ExplorerSettings, *, callback=None, callback_every: int = 10,
              should_stop=None) -> Run:
        """Train with these settings (the one loop: :func:`eostutor.training.train`)."""
        problem = self.problem(settings.problem)
        rule = self.rule(settings, problem)
        num_steps = check_int("num_steps", settings.num_steps, minimum=1, maximum=100_000)
        seed = check_int("seed", settings.seed, minimum=0)
        momentum = check_in_range("momentum", settings.momentum, 0.0, 1.0, high_inclusive=False)
        label = f"{settings.rule}, {ETA_ROLE.get(settings.rule) or 'η'} = {settings.eta:.3g}" \
            if settings.rule != "constant" else f"GD, η = {settings.eta:.3g}"
        if not ETA_ROLE.get(settings.rule, "η"):
            label = settings.rule
        if momentum > 0:
            label += f", β = {momentum:g}"
        if problem.dim <= 10:
            run = train(problem, rule, num_steps, seed=seed, momentum=momentum, should_stop=should_stop,
                        callback=callback, callback_every=callback_every, label=label, record_params=True)
            return with_exact_sharpness(problem, run)
        preset = self.presets[settings.problem]
        return train(problem, rule, num_steps, seed=seed, momentum=momentum, sharpness_every=preset.sharpness_every,
                     callback=callback, callback_every=callback_every, should_stop=should_stop, label=label)


class LatestWins:
    """Run jobs so that only the newest request matters (no queue of stale runs).

    ``submit(job)`` bumps a generation counter and calls ``job(is_stale)``: synchronously, or in one
    background thread that first waits for the previous thread (which stops soon: its ``is_stale()`` is
    now True and ``train`` polls it every step) and is skipped if it has itself gone stale meanwhile.

    >>> jobs = LatestWins()
    >>> seen = []
    >>> jobs.submit(lambda is_stale: seen.append(is_stale()), background=False)
    >>> seen
    [False]
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._generation = 0
        self._thread: threading.Thread | None = None

    @property
    def generation(self) -> int:
        """Number of requests so far."""
        return self._generation

    def cancel(self) -> None:
        """Make every running or waiting job stale."""
        with self._lock:
            self._generation += 1

    def submit(self, job: Callable[[Callable[[], bool]], None], background: bool) -> threading.Thread | None:
        """Run ``job(is_stale)`` as the newest request; return the thread if in the background."""
        with self._lock:
            self._generation += 1
            gen = self._generation
            prev = self._thread

        def is_stale() -> bool:
            return self._generation != gen

        if not background:
            if prev is not None:
                prev.join()
            job(is_stale)
            return None

        def target():
            if prev is not None:
                prev.join()
            if not is_stale():
                job(is_stale)

        thread = threading.Thread(target=target, name=f"eostutor-run-{gen}", daemon=True)
        with self._lock:
            self._thread = thread
        thread.start()
        return thread

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the newest background job; True if nothing is running any more."""
        t = self._thread
        if t is None:
            return True
        t.join(timeout)
        return not t.is_alive()

    def busy(self) -> bool:
        """Whether a background job is running."""
        t = self._thread
        return t is not None and t.is_alive()


def divergence_message(run: Run, problem: Problem | None = None) -> str:
    """A one-line explanation of a diverged run (plain text).

    >>> run = Run({"loss": np.ones(3), "eta": np.full(3, 0.3)}, diverged=True, diverged_at=3)
    >>> divergence_message(run, Quadratic([1.0, 10.0]))
    'diverged at step 3: η = 0.3 > 2/λ_max = 0.2, so the top direction grows by |1 − ηλ| > 1 each step'
    """
    msg = f"diverged at step {run.diverged_at}"
    eta = run.eta[np.isfinite(run.eta)]
    lam = getattr(problem, "sharpness", None) if isinstance(problem, Quadratic) else None
    if lam is not None and eta.size and np.allclose(eta, eta[0]) and eta[0] * lam > 2:
        return (f"{msg}: η = {eta[0]:.3g} > 2/λ_max = {2 / lam:.3g}, so the top direction grows by |1 − ηλ| > 1 "
                "each step")
    sharp = run.sharpness[np.isfinite(run.sharpness)]
    if eta.size and sharp.size:
        return f"{msg}: the loss blew up (last η·λ_max = {eta[-1] * sharp[-1]:.3g}; stable needs < 2)"
    return f"{msg}: the loss blew up"


# ==================================================================================================
# GUI
# ==================================================================================================
def _widgets():
    import ipywidgets

    return ipywidgets


def _interactive_backend() -> bool:
    """Whether the figure canvas is an ipywidget (ipympl, i.e. ``%matplotlib widget``/``ipympl``)."""
    backend = matplotlib.get_backend().lower()
    return "ipympl" in backend or backend in ("widget", "module://ipympl.backend_nbagg")


class LiveFigure:
    """A figure shown inside a widget: the ipympl canvas when available, else a PNG in an Image widget.

    Redraws are *blitted*: a full render happens only when something in the background changed (axis
    limits or scales, titles, labels, legend entries, collections such as contours, the figure size);
    otherwise the cached background is restored and only the lines are drawn on top of it (so a line may
    pass over a legend box until the next full render). The layout is
    computed once (constrained layout at the first draw) and then frozen: re-running the layout engine at
    every redraw costs more than drawing the lines.

    Args:
        figsize: Figure size in inches.
        dpi: Resolution (the PNG fallback uses it too).
        interactive: Force the ipympl path (True) or the PNG path (False); default: from the backend.

    Attributes:
        figure: The Figure.
        view: The widget to put in a layout (the ipympl canvas or an ``ipywidgets.Image``).
        full_draws, blits: How many redraws were full renders and how many were blits.
    """

    def __init__(self, figsize=(12, 6.5), dpi: int = 80, interactive: bool | None = None):
        w = _widgets()
        self.interactive = _interactive_backend() if interactive is None else bool(interactive)
        if self.interactive:
            import matplotlib.pyplot as plt

            with plt.ioff():
                self.figure = plt.figure(figsize=figsize, dpi=dpi, layout="constrained")
            canvas = self.figure.canvas
            for attr, value in (("header_visible", False), ("footer_visible", False), ("resizable", False),
                                ("toolbar_position", "left")):
                if hasattr(canvas, attr):
                    setattr(canvas, attr, value)
            # ipympl 0.10 bug: until the browser view reports "initialized", send_binary replaces the PNG it
            # is given by raw RGBA bytes (to keep a data-URL snapshot); our first draw happens before the
            # view exists, the browser cannot decode those bytes and the canvas stays 0x0 px (seen in the
            # browser test). Notebooks are committed without outputs, so the snapshot is not needed.
            if hasattr(canvas, "syncing_data_url"):
                canvas.syncing_data_url = False
            self.view = canvas
        else:
            from matplotlib.backends.backend_agg import FigureCanvasAgg

            self.figure = Figure(figsize=figsize, dpi=dpi, layout="constrained")
            FigureCanvasAgg(self.figure)
            self.view = w.Image(format="png", layout=w.Layout(width="auto", max_width="100%"))
        # We decide when to draw: no automatic redraw of a stale figure by pyplot's interactive mode
        # (it would render everything again after each set_data).
        self.figure.stale_callback = None
        self.dpi = dpi
        self._frozen = False
        self._background = None
        self._signature = None
        self.full_draws = 0
        self.blits = 0

    def relayout(self) -> None:
        """Recompute the layout at the next draw (after axes were added or removed)."""
        self.figure.set_layout_engine("constrained")
        self._frozen = False
        self._background = None

    def _dynamic(self) -> list:
        out = []
        for ax in self.figure.axes:
            if not ax.get_visible():
                continue
            out.extend(ax.lines)
        return out

    def _state(self) -> tuple:
        """Everything that, when changed, needs a full render rather than a blit."""
        parts = [tuple(self.figure.get_size_inches()), self.figure.dpi]
        for ax in self.figure.axes:
            parts.append((id(ax), ax.get_visible(), ax.get_xlim(), ax.get_ylim(), ax.get_xscale(), ax.get_yscale(),
                          ax.get_title(), ax.get_xlabel(), ax.get_ylabel(), ax.get_position().bounds,
                          tuple(id(c) for c in ax.collections), tuple(t.get_text() for t in ax.texts),
                          _legend_state(ax)))
        return tuple(parts)

    def render(self) -> None:
        """Fully render the figure in the kernel (what ipympl does when the browser asks for the image)."""
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        FigureCanvasAgg.draw(self.figure.canvas)

    def draw(self, full: bool = False) -> None:
        """Show the current state of the artists (blitting when only lines and legends changed)."""
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        canvas = self.figure.canvas
        dynamic = self._dynamic()
        state = self._state()
        if full or self._background is None or state != self._signature:
            if not self._frozen:
                FigureCanvasAgg.draw(canvas)  # constrained layout runs here, once
                self.figure.set_layout_engine("none")
                self._frozen = True
                dynamic, state = self._dynamic(), self._state()
            for a in dynamic:
                a.set_animated(True)
            try:
                FigureCanvasAgg.draw(canvas)  # the background: everything but lines and legends
            finally:
                for a in dynamic:
                    a.set_animated(False)  # so a full redraw (zoom, resize) still shows them
            self._background = canvas.copy_from_bbox(self.figure.bbox)
            self._signature = state
            self.full_draws += 1
        else:
            canvas.restore_region(self._background)
            self.blits += 1
        for a in dynamic:
            a.axes.draw_artist(a) if a.axes is not None else a.draw(canvas.get_renderer())
        self._publish()

    def _publish(self) -> None:
        canvas = self.figure.canvas
        if self.interactive:
            canvas.blit(self.figure.bbox)  # ipympl sends the changed pixels to the browser
            return
        from PIL import Image as PILImage

        width, height = canvas.get_width_height(physical=True)
        img = PILImage.frombuffer("RGBA", (width, height), canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
        buf = io.BytesIO()
        img.save(buf, format="png", compress_level=1)  # fast; the size does not matter in a notebook
        self.view.value = buf.getvalue()


def _legend_state(ax) -> tuple:
    leg = ax.get_legend()
    if leg is None:
        return ()
    return (leg.get_visible(), tuple(t.get_text() for t in leg.get_texts()))


def sticky_limits(ax, previous: tuple | None, axis: str = "y", keep: float = 0.5, slack: float = 0.05) -> None:
    """Keep an axis' previous limits when the new ones (nearly) fit inside them and are not much narrower.

    Small changes of the data (moving η a little) then leave the axes, ticks and labels unchanged, so the
    figure can be blitted instead of fully re-rendered. ``keep`` is the smallest fraction of the previous
    span (in the axis' scale: log for log axes) the new span may have; ``slack`` is how far (as a fraction
    of the previous span) the new limits may stick out: the autoscale margins absorb that much.

    >>> import matplotlib.figure
    >>> ax = matplotlib.figure.Figure().subplots()
    >>> ax.set_ylim(0.0, 9.0)
    (0.0, 9.0)
    >>> sticky_limits(ax, (0.0, 10.0)); tuple(float(v) for v in ax.get_ylim())
    (0.0, 10.0)
    """
    if previous is None:
        return
    get = ax.get_ylim if axis == "y" else ax.get_xlim
    set_ = ax.set_ylim if axis == "y" else ax.set_xlim
    scale = ax.get_yscale() if axis == "y" else ax.get_xscale()
    new = get()

    def t(v):
        return math.log10(v) if scale == "log" else v

    try:
        lo0, hi0, lo1, hi1 = t(previous[0]), t(previous[1]), t(new[0]), t(new[1])
    except ValueError:
        return
    span = hi0 - lo0
    if not (math.isfinite(span) and span > 0):
        return
    if lo1 >= lo0 - slack * span and hi1 <= hi0 + slack * span and (hi1 - lo1) >= keep * span:
        set_(*previous)


class _LiveWidget:
    """Shared GUI machinery: status line, progress bar, error output, figure, latest-wins jobs."""

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

    # -- display ------------------------------------------------------------------------------------
    def display(self):
        """Show the widget in the notebook (also what a bare expression at the end of a cell does)."""
        from IPython.display import display

        display(self.widget)

    def _ipython_display_(self):
        self.display()

    # -- messages -----------------------------------------------------------------------------------
    def _say(self, text: str, kind: str = "info") -> None:
        colors = {"info": "#333333", "ok": "#009E73", "warn": "#D55E00", "bad": "#D55E00"}
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
        """Block until the background run is done (tests, scripts); True if nothing is running."""
        return self.jobs.wait(timeout)

    def close(self) -> None:
        """Stop any running job and close the figure and widgets."""
        self.jobs.cancel()
        self.jobs.wait(5.0)
        import matplotlib.pyplot as plt

        plt.close(self.figure)
        if self.widget is not None:
            self.widget.close()

    def _observe(self, name: str, callback) -> None:
        self.controls[name].observe(self._guard(lambda change: callback()), names="value")


def _log_slider(value: float, lo: float, hi: float, description: str = "η"):
    w = _widgets()
    return w.FloatLogSlider(value=value, base=10, min=math.log10(lo), max=math.log10(hi), step=0.01,
                            description=description, continuous_update=False, readout_format=".3g",
                            style={"description_width": "70px"}, layout=w.Layout(width="380px"))


_PANEL_TITLES = {"loss": "Training loss", "sharpness": "Sharpness λ_max and 2/η", "eta_sharpness": "η·λ_max",
                 "step_size": "Step size η_k", "test_accuracy": "Test accuracy",
                 "layer_grad_norms": "Layer gradient norms"}


# --------------------------------------------------------------------------------------------------
class StepSizeExplorer(_LiveWidget):
    """Choose a problem, a step-size rule and η; watch loss, sharpness, η·λ_max and the iterates.

    Args:
        problem: A preset name (see :data:`PRESETS`) or a Problem (added to the menu as "custom").
        rules: Rule names for the menu (default :data:`WIDGET_RULES`).
        rule: Initial rule.
        eta: Initial η (default: the preset's).
        num_steps: Initial number of steps (default: the preset's).
        seed: Initial seed.
        momentum: Initial heavy-ball β (constant rule only).
        background: Run in a background thread: ``None`` = networks and toy runs over ``sync_max_steps``
            steps (default), True/False = always/never.
        interactive: Force the ipympl canvas (True) or the PNG fallback (False); default from the backend.

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
                 background: bool | None = None, interactive: bool | None = None, presets=None):
        super().__init__(figsize=(11, 6.2), interactive=interactive)
        w = _widgets()
        self.model = ExplorerModel(presets)
        if isinstance(problem, Problem):
            problem = self.model.add_problem(problem)
        problem = "quadratic" if problem is None else check_choice("problem", problem, self.model.presets)
        rules = tuple(WIDGET_RULES if rules is None else rules)
        for r in rules:
            check_choice("rule", r, WIDGET_RULES)
        check_choice("rule", rule, rules)
        self.background = background
        preset = self.model.presets[problem]
        self.controls = {
            "problem": w.Dropdown(options=list(self.model.presets), value=problem, description="problem",
                                  style={"description_width": "70px"}),
            "rule": w.Dropdown(options=list(rules), value=rule, description="rule",
                               style={"description_width": "70px"}),
            "eta": _log_slider(preset.eta if eta is None else check_positive("eta", eta), 1e-3, 1e2),
            "num_steps": w.IntSlider(value=preset.num_steps if num_steps is None else num_steps, min=10,
                                     max=5000, step=10, description="steps", continuous_update=False,
                                     style={"description_width": "70px"}),
            "seed": w.BoundedIntText(value=seed, min=0, max=10_000, description="seed",
                                     style={"description_width": "70px"}, layout=w.Layout(width="170px")),
            "momentum": w.FloatSlider(value=momentum, min=0.0, max=0.95, step=0.05, description="momentum β",
                                      continuous_update=False, style={"description_width": "90px"}),
        }
        self.help = w.HTML()
        left = w.VBox([self.controls["problem"], self.controls["rule"], self.controls["eta"]])
        right = w.VBox([self.controls["num_steps"], self.controls["momentum"], self.controls["seed"]])
        self.widget = w.VBox([w.HBox([left, right]), self.help, w.HBox([self.progress, self.status]),
                              self.live.view, self.output])
        self._kind = None
        self.axes: dict[str, object] = {}
        self._observe("problem", self._on_problem)
        for name in ("rule", "eta", "num_steps", "seed", "momentum"):
            self._observe(name, self.update)
        self._guard(self._on_problem)(reset=False)

    def __repr__(self) -> str:
        s = self.settings
        return f"StepSizeExplorer(problem={s.problem!r}, rule={s.rule!r}, eta={s.eta:.3g}, num_steps={s.num_steps})"

    @property
    def settings(self) -> ExplorerSettings:
        """The current control values as model settings."""
        c = self.controls
        return ExplorerSettings(c["problem"].value, c["rule"].value, float(c["eta"].value),
                                int(c["num_steps"].value), int(c["seed"].value), float(c["momentum"].value))

    # -- figure ---------------------------------------------------------------------------------------
    def _build_axes(self, kind: str) -> None:
        fig = self.figure
        fig.clear()
        gs = fig.add_gridspec(2, 3)
        ax = {"loss": fig.add_subplot(gs[0, 0])}
        ax["sharpness"] = fig.add_subplot(gs[0, 1], sharex=ax["loss"])
        ax["eta_sharpness"] = fig.add_subplot(gs[1, 0], sharex=ax["loss"])
        ax["step_size"] = fig.add_subplot(gs[1, 1], sharex=ax["loss"])
        if kind == "toy2d":
            ax["trajectory"] = fig.add_subplot(gs[:, 2])
        elif kind == "network":
            ax["test_accuracy"] = fig.add_subplot(gs[0, 2], sharex=ax["loss"])
            ax["layer_grad_norms"] = fig.add_subplot(gs[1, 2], sharex=ax["loss"])
        else:  # 1-D toy
            ax["trajectory"] = fig.add_subplot(gs[:, 2])
        self.axes = ax
        self._kind = kind
        self.live.relayout()

    def _draw(self, run: Run, settings: ExplorerSettings, force: bool = True) -> None:
        """Update every panel's artists from ``run`` and redraw (throttled while streaming)."""
        now = time.perf_counter()
        if not force and now - self._last_draw < self.redraw_interval:
            return
        with self._draw_lock:
            t0 = time.perf_counter()
            problem = self.model.problem(settings.problem)
            if (problem.dim > 10) != (self._kind == "network"):
                return  # a stale run of the previous problem: the panels were rebuilt meanwhile
            for name, ax in self.axes.items():
                if name == "trajectory":
                    extent = self._extent(problem, run, settings)
                    plots.trajectory(problem, run, ax=ax, extent=extent, markers=run.num_steps <= 400,
                                     title="Iterates on the loss landscape")
                else:
                    # keep the limits only between runs of the same problem
                    previous = ax.get_ylim() if ax.lines and self._drawn_problem == settings.problem else None
                    # Legends without the run's name (it contains η, which changes at every slider move and
                    # would force a full render); the status line and the slider say which run it is.
                    plots.DASHBOARD_PANELS[name](run, ax=ax, title=_PANEL_TITLES.get(name), legend="references")
                    if name != "test_accuracy":
                        sticky_limits(ax, previous)
                    ax.set_xlim(0, max(1, int(settings.num_steps)))
            t1 = time.perf_counter()
            self._drawn_problem = settings.problem
            self.live.draw()
            self._last_draw = time.perf_counter()
            self.timings.update(artists=t1 - t0, render=self._last_draw - t1)

    def _extent(self, problem: Problem, run: Run, settings: ExplorerSettings):
        preset = self.model.presets[settings.problem]
        extent = list(preset.extent) if preset.extent is not None else None
        if problem.dim == 1:
            w0 = float(run.params[0, 0])
            r = max(1.0, 1.3 * abs(w0))
            return (-r, r)
        if extent is None:
            return None
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
        kind = "network" if problem.dim > 10 else ("toy2d" if problem.dim == 2 else "toy")
        self.help.value = f'<span style="color:#555">{html.escape(preset.description)}</span>'
        # New problem: its own default η and steps (without triggering two extra runs), a fresh layout.
        if reset:
            with self._hold():
                self.controls["eta"].value = preset.eta
                self.controls["num_steps"].value = preset.num_steps
        if kind != self._kind:
            self.jobs.cancel()  # a running run of the old problem must not draw into the new panels
            with self._draw_lock:
                self._build_axes(kind)
        self.update()

    def _hold(self):
        explorer = self

        class _Hold:
            def __enter__(self):
                explorer._holding = True

            def __exit__(self, *exc):
                explorer._holding = False

        return _Hold()

    _holding = False
    _drawn_problem = None

    def update(self) -> None:
        """Re-run with the current control values (called by every control)."""
        if self._holding:
            return
        settings = self.settings
        self._clear_output()
        role = ETA_ROLE.get(settings.rule, "η")
        self.controls["eta"].description = role or "η (unused)"
        self.controls["eta"].disabled = not role
        self.controls["momentum"].disabled = settings.rule != "constant"
        tiny = self.model.is_tiny(settings.problem)
        # Long runs go to the background thread with a progress bar, so the kernel never blocks for long.
        heavy = not tiny or settings.num_steps > self.sync_max_steps
        background = heavy if self.background is None else self.background
        if settings.momentum > 0 and settings.rule != "constant":
            # rejected before any work: train would refuse it too, with the same message
            raise ValueError(f"momentum β = {settings.momentum:g} is only available with the constant rule, "
                             f"not {settings.rule!r}; set β = 0 or choose 'constant'")
        self.jobs.submit(lambda is_stale: self._job(settings, is_stale, streaming=not tiny, progress=heavy),
                         background)

    def _job(self, settings: ExplorerSettings, is_stale, streaming: bool, progress: bool = True) -> None:
        try:
            start = time.perf_counter()
            if progress:
                self._progress(0.0)
                self._say(f"training {settings.num_steps} steps …")

            def on_partial(partial: Run) -> None:
                if is_stale():
                    return
                self._progress(partial.num_steps / settings.num_steps)
                self._say(f"training: step {partial.num_steps} / {settings.num_steps}")
                if streaming:  # toy runs get their curvature at the end: only the progress bar moves
                    self._draw(partial, settings, force=False)

            run = self.model.train(settings, callback=on_partial if progress else None,
                                   callback_every=10 if streaming else 200, should_stop=is_stale)
            self.timings["model"] = time.perf_counter() - start
            if is_stale():
                if run.interrupted:
                    self.cancelled.append(run)
                return
            self.run = run
            self._draw(run, settings)
            self.last_update_seconds = time.perf_counter() - start
            self._progress(None)
            self._finish_message(run, settings)
        except Exception as exc:  # noqa: BLE001 - shown in the widget
            if not is_stale():
                self._report(exc)

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


# --------------------------------------------------------------------------------------------------
class BifurcationExplorer(_LiveWidget):
    """Sweep η on a 2-D toy; slide (or click) an η to see that run's iterates and loss.

    The sweep (:func:`eostutor.experiments.bifurcation_sweep`) is computed once, in the background, with a
    progress bar; the selected η's run is trained on demand (milliseconds).

    Args:
        problem: A 2-D preset name or Problem (default: the minimalist example).
        etas: Step sizes of the sweep (default 80 values over [0.05, 0.7]).
        num_steps: Steps per run.
        keep_last: Final iterates kept per η.
        w0: Common starting point (default (2.0, 0.45): on the sharp part of the minimalist valley).
        eta: Initially selected η.
        quantity: What the diagram shows: "sharpness", "loss", "w1" or "w2".
        background: Compute the sweep in a background thread (default True).
        interactive: See :class:`StepSizeExplorer`.
    """

    def __init__(self, problem: str | Problem = "minimalist", etas=None, *, num_steps: int = 300,
                 keep_last: int = 50, w0=(2.0, 0.45), eta: float = 0.3, quantity: str = "sharpness",
                 background: bool = True, interactive: bool | None = None):
        super().__init__(figsize=(11, 4.8), interactive=interactive)
        w = _widgets()
        self.model = ExplorerModel()
        name = self.model.add_problem(problem) if isinstance(problem, Problem) else check_choice(
            "problem", problem, self.model.presets)
        self.problem = self.model.problem(name)
        if self.problem.dim != 2:
            raise ValueError(f"BifurcationExplorer needs a 2-D problem, got dim={self.problem.dim}")
        self.preset = self.model.presets[name]
        self.etas = np.linspace(0.05, 0.7, 80) if etas is None else np.asarray(etas, dtype=float)
        self.num_steps = check_int("num_steps", num_steps, minimum=1)
        self.keep_last = check_int("keep_last", keep_last, minimum=1, maximum=self.num_steps + 1)
        self.w0 = torch.as_tensor(np.asarray(w0, dtype=float), dtype=self.problem.dtype) if w0 is not None \
            else self.problem.init(0)
        self.sweep = None
        self.controls = {
            "eta": _log_slider(eta, float(self.etas.min()), float(self.etas.max())),
            "quantity": w.ToggleButtons(options=["sharpness", "loss", "w1", "w2"],
                                        value=check_choice("quantity", quantity, ["sharpness", "loss", "w1", "w2"]),
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
        self.select()
        self.jobs.submit(self._sweep_job, background)

    def __repr__(self) -> str:
        return f"BifurcationExplorer({self.problem!r}, {len(self.etas)} step sizes)"

    def _sweep_job(self, is_stale) -> None:
        try:
            self._progress(0.0)
            self._say(f"sweeping {len(self.etas)} step sizes …")

            def tick(i, n):
                self._progress(i / n)

            sweep = bifurcation_sweep(self.problem, self.etas, self.num_steps, self.keep_last, self.w0,
                                      callback=tick)
            self.sweep = sweep
            self._progress(None)
            self._redraw_diagram()
            self._say(f"swept {len(self.etas)} step sizes in {sweep.wall_time:.1f} s; "
                      f"{int(sweep.diverged.sum())} diverged", "ok")
        except Exception as exc:  # noqa: BLE001
            self._report(exc)

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
        run = train(self.problem, eta, self.num_steps, w0=self.w0, record_params=True,
                    label=f"GD, η = {eta:.3g}")
        self.run = with_exact_sharpness(self.problem, run)
        with self._draw_lock:
            plots.trajectory(self.problem, self.run, ax=self.axes["trajectory"], extent=self.preset.extent,
                             markers=False, title=f"Iterates, η = {eta:.3g}")
            plots.loss(self.run, ax=self.axes["loss"], title=None)
            ax = self.axes["bifurcation"]
            if self.sweep is not None:
                plots.bifurcation(self.sweep, ax=ax, quantity=self.controls["quantity"].value, eta=eta)
            else:
                ax.set_xlim(self.etas.min(), self.etas.max())
                ax.set_title("Long-run behaviour against η (computing …)", fontsize=plots.FONT["title"])
            self.live.draw()
        self.last_update_seconds = time.perf_counter() - start
        if self.run.diverged:
            self._say(divergence_message(self.run, self.problem), "warn")
        elif self.sweep is not None:
            self._say(f"η = {eta:.3g}: final loss {self.run.final_loss:.3g}, final λ_max "
                      f"{self.run.sharpness[-1]:.3g} (2/η = {2 / eta:.3g})", "ok")


# --------------------------------------------------------------------------------------------------
class SmoothnessExplorer(_LiveWidget):
    """The segment-smoothness curve (Flatland's Figure 4) at a chosen iterate of a run.

    Trains one run (recording the iterates), then for the iterate k chosen with the slider computes
    ‖∇f(w_k) − ∇f(w_k − s g)‖/(s‖g‖) over s ∈ [1e-3, 10]
    (:func:`eostutor.spectrum.segment_smoothness`)
    and marks the accepted step η_k, λ_max(w_k) and the 2/K floor.

    Args:
        problem: A preset name or Problem (default "mlp-digits").
        rule: Rule name (default "nls").
        num_steps: Steps of the run.
        steps: The s grid (default 40 log-spaced values in [1e-3, 10]).
        run: An existing run to inspect instead (must have ``params``; give its ``problem`` too).
        background: Train in a background thread (default: for networks).
        interactive: See :class:`StepSizeExplorer`.
    """

    def __init__(self, problem: str | Problem = "mlp-digits", rule: str = "nls", *, num_steps: int = 100,
                 eta: float | None = None, steps=None, run: Run | None = None, background: bool | None = None,
                 interactive: bool | None = None):
        super().__init__(figsize=(11, 4.4), interactive=interactive)
        w = _widgets()
        self.model = ExplorerModel()
        name = self.model.add_problem(problem) if isinstance(problem, Problem) else check_choice(
            "problem", problem, self.model.presets)
        self.problem = self.model.problem(name)
        self.steps = np.geomspace(1e-3, 10.0, 40) if steps is None else np.asarray(steps, dtype=float)
        self.result = None
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
        settings = ExplorerSettings(name, check_choice("rule", rule, WIDGET_RULES),
                                    self.model.presets[name].eta if eta is None else eta, num_steps)
        if run is not None:
            if "params" not in run.arrays:
                raise ValueError(f"{run!r} has no recorded iterates: train with record_params=True")
            self._set_run(run)
        else:
            tiny = self.problem.dim <= 10
            bg = (not tiny) if background is None else background
            self.jobs.submit(lambda is_stale: self._train_job(settings, is_stale), bg)

    def __repr__(self) -> str:
        return f"SmoothnessExplorer({self.problem!r}, iterate={self.controls['iterate'].value})"

    def _train_job(self, settings: ExplorerSettings, is_stale) -> None:
        try:
            self._progress(0.0)
            self._say(f"training {settings.num_steps} steps with {settings.rule} …")
            rule = self.model.rule(settings, self.problem)

            def tick(partial):
                self._progress(partial.num_steps / settings.num_steps)

            run = train(self.problem, rule, settings.num_steps, sharpness_every=10 if self.problem.dim > 10 else 1,
                        record_params=True, callback=tick, should_stop=is_stale, label=settings.rule)
            if is_stale():
                return
            self._progress(None)
            self._set_run(run)
        except Exception as exc:  # noqa: BLE001
            if not is_stale():
                self._report(exc)

    def _set_run(self, run: Run) -> None:
        self.run = run
        last = max(0, min(run.num_steps, len(run.params)) - 1)
        slider = self.controls["iterate"]
        with self._draw_lock:
            slider.max = last
            self._guard(self.select)()

    def select(self) -> None:
        """Compute and draw the smoothness curve at the selected iterate."""
        if self.run is None:
            return
        self._clear_output()
        run = self.run
        k = int(self.controls["iterate"].value)
        k = min(k, run.num_steps - 1)
        w_k = torch.as_tensor(run.params[k], dtype=self.problem.dtype)
        self.result = segment_smoothness(self.problem, w_k, self.steps)
        lam = float(run.sharpness[k]) if np.isfinite(run.sharpness[k]) else measure_sharpness(
            self.problem, w_k).value
        eta_k = float(run.eta[k]) if k < run.num_steps else math.nan
        floor = float(self.problem.sharpness_floor)
        with self._draw_lock:
            plots.segment_smoothness(self.result, ax=self.axes["smoothness"], eta=eta_k, sharpness=lam,
                                     floor=floor or None, title=f"Smoothness along −g at iterate k = {k}")
            ax = self.axes["loss"]
            plots.loss(run, ax=ax, title=None, legend=False)
            marker = plots.find(ax, "smoothness:iterate")
            if marker is None:
                marker = ax.axvline(k, color=plots.OKABE_ITO["vermillion"], linewidth=1.6, gid="smoothness:iterate")
            marker.set_xdata([k, k])
            ax.set_title(f"Training loss (iterate k = {k} marked)", fontsize=plots.FONT["title"])
            self.live.draw()
        l_eta = float(np.nanmax(self.result.smoothness[self.result.steps <= eta_k])) if np.any(
            self.result.steps <= eta_k) else math.nan
        large = "large" if eta_k * l_eta >= 1 else "small"
        self._say(f"k = {k}: η_k = {eta_k:.3g}, λ_max = {lam:.3g}, η_k·λ_max = {eta_k * lam:.3g}, "
                  f"η_k·l(w, η_k) = {eta_k * l_eta:.3g} ({large} step)", "ok")


# --------------------------------------------------------------------------------------------------
#: Rules of :class:`FlatlandLab`'s menus: the Flatland comparison's (GD-warmup, GD-warmup-ub and the two
#: ablations of NLS-ub included, see :data:`eostutor.experiments.FLATLAND_RULES`), then the other widget rules.
FLATLAND_LAB_RULES = tuple(dict.fromkeys(("nls", "nls-ub", "constant") + FLATLAND_RULES + WIDGET_RULES))


def flatland_lab_rule(name: str, num_classes: int | None, eta: float = 8.0):
    """The rule and legend label of a :class:`FlatlandLab` menu entry.

    Names of :data:`eostutor.experiments.FLATLAND_RULES` get the paper's constants
    (:func:`eostutor.experiments.flatland_rule`; NLS-ub's cap is K); ``"constant"`` is GD with step ``eta``
    (the only rule that uses it); the other rules get their defaults.

    >>> flatland_lab_rule("constant", 10, eta=8.0)[1], flatland_lab_rule("warmup-ub", 10)[1]
    ('GD, η = 8', 'GD-warmup-ub')
    >>> flatland_lab_rule("nls-cap-only", 10)[1]
    'NLS (cap only)'
    """
    name = check_choice("rule", name, FLATLAND_LAB_RULES)
    if name == "constant":
        rule = make_rule("constant", eta=check_positive("eta", eta))
    elif name in FLATLAND_RULES:
        if num_classes is None:
            raise ValueError(f"rule {name!r} needs a classification problem (num_classes K); got one without K")
        rule = flatland_rule(name, num_classes)
    else:
        rule = make_rule(name)
    label = rule_label(rule) if name in STEPSIZE_RULES else flatland_label(name)
    return rule, label


class FlatlandLab(_LiveWidget):
    """Two rules side by side on a ReLU network with K-class MSE (default: NLS vs NLS-ub in Flatland).

    Columns = rules; rows = the panels of the paper's Figure 3 plus the step size: loss, sharpness (with
    2/η_k and the 2/K floor), η·λ_max (with 1 − c and 2), step size (with η = K), layer gradient norms
    (hidden vs last bias) and test accuracy. Each row shares its y-axis (limits spanning both runs) so the
    two runs compare at a glance. Both runs stream (A then B) in a background thread; changing a control
    cancels them ("latest wins").

    Each side has a rule menu (:data:`FLATLAND_LAB_RULES`) and an η slider that applies to the
    ``"constant"`` rule only (constant-step GD at η = 8–9 is the most reliable route into Flatland for
    K = 10); it is disabled for the other rules, which choose η themselves (NLS-ub's cap stays K).

    Args:
        rules: The two rule names (default ("nls", "nls-ub")).
        num_steps: Steps per run.
        seed: Initialisation seed, the same for both (default :data:`eostutor.experiments.FLATLAND_SEED`).
        problem: A network Problem (default :func:`eostutor.experiments.flatland_problem`, the Flatland
            setting: 4×16 ReLU MLP, 500 digits, MSE, K = 10).
        eta: The constant rule's η, one number for both sides or a pair (default 8).
        sharpness_every: λ_max measurement interval.
        background: Train in a background thread (default True).
        interactive: See :class:`StepSizeExplorer`.
    """

    ROWS = ("loss", "sharpness", "eta_sharpness", "step_size", "layer_grad_norms", "test_accuracy")

    def __init__(self, rules=("nls", "nls-ub"), *, num_steps: int = 300, seed: int | None = None,
                 problem: Problem | None = None, eta=8.0, sharpness_every: int = 10, background: bool = True,
                 interactive: bool | None = None):
        super().__init__(figsize=(11, 13), interactive=interactive)
        w = _widgets()
        self.problem = flatland_problem() if problem is None else problem
        if not isinstance(self.problem, Problem):
            raise ValueError(f"problem must be an eostutor Problem, got {type(self.problem).__name__}")
        self.sharpness_every = check_int("sharpness_every", sharpness_every, minimum=1)
        self.background = background
        seed = FLATLAND_SEED if seed is None else check_int("seed", seed, minimum=0)
        rules = list(rules)
        if len(rules) != 2:
            raise ValueError(f"FlatlandLab compares exactly two rules, got {rules!r}")
        etas = [eta, eta] if np.ndim(eta) == 0 else list(eta)
        if len(etas) != 2:
            raise ValueError(f"eta must be one number or a pair, got {eta!r}")
        etas = [check_positive("eta", float(e)) for e in etas]
        options = list(FLATLAND_LAB_RULES)
        self.controls = {
            "rule_a": w.Dropdown(options=options, value=check_choice("rule", rules[0], options), description="left"),
            "eta_a": _log_slider(etas[0], 1e-2, 1e2),
            "rule_b": w.Dropdown(options=options, value=check_choice("rule", rules[1], options), description="right"),
            "eta_b": _log_slider(etas[1], 1e-2, 1e2),
            "num_steps": w.IntSlider(value=num_steps, min=10, max=3000, step=10, description="steps",
                                     continuous_update=False),
            "seed": w.BoundedIntText(value=seed, min=0, max=10_000, description="seed",
                                     layout=w.Layout(width="170px")),
        }
        self.runs: list[Run | None] = [None, None]
        self._ylims: dict = {}
        fig = self.figure
        axs = fig.subplots(len(self.ROWS), 2, sharex="col", sharey="row")
        self.axes = {(row, col): axs[i, col] for i, row in enumerate(self.ROWS) for col in range(2)}
        c = self.controls
        self.widget = w.VBox([w.HBox([w.VBox([c["rule_a"], c["eta_a"]]), w.VBox([c["rule_b"], c["eta_b"]])]),
                              w.HBox([c["num_steps"], c["seed"]]),
                              w.HBox([self.progress, self.status]), self.live.view, self.output])
        for name in ("rule_a", "rule_b", "num_steps", "seed"):
            self._observe(name, self.update)
        for side in ("a", "b"):  # η re-runs only when that side's rule uses it
            self._observe(f"eta_{side}", lambda side=side: self.update() if self._uses_eta(side) else None)
        self._guard(self.update)()

    def __repr__(self) -> str:
        a, b = self.controls["rule_a"].value, self.controls["rule_b"].value
        return f"FlatlandLab({a!r} vs {b!r} on {self.problem!r})"

    def _uses_eta(self, side: str) -> bool:
        return self.controls[f"rule_{side}"].value == "constant"

    def _eta(self, side: str) -> float:
        return float(f"{float(self.controls[f'eta_{side}'].value):.3g}")  # log-slider values: 3 digits

    def _rule(self, name: str, eta: float = 8.0):
        """The rule of a menu entry (see :func:`flatland_lab_rule`)."""
        return flatland_lab_rule(name, getattr(self.problem, "num_classes", None), eta)[0]

    def update(self) -> None:
        """Re-run both rules with the current controls (cancels a running pair)."""
        self._clear_output()
        for side in ("a", "b"):
            self.controls[f"eta_{side}"].disabled = not self._uses_eta(side)
        specs = [(self.controls[f"rule_{side}"].value, self._eta(side)) for side in ("a", "b")]
        num_steps = int(self.controls["num_steps"].value)
        seed = int(self.controls["seed"].value)
        self.jobs.submit(lambda is_stale: self._job(specs, num_steps, seed, is_stale), self.background)

    def _job(self, specs, num_steps: int, seed: int, is_stale) -> None:
        try:
            self.runs = [None, None]
            self._ylims = {}
            K = getattr(self.problem, "num_classes", None)
            built = [flatland_lab_rule(name, K, eta) for name, eta in specs]  # bad settings: rejected first
            for col, (rule, label) in enumerate(built):
                def on_partial(partial, col=col, label=label):
                    if is_stale():
                        return
                    self._progress((col + partial.num_steps / num_steps) / 2)
                    self._say(f"{label}: step {partial.num_steps} / {num_steps}")
                    self._draw_column(col, partial, force=False)

                run = train(self.problem, rule, num_steps, seed=seed, sharpness_every=self.sharpness_every,
                            callback=on_partial, callback_every=10, should_stop=is_stale, label=label)
                if is_stale():
                    if run.interrupted:
                        self.cancelled.append(run)
                    return
                self.runs[col] = run
                self._draw_column(col, run, force=True)
            self.run = self.runs[1]
            self._progress(None)
            parts = []
            for r in self.runs:
                if r.diverged:
                    parts.append(f"{r.label}: {divergence_message(r, self.problem)}")
                    continue
                s = r.summary()
                acc = r.test_accuracy[np.isfinite(r.test_accuracy)]
                extra = f", test acc. {acc[-1]:.2f}" if acc.size else ""
                parts.append(f"{r.label}: final loss {s['final_loss']:.3g}, λ_max {s['final_sharpness']:.3g}{extra}")
            self._say("; ".join(parts), "warn" if any(r.diverged for r in self.runs) else "ok")
        except Exception as exc:  # noqa: BLE001
            if not is_stale():
                self._report(exc)

    def _draw_column(self, col: int, run: Run, force: bool) -> None:
        now = time.perf_counter()
        if not force and now - self._last_draw < self.redraw_interval:
            return
        with self._draw_lock:
            for row in self.ROWS:
                ax = self.axes[(row, col)]
                plots.DASHBOARD_PANELS[row](run, ax=ax, title=run.label if row == "loss" else _PANEL_TITLES.get(row))
                ax.set_xlim(0, int(self.controls["num_steps"].value))
                # the row shares its y-axis: limits spanning both columns of this pair, not the last drawn
                self._ylims[(row, col)] = ax.get_ylim()
                lims = [v for (r, _), v in self._ylims.items() if r == row]
                lo, hi = min(v[0] for v in lims), max(v[1] for v in lims)
                if np.isfinite(lo) and np.isfinite(hi) and hi > lo:
                    ax.set_ylim(lo, hi)
                if col == 1:
                    ax.set_ylabel("")
                if row != self.ROWS[-1]:
                    ax.set_xlabel("")
            self.live.draw()
            self._last_draw = time.perf_counter()
