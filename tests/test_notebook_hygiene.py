"""Hygiene of the course notebooks and of the exercise registry.

The notebooks are read as JSON and their code parsed with ``ast``; nothing is executed (running them is
the job of ``pytest --nbval-lax notebooks/``). What is checked is what the course promises:

* committed clean: no outputs, no execution counts, no widget state, a python3 kernelspec;
* one setup cell at the top (``%matplotlib inline``, ``import eostutor as eos`` with a ``%pip install``
  fallback for Colab, ``course = eos.course.setup(...)``) and no other import (``import numpy as np`` is
  tolerated in the setup cell); no ``def``, ``class`` or ``lambda`` anywhere: helpers belong in the package;
* an "Open in Colab" badge under the title that opens this very notebook;
* a title, learning objectives, at least one live widget with a static figure before it, at least two
  **Predict.** → code → **Explain.** prompts, an Exercises section graded with ``eos.exercises.check``
  whose committed answers are ``None``, a Summary and References.

And for every registered exercise: hints and a worked solution, and ``check(id, None)`` is neither
correct nor counted as an attempt.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = REPO / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
FIGURE_DIR = REPO / "notebooks" / "figures"

#: Imports a notebook may contain, all in the setup cell.
SETUP_IMPORT = "import eostutor as eos"
TOLERATED_IMPORTS = {"import numpy as np"}
#: The one install line a notebook may hold: in its setup cell, run only where eostutor is missing (Colab).
COLAB_INSTALL = '%pip install -q "eostutor @ git+https://github.com/eostutor/eostutor"'
WIDGET_CALL = re.compile(r"\beos\.widgets\.([A-Z]\w*)\s*\(")
FIGURE_LINK = re.compile(r"!\[[^\]]+\]\((figures/[\w\-]+\.png)\)")
PREDICT, EXPLAIN = "**Predict.**", "**Explain.**"


def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _code_cells(nb: dict) -> list[tuple[int, str]]:
    return [(i, _source(c)) for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code"]


def _python(source: str) -> str:
    """Cell source without IPython magics and shell escapes (which ``ast`` cannot parse)."""
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())


def _tree(index: int, source: str) -> ast.Module:
    try:
        return ast.parse(_python(source))
    except SyntaxError as err:  # pragma: no cover - reported as a failure with the cell number
        pytest.fail(f"code cell {index} is not valid Python: {err}")


def _headings(nb: dict) -> list[tuple[int, str]]:
    out = []
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "markdown":
            out += [(i, line.strip()) for line in _source(cell).splitlines() if line.startswith("#")]
    return out


def _number(path: Path) -> str:
    return path.name[:2]


notebook_params = pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])


# ---------------------------------------------------------------------------------------------------
# Committed clean
# ---------------------------------------------------------------------------------------------------
def test_notebooks_exist_and_are_numbered():
    assert NOTEBOOKS, "no notebooks in notebooks/"
    for path in NOTEBOOKS:
        assert re.fullmatch(r"\d\d_[a-z0-9_]+\.ipynb", path.name), f"{path.name}: name it NN_lower_case.ipynb"


@notebook_params
def test_no_outputs_and_no_execution_counts(path):
    nb = _load(path)
    dirty = [i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code"
             and (c.get("outputs") or c.get("execution_count") is not None)]
    assert not dirty, f"{path.name}: code cells {dirty} have outputs or execution counts; clear them before committing"


@notebook_params
def test_no_widget_state(path):
    nb = _load(path)
    assert "widgets" not in nb.get("metadata", {}), f"{path.name}: widget state saved in the notebook metadata"
    stateful = [i for i, c in enumerate(nb["cells"]) if "widgets" in c.get("metadata", {})]
    assert not stateful, f"{path.name}: widget state in the metadata of cells {stateful}"


@notebook_params
def test_python3_kernelspec(path):
    spec = _load(path).get("metadata", {}).get("kernelspec", {})
    assert spec.get("name") == "python3" and spec.get("language", "python") == "python", (
        f"{path.name}: kernelspec must be python3, got {spec}")


# ---------------------------------------------------------------------------------------------------
# Code: one setup cell, eostutor only, no helpers defined in the notebook
# ---------------------------------------------------------------------------------------------------
@notebook_params
def test_one_setup_cell_at_the_top(path):
    nb = _load(path)
    code = _code_cells(nb)
    assert code, f"{path.name}: no code cells"
    first_index, setup = code[0]
    assert all(c["cell_type"] == "markdown" for c in nb["cells"][:first_index]), path.name
    assert SETUP_IMPORT in setup, f"{path.name}: the first code cell must contain {SETUP_IMPORT!r}"
    assert "eos.course.setup(" in setup, f"{path.name}: the first code cell must call eos.course.setup(...)"
    assert setup.startswith("%matplotlib inline"), (
        f"{path.name}: the first code cell must start with %matplotlib inline")
    assert COLAB_INSTALL in setup, (
        f"{path.name}: the setup cell must install the course where it is missing (Colab)")
    others = [i for i, src in code[1:] if "import eostutor" in src]
    assert not others, f"{path.name}: `import eostutor` again in code cells {others}"


@notebook_params
def test_open_in_colab_badge(path):
    title = _source(_load(path)["cells"][0])
    url = f"https://colab.research.google.com/github/eostutor/eostutor/blob/main/notebooks/{path.name}"
    assert f"(https://colab.research.google.com/assets/colab-badge.svg)]({url})" in title, (
        f"{path.name}: the title cell needs an Open in Colab badge linking to {url}")


@notebook_params
def test_imports_only_eostutor(path):
    code = _code_cells(_load(path))
    bad = []
    for n, (i, src) in enumerate(code):
        for node in ast.walk(_tree(i, src)):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                text = ast.unparse(node)
                allowed = n == 0 and (text == SETUP_IMPORT or text in TOLERATED_IMPORTS)
                if not allowed:
                    bad.append(f"cell {i}: {text}")
        for line in src.splitlines():  # IPython-only imports the parser never sees
            colab_install = n == 0 and line.strip() == COLAB_INSTALL
            if line.lstrip().startswith(("%run", "%load", "!pip", "%pip")) and not colab_install:
                bad.append(f"cell {i}: {line.strip()}")
    assert not bad, (f"{path.name}: notebooks import only eostutor ({SETUP_IMPORT}, in the setup cell); "
                     f"found {bad}. Whatever else a lesson needs belongs in the package.")


@notebook_params
def test_no_helpers_defined(path):
    bad = []
    for i, src in _code_cells(_load(path)):
        for node in ast.walk(_tree(i, src)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
                kind = {"FunctionDef": "def", "AsyncFunctionDef": "async def", "ClassDef": "class",
                        "Lambda": "lambda"}[type(node).__name__]
                bad.append(f"cell {i}, line {node.lineno}: {kind}")
    assert not bad, f"{path.name}: no helpers in notebooks (put them in the package): {bad}"


# ---------------------------------------------------------------------------------------------------
# Teaching structure
# ---------------------------------------------------------------------------------------------------
@notebook_params
def test_title_and_learning_objectives(path):
    cells = _load(path)["cells"]
    first = _source(cells[0]) if cells and cells[0]["cell_type"] == "markdown" else ""
    assert first.startswith(f"# {_number(path)}"), f"{path.name}: start with a markdown title '# {_number(path)} · ...'"
    intro = "\n".join(_source(c) for c in cells if c["cell_type"] == "markdown")[:6000].lower()
    assert "what you will see" in first.lower(), f"{path.name}: the first cell says what the learner will see"
    assert "objectives" in intro, f"{path.name}: state the learning objectives near the top"


@notebook_params
def test_at_least_one_widget_with_a_static_figure_before_it(path):
    nb = _load(path)
    widgets = [(i, WIDGET_CALL.search(_source(c)).group(1)) for i, c in enumerate(nb["cells"])
               if c["cell_type"] == "code" and WIDGET_CALL.search(_source(c))]
    assert widgets, f"{path.name}: needs at least one live widget (eos.widgets.<Widget>(...))"
    previous = -1
    for i, name in widgets:
        figures = [FIGURE_LINK.search(_source(c)) for c in nb["cells"][previous + 1 : i]
                   if c["cell_type"] == "markdown"]
        assert any(figures), (f"{path.name}: the {name} in cell {i} needs a static figure before it "
                              "(![alt](figures/NAME.png)) for readers without a kernel")
        previous = i


@notebook_params
def test_static_figures_exist(path):
    links = [m for c in _load(path)["cells"] if c["cell_type"] == "markdown" for m in FIGURE_LINK.findall(_source(c))]
    assert links, f"{path.name} links no static figure"
    missing = sorted({link for link in links if not (NOTEBOOK_DIR / link).resolve().is_file()})
    assert not missing, f"{path.name}: figures not in the gallery: {missing} (eostutor/gallery.py renders them)"


@notebook_params
def test_predict_observe_explain(path):
    # The sequence of prompts and code cells: P (predict), C (code), E (explain), in notebook order.
    tokens = []
    for cell in _load(path)["cells"]:
        if cell["cell_type"] == "code":
            tokens.append("C")
        else:
            text = _source(cell)
            marks = sorted([(m.start(), "P") for m in re.finditer(re.escape(PREDICT), text)]
                           + [(m.start(), "E") for m in re.finditer(re.escape(EXPLAIN), text)])
            tokens += [t for _, t in marks]
    seq = "".join(tokens)
    assert seq.count("P") >= 2, f"{path.name}: needs at least two {PREDICT} prompts, found {seq.count('P')}"
    for m in re.finditer("P", seq):
        rest = seq[m.start() + 1 :]
        follow = re.match(r"(C*)([PE]?)", rest)
        assert follow.group(1) and follow.group(2) == "E", (
            f"{path.name}: each {PREDICT} must be followed by code and then an {EXPLAIN} before the next "
            f"prompt (sequence of prompts/code: {seq})")


@notebook_params
def test_exercises_graded_and_unanswered(path):
    nb = _load(path)
    from eostutor import exercises

    heads = _headings(nb)
    start = next((i for i, h in heads if re.match(r"#+\s*(\d+\.\s*)?Exercises\b", h)), None)
    assert start is not None, f"{path.name}: needs an '## Exercises' section"
    checked, problems = [], []
    for i, src in _code_cells(nb):
        tree = _tree(i, src)
        none_names = {t.id for node in ast.walk(tree) if isinstance(node, ast.Assign)
                      and isinstance(node.value, ast.Constant) and node.value.value is None
                      for t in node.targets if isinstance(t, ast.Name)}
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and ast.unparse(node.func).startswith("eos.exercises.")):
                continue
            func = ast.unparse(node.func).rsplit(".", 1)[1]
            if not node.args or not isinstance(node.args[0], ast.Constant):
                problems.append(f"cell {i}: {ast.unparse(node)} (give the id as a string literal)")
                continue
            ex_id = node.args[0].value
            if ex_id not in exercises.EXERCISES:
                problems.append(f"cell {i}: unknown exercise {ex_id!r}")
            if func == "check":
                checked.append(ex_id)
                answer = node.args[1] if len(node.args) > 1 else None
                unanswered = (isinstance(answer, ast.Constant) and answer.value is None) or (
                    isinstance(answer, ast.Name) and answer.id in none_names)
                if i > start and not unanswered:
                    problems.append(f"cell {i}: exercise {ex_id!r} is committed with an answer; use `answer = None`")
    assert not problems, f"{path.name}: {problems}"
    own = [e for e in checked if e.startswith(_number(path) + ".")]
    assert own, f"{path.name}: no eos.exercises.check(\"{_number(path)}.name\", answer) cell"
    text = "\n".join(_source(c) for c in nb["cells"])
    assert "eos.exercises.solution(" in text, f"{path.name}: tell the learner about eos.exercises.solution(id)"


@notebook_params
def test_summary_and_references(path):
    heads = [h for _, h in _headings(_load(path))]
    assert any(re.match(r"#+\s*Summary\b", h) for h in heads), f"{path.name}: needs a '## Summary' heading"
    assert any(re.match(r"#+\s*References\b", h) for h in heads), f"{path.name}: needs a '## References' heading"


# ---------------------------------------------------------------------------------------------------
# The exercise registry
# ---------------------------------------------------------------------------------------------------
def _exercises():
    from eostutor import exercises

    return exercises


def test_every_exercise_has_hints_and_a_solution():
    ex = _exercises()
    assert ex.EXERCISES, "no exercises registered"
    for ex_id, exercise in ex.EXERCISES.items():
        assert re.fullmatch(r"\d\d\.[a-z0-9_]+", ex_id), f"exercise id {ex_id!r}: use 'NN.lower_name'"
        assert exercise.prompt.strip(), f"{ex_id}: empty prompt"
        assert exercise.hints and all(h.strip() for h in exercise.hints), f"{ex_id}: needs hints"
        assert len(exercise.solution.strip()) > 40, f"{ex_id}: needs a worked solution"


def test_unanswered_is_not_correct_and_not_an_attempt():
    ex = _exercises()
    for ex_id, exercise in ex.EXERCISES.items():
        before = exercise.attempts
        result = ex.check(ex_id, None)
        assert not result.correct, f"{ex_id}: check(id, None) must not be correct"
        assert exercise.attempts == before, f"{ex_id}: check(id, None) must not count as an attempt"
        assert "not answered" in result.message.lower(), f"{ex_id}: {result.message!r}"


@notebook_params
def test_each_notebook_has_at_least_two_exercises_and_uses_them(path):
    ex = _exercises()
    number = _number(path)
    registered = sorted(e for e in ex.EXERCISES if e.startswith(number + "."))
    assert len(registered) >= 2, f"{path.name}: register at least two exercises in eostutor/exercises/n{number}.py"
    text = "\n".join(_source(c) for c in _load(path)["cells"])
    unused = [e for e in registered if f'eos.exercises.check("{e}"' not in text]
    assert not unused, f"{path.name}: registered exercises never checked in the notebook: {unused}"
