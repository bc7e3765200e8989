"""The notebooks print nothing stray: no code cell ends with an expression whose value Jupyter would echo.

A cell's last statement is shown by Jupyter when it is an expression. That is wanted for a widget (the
explorer appears) and for an exercise check (its feedback), and harmless for a call that returns None
(``print``, ``eos.course.expect``). Anything else, a plot method returning an artist
(``<matplotlib.lines.Line2D …>``), ``ax.set_ylim(…)`` returning a tuple, a number, is stray output: assign it
or end the line with ``;``. Read with ``ast``; nothing is executed.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from eostutor import course

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))

#: Calls whose value Jupyter may show (feedback) or that return None.
SHOWN_OR_NONE = {"print", "display", "eos.course.expect", "eos.exercises.check", "eos.exercises.hint",
                 "eos.exercises.solution"}


def _code(path: Path) -> list[tuple[int, str]]:
    nb = json.loads(path.read_text(encoding="utf-8"))
    out = []
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "code":
            src = "".join(cell["source"])
            out.append((i, "\n".join("" if ln.lstrip().startswith(("%", "!")) else ln for ln in src.splitlines())))
    return out


def _widgets(cells) -> set[str]:
    """Names bound to ``eos.widgets.Something(...)`` anywhere in the notebook."""
    names = set()
    for _, src in cells:
        for node in ast.walk(ast.parse(src)):
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call) \
                    and ast.unparse(node.value.func).startswith("eos.widgets."):
                names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    return names


def stray_outputs(cells) -> list[str]:
    """The cells whose last statement would print a value nobody asked for."""
    widgets = _widgets(cells)
    bad = []
    for i, src in cells:
        tree = ast.parse(src)
        if not tree.body or not isinstance(tree.body[-1], ast.Expr) or src.rstrip().endswith(";"):
            continue
        value = tree.body[-1].value
        if isinstance(value, ast.Name) and value.id in widgets:
            continue
        if isinstance(value, ast.Call) and ast.unparse(value.func) in SHOWN_OR_NONE:
            continue
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            continue  # a docstring-like string at the end is a comment, not a result
        bad.append(f"cell {i}: {ast.unparse(value)[:80]}")
    return bad


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_no_cell_echoes_a_stray_value(path):
    bad = stray_outputs(_code(path))
    assert not bad, f"{path.name}: these cells would print a value (assign it or end the line with ;): {bad}"


def test_the_check_catches_plot_methods_and_numbers():
    cells = [(0, "explorer = eos.widgets.StepSizeExplorer('quadratic')"), (1, "explorer"),
             (2, "ax = eos.plots.loss(run)\nax.axhline(0.09)"), (3, "ax.legend(loc='upper right')"),
             (4, "ax.set_ylim(0, 1);"), (5, "run.final_loss"), (6, "eos.course.expect(1.0, 0, 2, 'x')")]
    assert stray_outputs(cells) == ["cell 2: ax.axhline(0.09)", "cell 3: ax.legend(loc='upper right')",
                                    "cell 5: run.final_loss"]


def test_expect_returns_nothing(capsys):
    assert course.expect(1.0, 0.5, 2.0, "a ratio") is None
    assert "✔ a ratio = 1" in capsys.readouterr().out
