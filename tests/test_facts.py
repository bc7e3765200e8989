"""The facts table the teacher's guide quotes: collected from the notebooks' ``course.expect`` calls, and
the committed ``notebooks/FACTS.md`` lists exactly the facts the notebooks assert today."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from eostutor import course, facts

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def test_expect_records_the_fact_when_asked(tmp_path, monkeypatch, capsys):
    path = tmp_path / "facts.jsonl"
    monkeypatch.setenv("EOSTUTOR_FACTS", str(path))
    monkeypatch.setenv("EOSTUTOR_NOTEBOOK", "04_x")
    monkeypatch.delenv(course.SUITE_ENV, raising=False)
    course.expect(1.02, 0.95, 1.1, "ratio")
    course.expect(3.0, 0.95, 1.1, "outside")
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert records == [{"notebook": "04_x", "what": "ratio", "value": 1.02, "low": 0.95, "high": 1.1, "ok": True},
                       {"notebook": "04_x", "what": "outside", "value": 3.0, "low": 0.95, "high": 1.1, "ok": False}]


def _asserted(path: Path) -> list[re.Pattern]:
    """A pattern for the ``what`` of every ``course.expect(value, low, high, what)`` in a notebook: the string
    itself, or for an f-string (a label made in a loop) its literal parts with anything in between."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    out = []
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        src = "".join(cell["source"])
        code = "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in src.splitlines())
        for node in ast.walk(ast.parse(code)):
            if isinstance(node, ast.Call) and ast.unparse(node.func).endswith("course.expect"):
                what = node.args[3] if len(node.args) > 3 else next(
                    (k.value for k in node.keywords if k.arg == "what"), None)
                if isinstance(what, ast.Constant):
                    out.append(re.compile(re.escape(what.value)))
                elif isinstance(what, ast.JoinedStr):
                    parts = [re.escape(v.value) if isinstance(v, ast.Constant) else ".+" for v in what.values]
                    out.append(re.compile("".join(parts)))
                else:
                    raise AssertionError(f"{path.name}: give course.expect's `what` as a string or an f-string, "
                                         f"not {ast.unparse(what)}")
    return out


def _listed() -> dict[str, list[str]]:
    text = (REPO / "notebooks" / "FACTS.md").read_text(encoding="utf-8")
    listed, current = {}, None
    for line in text.splitlines():
        if line.startswith("## "):
            current = line[3:].strip()
            listed[current] = []
        elif current and line.startswith("| ") and not line.startswith(("| fact", "|---")):
            listed[current].append(re.split(r"(?<!\\) \| ", line[2:])[0].replace("\\|", "|"))
    return listed


def test_the_facts_table_lists_exactly_what_the_notebooks_assert():
    listed = _listed()
    for path in NOTEBOOKS:
        patterns, rows = _asserted(path), listed.get(path.stem, [])
        missing = [p.pattern for p in patterns if not any(p.fullmatch(r) for r in rows)]
        stale = [r for r in rows if not any(p.fullmatch(r) for p in patterns)]
        assert not missing and not stale, (
            f"{path.name}: notebooks/FACTS.md is stale (run `python -m eostutor.facts`): it lists {stale} that "
            f"the notebook no longer asserts and misses {missing}")
    assert set(listed) <= {p.stem for p in NOTEBOOKS}, f"facts of notebooks that do not exist: {set(listed)}"


@pytest.mark.slow
def test_collect_runs_a_notebook_and_gathers_its_facts(tmp_path):
    cells = ["import eostutor as eos\ncourse = eos.course.setup(seed=0, verbose=False)",
             'eos.course.expect(course.steps(10, fast=2), 1, 3, "steps in fast mode")']
    nb = {"cells": [{"id": f"c{i}", "cell_type": "code", "metadata": {}, "source": c, "outputs": [],
                     "execution_count": None} for i, c in enumerate(cells)],
          "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
          "nbformat": 4, "nbformat_minor": 5}
    path = tmp_path / "09_probe.ipynb"
    path.write_text(json.dumps(nb))
    records = facts.collect(path, fast=True)
    assert [(r["notebook"], r["what"], r["value"], r["ok"]) for r in records] == [
        ("09_probe", "steps in fast mode", 2.0, True)]
    assert "| steps in fast mode | – | 2 | 1 – 3 |" in facts.table([], records)
