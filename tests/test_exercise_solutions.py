"""The worked solutions of the coding exercises pass their own checks.

A coding exercise's ``solution`` starts with the code a learner would paste into the exercise cell (a
``def`` ending with ``answer = <function>``), followed by prose. That code is run here, with the names a
notebook has (``eos``), and handed to the exercise's check: a worked solution that the check rejects
would teach the wrong thing, or the check would be wrong.
"""

from __future__ import annotations

import pytest

import eostutor as eos

CODED = sorted(ex_id for ex_id, ex in eos.exercises.EXERCISES.items()
               if ex.kind == "code" and ex.solution.startswith("def ")
               and any(line.startswith("answer =") for line in ex.solution.splitlines()))


def _solution_code(text: str) -> str:
    lines = text.splitlines()
    end = next(i for i, line in enumerate(lines) if line.startswith("answer ="))
    return "\n".join(lines[: end + 1])


def test_the_course_has_worked_coding_solutions():
    assert {"00.gd_step", "01.gd_loop", "02.ratio_code", "03.power_iteration"} <= set(CODED)


@pytest.mark.parametrize("exercise_id", CODED)
def test_worked_solution_passes_its_check(exercise_id):
    exercise = eos.exercises.EXERCISES[exercise_id]
    namespace = {"eos": eos}
    exec(_solution_code(exercise.solution), namespace)  # noqa: S102 - the course's own solution text
    correct, feedback = exercise.grader(namespace["answer"])
    assert correct, f"{exercise_id}: the worked solution fails its check: {feedback}"
