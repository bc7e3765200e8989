"""The notebooks' helpers: ``expect`` fails in the test suite and explains to a learner; ``predict`` holds the
result back until a prediction is locked in (and locks in its default in the test suite)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pytest

from eostutor import course


def _texts(out) -> str:
    parts = []
    for o in out.outputs:
        data = o.get("data", {})
        parts.append(data.get("text/html", "") or data.get("text/plain", "") or o.get("text", ""))
    return " ".join(parts)


def test_expect_fails_in_the_suite_and_warns_a_learner(monkeypatch, capsys):
    monkeypatch.setenv(course.SUITE_ENV, "1")
    course.expect(1.0, 0.9, 1.1, "ratio")
    assert "✔ ratio = 1" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="contradicts the lesson"):
        course.expect(4.0, 0.9, 1.1, "ratio")
    with pytest.raises(AssertionError):
        course.expect(float("nan"), 0.9, 1.1, "ratio")
    monkeypatch.delenv(course.SUITE_ENV)
    course.expect(4.0, 0.9, 1.1, "ratio")  # a learner exploring: no exception
    out = capsys.readouterr().out
    assert "⚠ ratio = 4" in out and "changed a parameter to explore" in out


def test_a_prediction_holds_the_result_back_until_locked_in(monkeypatch):
    monkeypatch.delenv(course.SUITE_ENV, raising=False)
    p = course.predict("After the edge the sharpness…", {"a": "keeps rising", "b": "hovers at 2/η"}, answer="b",
                       default="b")
    assert p.value is None  # outside the suite nothing is chosen for the learner
    fig = plt.figure()
    out = p.reveal(fig, note="The sharpness hovers at 2/η.")
    assert "Lock in your prediction" in _texts(out) and not plt.fignum_exists(fig.number)
    p.submit(None)
    assert p.value is None and "choose an answer" in p.note.value
    p.input.value = "a"
    p.lock.click()
    text = _texts(out)
    assert p.value == "a" and p.lock.disabled and "Lock in" not in text
    assert "You predicted (a); the answer is (b)" in text and "hovers at 2/η." in text


def test_the_suite_locks_in_the_default(monkeypatch):
    monkeypatch.setenv(course.SUITE_ENV, "1")
    p = course.predict("Final loss?", answer=0.2, default=0.25)
    assert p.value == 0.25 and "off by 25%" in p.verdict()
    out = p.reveal("a result")
    assert "a result" in _texts(out)


def test_bad_predictions_are_refused():
    with pytest.raises(ValueError, match="options"):
        course.predict("?", {})
    with pytest.raises(ValueError, match="not one of the options"):
        course.predict("?", {"a": "x"}, answer="c")
    p = course.predict("?", {"a": "x", "b": "y"})
    with pytest.raises(ValueError, match="one of"):
        p.submit("z")


def test_the_test_command_runs_the_notebooks_as_the_suite():
    from pathlib import Path

    makefile = (Path(__file__).resolve().parents[1] / "Makefile").read_text()
    nbval = [line for line in makefile.splitlines() if "--nbval" in line]
    assert nbval and all(f"{course.SUITE_ENV}=1" in line for line in nbval), (
        "make test must run the notebooks with EOSTUTOR_SUITE=1, or a broken lesson only prints a warning")


def test_expect_waits_for_an_open_prediction_in_a_notebook(monkeypatch, capsys):
    """After "Run All" a checked number under an unanswered question would give the answer away."""
    import IPython.display

    monkeypatch.delenv(course.SUITE_ENV, raising=False)
    monkeypatch.setattr(course, "_in_kernel", lambda: True)
    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda obj: shown.append(obj))
    p = course.predict("Where does λ_max settle?", {"a": "at 2/η", "b": "far above"}, answer="a", default="a")
    course.expect(1.01, 0.9, 1.1, "λ_max / (2/η)")
    assert capsys.readouterr().out == "" and len(shown) == 1
    assert "lock in your prediction" in _texts(shown[0]) and "1.01" not in _texts(shown[0])
    p.input.value = "b"
    p.lock.click()
    assert "✔ λ_max / (2/η) = 1.01" in _texts(shown[0]) and "lock in" not in _texts(shown[0])
    course.expect(1.02, 0.9, 1.1, "later")  # once locked in, a plain printed line again
    assert "✔ later = 1.02" in capsys.readouterr().out and len(shown) == 1


def test_expect_prints_outside_a_notebook_even_with_an_open_prediction(monkeypatch, capsys):
    monkeypatch.delenv(course.SUITE_ENV, raising=False)
    course.predict("?", {"a": "x", "b": "y"})
    course.expect(1.0, 0.9, 1.1, "ratio")
    assert "✔ ratio = 1" in capsys.readouterr().out
