"""The one setup call of every course notebook.

``setup()`` fixes the seed, picks one CPU thread (fastest for these small problems, and Binder has one
core), reads the notebook *fast mode* (the environment variable ``EOSTUTOR_FAST=1``, set by the test
suite, shrinks step counts) and prints what it did, so a screenshot of any notebook says which version
and mode produced it.
"""

from __future__ import annotations

import html
import os
from dataclasses import dataclass

__all__ = ["CourseSettings", "setup", "expect", "predict", "Prediction", "in_test_suite", "FAST_ENV", "SUITE_ENV"]

#: The environment variable that switches notebooks to fast mode.
FAST_ENV = "EOSTUTOR_FAST"
#: The environment variable the test suite sets while it runs the notebooks (``make test``): a broken
#: lesson fails there, while a learner who changes a parameter to explore only gets a warning.
SUITE_ENV = "EOSTUTOR_SUITE"


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def in_test_suite() -> bool:
    """Whether the notebooks are being run by the test suite (``EOSTUTOR_SUITE=1``)."""
    return _flag(SUITE_ENV)


@dataclass(frozen=True)
class CourseSettings:
    """What a notebook needs to know about how it is being run.

    Attributes:
        fast: Fast mode (tests, quick previews): fewer steps, same lessons.
        seed: The notebook's seed.
        threads: Torch CPU threads in use.
    """

    fast: bool
    seed: int
    threads: int

    def steps(self, full: int, fast: int) -> int:
        """``full`` normally, ``fast`` in fast mode.

        >>> CourseSettings(fast=True, seed=0, threads=1).steps(2000, fast=300)
        300
        """
        return int(fast if self.fast else full)

    def __repr__(self) -> str:
        mode = "fast mode" if self.fast else "full mode"
        return f"CourseSettings({mode}, seed={self.seed}, threads={self.threads})"


def setup(seed: int = 0, threads: int = 1, verbose: bool = True) -> CourseSettings:
    """Prepare a notebook: seed, threads, fast mode; prints one line.

    Args:
        seed: Seed for torch and NumPy's global generators (the library itself always takes explicit
            seeds; this only covers ad-hoc random calls in a notebook).
        threads: Torch CPU threads (1 is fastest for networks of a few thousand parameters).
        verbose: Print the versions and the mode.

    Returns:
        A :class:`CourseSettings`.
    """
    from eostutor._validate import check_int

    seed = check_int("seed", seed, minimum=0)
    threads = check_int("threads", threads, minimum=1)
    import numpy as np
    import scipy.sparse.linalg  # noqa: F401  (load SciPy's BLAS before limiting threads)
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    np.random.seed(seed)
    fast = _flag(FAST_ENV)
    settings = CourseSettings(fast=fast, seed=seed, threads=threads)
    _enable_colab_widgets()
    if verbose:
        from eostutor._version import __version__

        mode = "FAST mode (shortened runs)" if fast else "full mode"
        print(f"eostutor {__version__} · torch {torch.__version__} · {mode} · seed {seed} · {threads} thread(s)")
    return settings


def _enable_colab_widgets() -> bool:
    """In Google Colab, switch on third-party widgets (the explorers' bqplot panels); elsewhere nothing."""
    import sys

    if "google.colab" not in sys.modules:
        return False
    from google.colab import output  # pragma: no cover - only inside Colab

    output.enable_custom_widget_manager()  # pragma: no cover
    return True  # pragma: no cover


def expect(value: float, low: float, high: float, what: str, digits: int = 3) -> None:
    """Print a teaching fact with its expected range; outside it, explain (for a learner) or fail (in the
    test suite).

    The notebooks state what the learner should see (e.g. "sharpness / (2/η) ≈ 1") through this call, so
    running the course under the test suite catches a regression in the science, and a learner sees the
    number rounded next to the range the theory predicts. A learner who changed a parameter to explore
    (η = 4 where the lesson used 2) gets a warning that says so, not an error. It returns nothing, so a
    notebook cell that ends with it shows only the printed line, not the value again. In a notebook, while
    the latest :func:`predict` question is not locked in, the line waits for the lock like the result
    itself (after "Run All" it would otherwise give the answer away).

    Args:
        value: The measured number.
        low: Lower end of the range the lesson predicts (inclusive).
        high: Upper end of that range (inclusive).
        what: What the number is, e.g. ``"median η·λ_max / 2 over the last third"``.
        digits: Significant digits printed.

    Raises:
        AssertionError: In the test suite (:func:`in_test_suite`), if ``value`` is outside ``[low, high]``
            or not finite: a sign that something in the library changed.

    >>> expect(1.01, 0.9, 1.15, "sharpness / (2/η)")
    ✔ sharpness / (2/η) = 1.01   (expected between 0.9 and 1.15)
    """
    import math

    try:
        value = float(value)
    except (TypeError, ValueError):
        value = math.nan
    ok = math.isfinite(value) and low <= value <= high
    text = f"{what} = {value:.{digits}g}   (expected between {low:g} and {high:g})"
    _record_fact(what, value, low, high, ok)
    if ok:
        _show("✔ " + text)
    elif in_test_suite():
        raise AssertionError("✘ " + text + ": this contradicts the lesson; the library or the notebook changed")
    else:
        _show("⚠ " + text + ".\n  Outside the range the lesson expects. If you changed a parameter to explore, "
              "that is expected:\n  the range holds for the notebook's own settings. If you changed nothing, "
              "please report it.")


def _show(line: str) -> None:
    """Print a checked result; in a notebook, hold it back while the latest prediction is not locked in
    (a number printed under a question would give its answer away after "Run All").
    """
    pending = _latest_prediction
    if pending is not None and pending.value is None and _in_kernel():
        from IPython.display import display

        display(pending.hold(line))
    else:
        print(line)


def _in_kernel() -> bool:
    """Whether this runs in a Jupyter kernel (where widgets are shown), not in a script or a test."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is a dependency
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


#: The prediction made last (:func:`expect` holds its line back while it is not locked in).
_latest_prediction: Prediction | None = None


def _record_fact(what: str, value: float, low: float, high: float, ok: bool) -> None:
    """Append the fact to the JSON-lines file named by ``EOSTUTOR_FACTS`` (set by :mod:`eostutor.facts`
    while it runs the notebooks), tagged with the notebook named by ``EOSTUTOR_NOTEBOOK``.
    """
    path = os.environ.get("EOSTUTOR_FACTS")
    if not path:
        return
    import json
    import math

    record = {"notebook": os.environ.get("EOSTUTOR_NOTEBOOK", ""), "what": what,
              "value": value if math.isfinite(value) else None, "low": low, "high": high, "ok": ok}
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(record, ensure_ascii=False) + "\n")


class Prediction:
    """A learner's prediction, locked in before the result is shown (made by :func:`predict`).

    Display it (the last line of a cell) to ask; :meth:`reveal` in the result cell shows the result only
    once a prediction is locked in, next to it. In the test suite the default answer is locked in at once,
    so the notebooks run headless.

    Attributes:
        question: The question.
        options: letter -> text for a multiple-choice question; ``None`` for a number.
        answer: The right letter (or number), used only to say whether the prediction was right.
        value: The locked-in prediction (``None`` until then).
    """

    def __init__(self, question: str, options: dict | None = None, *, answer=None, default=None,
                 rtol: float = 0.1):
        import ipywidgets as w

        self.question, self.options, self.answer, self.rtol = question, options, answer, rtol
        self.value = None
        self._waiting: list = []  # (output area, how to fill it) of results waiting for the lock
        if options is not None:
            if not options or not all(isinstance(k, str) for k in options):
                raise ValueError(f"options must map letters to texts, got {options!r}")
            if answer is not None and answer not in options:
                raise ValueError(f"answer {answer!r} is not one of the options {list(options)}")
            self.input = w.RadioButtons(options=[(f"({k}) {v}", k) for k, v in options.items()], value=None,
                                        layout=w.Layout(width="auto"))
        else:
            self.input = w.FloatText(value=None, description="my guess", layout=w.Layout(width="220px"))
        self.lock = w.Button(description="Lock in my prediction", button_style="info", icon="lock",
                             layout=w.Layout(width="210px"))
        self.note = w.HTML()
        self.widget = w.VBox([w.HTML(f"<b>Predict.</b> {html.escape(question)}"), self.input,
                              w.HBox([self.lock, self.note])],
                             layout=w.Layout(border="1px solid #d0d7de", padding="6px", max_width="900px"))
        self.lock.on_click(lambda _b: self.submit(self.input.value))
        if in_test_suite() and default is not None:
            self.submit(default)
        global _latest_prediction
        _latest_prediction = self

    def submit(self, value) -> None:
        """Lock in ``value`` (what the button does) and show every waiting result."""
        if value is None:
            self.note.value = '<span style="color:#B34700">choose an answer first</span>'
            return
        if self.options is not None and value not in self.options:
            raise ValueError(f"prediction must be one of {list(self.options)}, got {value!r}")
        if self.options is None:
            value = float(value)
        self.value = value
        self.input.disabled = self.lock.disabled = True
        shown = f"({value}) {self.options[value]}" if self.options is not None else f"{value:g}"
        self.note.value = f"locked in: {html.escape(shown)}"
        for out, fill in self._waiting:
            out.outputs = ()
            fill(out)

    def verdict(self) -> str:
        """How the prediction compares with the answer (empty before one is locked in)."""
        if self.value is None or self.answer is None:
            return ""
        if self.options is not None:
            right = self.value == self.answer
            return (f"You predicted ({self.value}); the answer is ({self.answer}): {self.options[self.answer]}. "
                    + ("Right." if right else "Not what you expected: the next cells explain why."))
        err = abs(self.value - float(self.answer)) / max(abs(float(self.answer)), 1e-300)
        return (f"You predicted {self.value:g}; the result is {float(self.answer):.3g} "
                + ("(close)." if err <= self.rtol else f"(off by {100 * err:.0f}%)."))

    def reveal(self, *objects, note: str = ""):
        """Show ``objects`` (figures, widgets, text) with the verdict, once a prediction is locked in;
        until then a line asks for one. Returns the output area (display it, or end the cell with it).
        """
        objects = [_displayable(obj) for obj in objects]
        return self._wait(lambda out: self._fill(out, objects, note), "Lock in your prediction above to see the "
                                                                      "result.")

    def hold(self, line: str):
        """An output area that shows ``line`` (a checked result, as :func:`expect` prints it) once a
        prediction is locked in, and until then says where it will appear.
        """
        return self._wait(lambda out: out.append_stdout(line + "\n"),
                          "a checked result appears here once you lock in your prediction above.")

    def _wait(self, fill, placeholder: str):
        """An output area filled by ``fill(out)`` now if a prediction is locked in, else when it is (and
        showing 🔒 ``placeholder`` until then).
        """
        import ipywidgets as w

        out = w.Output()
        self._waiting.append((out, fill))
        if self.value is not None:
            fill(out)
        else:
            from IPython.display import HTML

            out.append_display_data(HTML(f'<span style="color:#555">🔒 {html.escape(placeholder)}</span>'))
        return out

    def _fill(self, out, objects, note: str) -> None:
        from IPython.display import HTML

        for obj in objects:
            out.append_display_data(obj)
        text = " ".join(t for t in (self.verdict(), note) if t)
        if text:
            out.append_display_data(HTML(f"<p>{html.escape(text)}</p>"))

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)


def _displayable(obj):
    """What to put in the reveal area: text as HTML; a matplotlib figure closed (so it is not also shown at
    the end of the cell) and shown as its canvas widget (ipympl) or as itself (a PNG, inline backend).
    """
    from IPython.display import HTML

    if isinstance(obj, str):
        return HTML(f"<p>{html.escape(obj)}</p>")
    from matplotlib.figure import Figure

    if isinstance(obj, Figure):
        import ipywidgets
        import matplotlib.pyplot as plt

        plt.close(obj)
        if isinstance(obj.canvas, ipywidgets.DOMWidget):
            return obj.canvas
    return obj


def predict(question: str, options: dict | None = None, *, answer=None, default=None, rtol: float = 0.1
            ) -> Prediction:
    """Ask for a prediction before the result: multiple choice (``options``: letter -> text) or a number.

    Args:
        question: What to predict.
        options: Letter -> option text; ``None`` asks for a number.
        answer: The right letter or number (for the verdict next to the result).
        default: Locked in automatically in the test suite, so the notebook runs headless.
        rtol: A number within this relative error counts as "close".

    >>> p = predict("Beyond η = 2/λ the iterates…", {"a": "converge", "b": "diverge"}, answer="b")
    >>> p.submit("a"); p.verdict()
    'You predicted (a); the answer is (b): diverge. Not what you expected: the next cells explain why.'
    """
    return Prediction(question, options, answer=answer, default=default, rtol=rtol)
