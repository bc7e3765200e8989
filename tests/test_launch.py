"""The launch works as the README says: Makefile torch choice, `make lab`'s landing page, Binder's server
settings, one kernelspec for every notebook, and the Quick start's promises.

The Makefile tests run the real `make` against a stand-in ``python`` in a temporary VENV that only records
its arguments (and answers the reachability probe of the CPU index as told), so they check what make
would install, and when, without installing anything.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
CPU_INDEX = "https://download.pytorch.org/whl/cpu"

needs_make = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")

_FAKE_PYTHON = """#!/bin/bash
# Stand-in for VENV/bin/python: record the call; -c is the CPU index probe (exit $PROBE_RC).
echo "$*" >> "$(dirname "$0")/../calls.log"
if [ "$1" = "-c" ]; then exit "${PROBE_RC:-1}"; fi
exit 0
"""


@pytest.fixture
def fake_venv(tmp_path):
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    python = venv / "bin" / "python"
    python.write_text(_FAKE_PYTHON)
    python.chmod(0o755)
    return venv


def _make(venv: Path, *args: str, probe_ok: bool = False) -> tuple[str, list[str]]:
    """Run `make setup VENV=venv ARGS`; return its output and the python calls it made."""
    log = venv / "calls.log"
    before = log.read_text().splitlines() if log.exists() else []
    env = {**os.environ, "PROBE_RC": "0" if probe_ok else "1"}
    env.pop("TORCH_INDEX", None)
    env.pop("TORCH_SPEC", None)
    proc = subprocess.run(["make", "--no-print-directory", "-C", str(ROOT), "setup", f"VENV={venv}", *args],
                          capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    calls = log.read_text().splitlines() if log.exists() else []
    return proc.stdout + proc.stderr, calls[len(before):]


def _pip(calls: list[str]) -> list[str]:
    return [c for c in calls if c.startswith("-m pip")]


@needs_make
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the CPU index is the default on Linux only")
def test_make_installs_cpu_torch_by_default_and_falls_back_when_the_index_is_unreachable(fake_venv):
    out, calls = _make(fake_venv)  # the probe fails: as on this machine
    assert any(c.startswith("-c ") and c.endswith(f"{CPU_INDEX}/torch/") for c in calls), calls
    assert f"make: {CPU_INDEX} cannot be reached: installing torch==2.13.0 from the package index instead" in out
    assert _pip(calls) == ["-m pip install torch==2.13.0", "-m pip install -e .[dev]"]

    out, calls = _make(fake_venv)  # nothing changed: nothing to install
    assert _pip(calls) == []


@needs_make
def test_make_uses_the_cpu_index_when_reachable(fake_venv):
    _, calls = _make(fake_venv, f"TORCH_INDEX={CPU_INDEX}", probe_ok=True)
    assert _pip(calls)[0] == f"-m pip install --index-url {CPU_INDEX} torch==2.13.0"


@needs_make
def test_a_changed_torch_choice_reinstalls_torch(fake_venv):
    _make(fake_venv, "TORCH_INDEX=")
    out, calls = _make(fake_venv, "TORCH_INDEX=", "TORCH_SPEC=torch==2.12.0")
    assert "torch choice changed from 'torch==2.13.0 ' to 'torch==2.12.0 '" in out
    assert _pip(calls) == ["-m pip uninstall -y torch", "-m pip install torch==2.12.0", "-m pip install -e .[dev]"]

    _, calls = _make(fake_venv, "TORCH_INDEX=https://mirror.example/cpu", "TORCH_SPEC=torch==2.12.0", probe_ok=True)
    assert _pip(calls)[:2] == ["-m pip uninstall -y torch",
                               "-m pip install --index-url https://mirror.example/cpu torch==2.12.0"]

    _, calls = _make(fake_venv, "TORCH_INDEX=https://mirror.example/cpu", "TORCH_SPEC=torch==2.12.0", probe_ok=True)
    assert _pip(calls) == []  # the same choice again: nothing to do


@needs_make
def test_make_lab_lands_on_notebook_00_through_binder_start():
    out = subprocess.run(["make", "-n", "lab"], cwd=ROOT, capture_output=True, text=True, timeout=60).stdout
    lab_line = next(line for line in out.splitlines() if "jupyter lab" in line)
    assert lab_line.startswith("binder/start ")
    start = re.search(r"--LabApp\.default_url=(\S+)", lab_line).group(1)
    assert start == "/lab/tree/notebooks/00_start_here.ipynb"
    assert (ROOT / start.removeprefix("/lab/tree/")).is_file()


def test_binder_start_gives_the_server_the_synchronous_contents_manager(tmp_path):
    """What tests/test_voila.py needs, checked without a browser: binder/start's config path reaches the
    server, and it selects a contents manager whose file_exists/get return values, not coroutines."""
    code = ("from jupyter_server.serverapp import ServerApp; app = ServerApp(); app.load_config_file(); "
            "print(app.contents_manager_class.__module__ + '.' + app.contents_manager_class.__name__)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTER")}
    env["JUPYTER_CONFIG_DIR"] = str(tmp_path)  # no user configuration
    proc = subprocess.run([str(ROOT / "binder" / "start"), sys.executable, "-c", code], capture_output=True,
                          text=True, timeout=120, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    name = proc.stdout.strip().splitlines()[-1]
    assert name == "jupyter_server.services.contents.largefilemanager.LargeFileManager"
    from jupyter_server.services.contents.largefilemanager import LargeFileManager

    manager = LargeFileManager(root_dir=str(ROOT))
    assert manager.file_exists("notebooks/figures/flatland.png") is True
    assert isinstance(manager.get("notebooks/figures/flatland.png", format="base64")["content"], str)


def test_every_notebook_names_the_same_kernel():
    specs = {nb.name: json.loads(nb.read_text(encoding="utf-8"))["metadata"].get("kernelspec") for nb in NOTEBOOKS}
    first = specs[NOTEBOOKS[0].name]
    assert first == {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
    assert {name: spec for name, spec in specs.items() if spec != first} == {}


def test_readme_quick_start_says_what_a_fresh_linux_machine_needs():
    readme = (ROOT / "README.md").read_text()
    quick = re.search(r"^## Quick start\n(.*?)(?=^## )", readme, flags=re.MULTILINE | re.DOTALL).group(1)
    for needle in ("python3-venv", ".venv/bin/python -m eostutor", "Chromium", "SKIPPED", "TORCH_INDEX=",
                   "/lab/tree/notebooks/00_start_here.ipynb"):
        assert needle in quick, f"README Quick start does not mention {needle!r}"
    makefile = (ROOT / "Makefile").read_text()
    assert "python3-venv" in makefile  # the hint make prints when `python3 -m venv` fails
