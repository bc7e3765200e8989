"""Self-checks for the course's exercises.

Each exercise is registered once (in one module per notebook, e.g. ``eostutor/exercises/n01.py``) with
a checker, graded hints and a worked solution. In a notebook::

    answer = None          # replace None by your answer
    eos.exercises.check("01.threshold", answer)

``check`` says "correct" or gives the next hint; it never shows the answer. ``solution(id)`` prints the
worked solution when the learner asks for it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Exercise", "CheckResult", "register", "check", "hint", "solution", "numeric", "choice",
           "EXERCISES"]

#: id -> Exercise, filled by the per-notebook modules imported at the bottom.
EXERCISES: dict[str, Exercise] = {}


@dataclass
class Exercise:
    """One exercise: how to grade an answer, graded hints, and a worked solution.

    Attributes:
        id: ``"NN.name"`` with NN the notebook number.
        prompt: The question, one or two sentences.
        grader: ``answer -> (correct, feedback)``; feedback may name a specific misconception but must not
            reveal the answer.
        hints: Hints revealed one per wrong attempt, mildest first.
        solution: The worked solution (Markdown-ish text).
    """

    id: str
    prompt: str
    grader: Callable[[Any], tuple[bool, str]]
    hints: Sequence[str] = ()
    solution: str = ""
    attempts: int = field(default=0, compare=False)


@dataclass
class CheckResult:
    """What ``check`` returns: displayed as a short coloured message in a notebook.

    >>> CheckResult("01.x", True, "Correct.").correct
    True
    """

    exercise_id: str
    correct: bool
    message: str
    answered: bool = True

    def __bool__(self) -> bool:
        return self.correct

    @property
    def _mark(self) -> str:
        return "✔" if self.correct else ("✘" if self.answered else "…")

    def __repr__(self) -> str:
        return f"{self._mark} [{self.exercise_id}] {self.message}"

    def _repr_html_(self) -> str:
        import html

        colour = "#009E73" if self.correct else ("#D55E00" if self.answered else "#999999")
        mark = self._mark
        return (f'<div style="border-left: 4px solid {colour}; padding: 4px 8px;">'
                f"<b>{mark} {html.escape(self.exercise_id)}</b>: {html.escape(self.message)}</div>")


def register(exercise: Exercise) -> Exercise:
    """Add an exercise to the registry (ids must be unique)."""
    if exercise.id in EXERCISES:
        raise ValueError(f"exercise id {exercise.id!r} is registered twice")
    EXERCISES[exercise.id] = exercise
    return exercise


def _get(exercise_id: str) -> Exercise:
    if exercise_id not in EXERCISES:
        known = ", ".join(sorted(EXERCISES)) or "none"
        raise ValueError(f"unknown exercise {exercise_id!r}; known exercises: {known}")
    return EXERCISES[exercise_id]


def check(exercise_id: str, answer: Any) -> CheckResult:
    """Grade ``answer``: "correct", or feedback plus the next hint. Never reveals the answer.

    ``answer=None`` (the placeholder in the notebooks) is not counted as an attempt.

    >>> from eostutor.exercises import check
    >>> check("01.threshold", None).correct
    False
    """
    ex = _get(exercise_id)
    if answer is None or answer is Ellipsis:
        return CheckResult(exercise_id, False, "Not answered yet: replace None by your answer and rerun.",
                           answered=False)
    try:
        correct, feedback = ex.grader(answer)
    except (TypeError, ValueError) as err:
        return CheckResult(exercise_id, False, f"Could not read that answer ({err}).")
    if correct:
        return CheckResult(exercise_id, True, feedback or "Correct.")
    ex.attempts += 1
    parts = [feedback or "Not quite."]
    if ex.hints:
        parts.append("Hint: " + ex.hints[min(ex.attempts, len(ex.hints)) - 1])
    if ex.attempts >= 2 and ex.solution:
        parts.append(f'(Stuck? eos.exercises.solution("{exercise_id}") shows a worked solution.)')
    return CheckResult(exercise_id, False, " ".join(parts))


def hint(exercise_id: str) -> str:
    """The next hint of an exercise, without grading anything."""
    ex = _get(exercise_id)
    if not ex.hints:
        return "No hint for this one: reread the cell above."
    return ex.hints[min(ex.attempts, len(ex.hints) - 1)]


def solution(exercise_id: str) -> str:
    """The worked solution of an exercise (printed, and returned)."""
    text = _get(exercise_id).solution or "No worked solution written for this exercise."
    print(text)
    return text


# -- ready-made graders ------------------------------------------------------------------------------
def numeric(expected: float, *, rtol: float = 0.02, atol: float = 0.0,
            mistakes: dict[float, str] | None = None) -> Callable[[Any], tuple[bool, str]]:
    """A grader for a number within ``rtol`` of ``expected``; ``mistakes`` maps a typical wrong value to a
    targeted hint (e.g. ``{1/λ: "that is the monotone bound 1/λ"}``).

    >>> grade = numeric(0.2, mistakes={0.1: "That is 1/λ."})
    >>> grade(0.2)[0], grade(0.1)
    (True, (False, 'That is 1/λ.'))
    """

    def grade(answer):
        value = float(answer)
        if not math.isfinite(value):
            return False, "That is not a finite number."
        if abs(value - expected) <= atol + rtol * abs(expected):
            return True, "Correct."
        for wrong, text in (mistakes or {}).items():
            if abs(value - wrong) <= atol + rtol * abs(wrong):
                return False, text
        side = "too large" if value > expected else "too small"
        return False, f"Not quite: {value:g} is {side}."

    return grade


def choice(correct: str, options: Sequence[str], *, feedback: dict[str, str] | None = None
           ) -> Callable[[Any], tuple[bool, str]]:
    """A grader for a multiple-choice answer (case-insensitive, one of ``options``).

    >>> grade = choice("b", ["a", "b", "c"])
    >>> grade("B")
    (True, 'Correct.')
    """
    valid = [o.lower() for o in options]

    def grade(answer):
        value = str(answer).strip().lower()
        if value not in valid:
            raise ValueError(f"answer one of {', '.join(options)}")
        if value == correct.lower():
            return True, "Correct."
        return False, (feedback or {}).get(value, "Not that one.")

    return grade


# Per-notebook exercise modules (n00.py, n01.py, ...) register themselves on import.
def _load_all() -> None:
    import importlib
    import pkgutil

    for module in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if module.name.startswith("n") and module.name[1:].isdigit():
            importlib.import_module(f"{__name__}.{module.name}")


_load_all()
