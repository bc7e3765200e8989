"""Self-checks for the course's exercises.

The exercises are data: one file per notebook (``eostutor/exercises/n01.toml``, ...) with one
``[[exercise]]`` table each. Fields: ``id`` ("NN.name", NN the notebook), ``kind`` (one of :data:`KINDS`),
``prompt``, ``hints`` (revealed one per wrong attempt, mildest first), ``solution`` (worked out, shown only
on request), and by kind:

* ``"number"``: ``answer``, ``rtol``/``atol`` (default rtol 0.02), ``mistakes`` (a typical wrong answer ->
  feedback that names the misconception without giving the answer away);
* ``"choice"``: ``answer`` (the letter), ``options`` (the letters), ``mistakes``;
* ``"plot"``: read off a figure: a number (``answer``, ``rtol``) or a choice (``answer``, ``options``);
* ``"code"``: ``check``, the name of a check in :mod:`eostutor.exercises.checks` that runs the learner's
  function on fixed cases against the library;
* ``"explain"``: ``model_answer`` (shown once the learner has written one) and ``key_ideas`` (phrases, with
  alternatives separated by "|", that a good answer mentions: the ones missing are named, nothing is graded).

In a notebook::

    answer = None          # replace None by your answer (a number, a letter, a function, or your words)
    eos.exercises.check("01.threshold", answer)

``check`` says "correct" or gives the next hint; it never shows the answer. ``solution(id)`` prints the
worked solution when the learner asks for it; ``catalog()`` lists every exercise.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Exercise", "CheckResult", "register", "check", "hint", "solution", "numeric", "choice", "explained",
           "EXERCISES", "catalog", "KINDS"]

#: The kinds of exercise.
KINDS = ("number", "choice", "code", "plot", "explain")

#: id -> Exercise, filled from the per-notebook files n00.toml … n08.toml when the package is imported.
EXERCISES: dict[str, Exercise] = {}


@dataclass
class Exercise:
    """One exercise: how to grade an answer, graded hints, and a worked solution.

    Attributes:
        id: ``"NN.name"`` with NN the notebook number.
        prompt: The question, one or two sentences.
        kind: One of :data:`KINDS`.
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
    kind: str = "number"
    attempts: int = field(default=0, compare=False)
    model_answer: str = ""  # explain-in-words exercises: shown once the learner has written an answer

    @property
    def notebook(self) -> str:
        """The notebook number, e.g. ``"03"``."""
        return self.id.split(".", 1)[0]


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
    graded: bool = True  # False for explain-in-words: compared with a model answer, not graded

    def __bool__(self) -> bool:
        return self.correct

    @property
    def _mark(self) -> str:
        if not self.graded and self.answered:
            return "✎"
        return "✔" if self.correct else ("✘" if self.answered else "…")

    def __repr__(self) -> str:
        return f"{self._mark} [{self.exercise_id}] {self.message}"

    def _repr_html_(self) -> str:
        import html

        colour = "#009E73" if self.correct else ("#D55E00" if self.answered and self.graded else "#999999")
        mark = self._mark
        return (f'<div style="border-left: 4px solid {colour}; padding: 4px 8px;">'
                f"<b>{mark} {html.escape(self.exercise_id)}</b>: {html.escape(self.message)}</div>")


def register(exercise: Exercise) -> Exercise:
    """Add an exercise to the registry (ids must be unique)."""
    if exercise.id in EXERCISES:
        raise ValueError(f"exercise id {exercise.id!r} is registered twice")
    if exercise.kind not in KINDS:
        raise ValueError(f"exercise {exercise.id!r} has kind {exercise.kind!r}; choose one of {', '.join(KINDS)}")
    EXERCISES[exercise.id] = exercise
    return exercise


def catalog() -> list[dict]:
    """Every exercise as a dict: ``id``, ``notebook``, ``kind``, ``prompt``, ``hints`` (how many).

    >>> entries = catalog()
    >>> entries[0]["id"], entries[0]["notebook"], entries[0]["kind"]
    ('00.edge', '00', 'number')
    """
    return [{"id": ex.id, "notebook": ex.notebook, "kind": ex.kind, "prompt": ex.prompt, "hints": len(ex.hints)}
            for ex in EXERCISES.values()]


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
    if ex.kind == "explain":
        written, feedback = ex.grader(answer)
        return CheckResult(exercise_id, False, feedback, answered=written, graded=False)
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
    >>> grade("B"), grade("(b)")[0], grade("b)")[0]
    ((True, 'Correct.'), True, True)
    """
    valid = [o.lower() for o in options]

    def grade(answer):
        # "b", "B", "(b)", "b)" and "b." all mean b
        value = str(answer).strip().lower().strip("().").strip()
        if value not in valid:
            raise ValueError(f"answer one of {', '.join(options)}")
        if value == correct.lower():
            return True, "Correct."
        return False, (feedback or {}).get(value, "Not that one.")

    return grade


def explained(model_answer: str, key_ideas: Sequence[str] = (), min_words: int = 8
              ) -> Callable[[Any], tuple[bool, str]]:
    """For an explain-in-words answer: once it has at least ``min_words`` words, the model answer to
    compare with and the key ideas it does not mention (each idea: alternatives separated by "|").

    >>> grade = explained("Because ηλ > 2.", ["2/η|two over eta", "overshoot"])
    >>> grade("too short")[0], grade("the step overshoots the minimum every time so it grows")[1]
    (False, 'Compare with a model answer: Because ηλ > 2. (Ideas a model answer has that yours does not name: 2/η.)')
    """

    def grade(answer):
        text = str(answer).strip()
        if len(text.split()) < min_words:
            return False, (f"Write a few sentences in your own words first (at least {min_words} words), then "
                           "compare them with a model answer.")
        low = text.lower()
        missing = [idea.split("|")[0] for idea in key_ideas
                   if not any(alt.strip().lower() in low for alt in idea.split("|"))]
        note = f" (Ideas a model answer has that yours does not name: {'; '.join(missing)}.)" if missing else ""
        return True, f"Compare with a model answer: {model_answer}{note}"

    return grade


def _from_table(table: dict, source: str) -> Exercise:
    """An Exercise from one ``[[exercise]]`` table of a notebook's file."""
    try:
        kind = table["kind"]
        mistakes = table.get("mistakes", {})
        # a plot is read off as a number, or as a choice when it has options
        if kind == "choice" or (kind == "plot" and "options" in table):
            grader = choice(table["answer"], table["options"], feedback=mistakes)
        elif kind in ("number", "plot"):
            grader = numeric(float(table["answer"]), rtol=table.get("rtol", 0.02), atol=table.get("atol", 0.0),
                             mistakes={float(k): v for k, v in mistakes.items()})
        elif kind == "code":
            from eostutor.exercises.checks import CHECKS

            grader = CHECKS[table["check"]]
        elif kind == "explain":
            grader = explained(table["model_answer"], table.get("key_ideas", ()))
        else:
            raise ValueError(f"unknown kind {kind!r}; choose one of {', '.join(KINDS)}")
        return Exercise(id=table["id"], prompt=table["prompt"], grader=grader, hints=tuple(table.get("hints", ())),
                        solution=table.get("solution", ""), kind=kind, model_answer=table.get("model_answer", ""))
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"{source}: bad exercise {table.get('id', '?')!r}: {err!r}") from None


def _load_all() -> None:
    """Register the exercises of every notebook file, in notebook order."""
    from importlib import resources

    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib

    files = sorted(f for f in resources.files(__name__).iterdir()
                   if f.name.startswith("n") and f.name.endswith(".toml"))
    for f in files:
        for table in tomllib.loads(f.read_text(encoding="utf-8")).get("exercise", []):
            register(_from_table(table, f.name))


_load_all()
