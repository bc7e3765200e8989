"""Packaging and launch files stay consistent: pyproject, environment.yml, Binder, Makefile, README, CI."""

import os
import re
import stat
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]

# pip name -> conda-forge name, where they differ.
CONDA_NAMES = {"torch": "pytorch", "matplotlib": "matplotlib-base"}


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _requirements(group: str | None = None) -> list[Requirement]:
    """The requirements that apply on the conda environment's Python (markers such as python < 3.11 drop out)."""
    project = _pyproject()["project"]
    specs = project["dependencies"] if group is None else project["optional-dependencies"][group]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    python = next(d.split("=")[1] for d in env["dependencies"] if isinstance(d, str) and d.startswith("python="))
    reqs = [Requirement(spec) for spec in specs]
    return [r for r in reqs if r.marker is None or r.marker.evaluate({"python_version": python})]


def _conda_specs() -> dict[str, str]:
    """environment.yml dependencies as {name: full match spec}."""
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    specs = {}
    for dep in env["dependencies"]:
        assert isinstance(dep, str), f"unexpected non-conda entry in environment.yml: {dep!r}"
        name = re.split(r"[=<>!~ ]", dep, maxsplit=1)[0]
        specs[canonicalize_name(name)] = dep
    return specs


def _is_executable(path: Path) -> bool:
    return bool(path.stat().st_mode & stat.S_IXUSR)


def _make_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text()
    # "name:" at the start of a line, but not "NAME := value" or ".PHONY:".
    return set(re.findall(r"^([A-Za-z][\w-]*)\s*:(?!=)", text, flags=re.MULTILINE))


def _readme_quick_start_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = re.search(r"^## Quick start\n(.*?)(?=^## )", readme, flags=re.MULTILINE | re.DOTALL)
    assert section, "README.md has no '## Quick start' section"
    blocks = re.findall(r"```bash\n(.*?)```", section.group(1), flags=re.DOTALL)
    assert len(blocks) == 1, f"Quick start should have exactly one bash block, found {len(blocks)}"
    return [line.strip() for line in blocks[0].splitlines() if line.strip()]


# --- pyproject.toml <-> environment.yml ------------------------------------------------------------


@pytest.mark.parametrize("group", [None, "lab"], ids=["runtime", "lab"])
def test_environment_yml_has_every_dependency(group):
    conda = _conda_specs()
    missing = []
    for req in _requirements(group):
        conda_name = canonicalize_name(CONDA_NAMES.get(req.name, req.name))
        if conda_name not in conda:
            missing.append(f"{req.name} (conda: {conda_name})")
    assert not missing, f"in pyproject.toml but not in environment.yml: {missing}"


def test_environment_yml_lower_bounds_match_pyproject():
    conda = _conda_specs()
    for req in _requirements() + _requirements("lab"):
        spec = conda.get(canonicalize_name(CONDA_NAMES.get(req.name, req.name)), "")
        bound = re.search(r">=\s*([\w.]+)", spec)
        if bound:
            assert f">={bound.group(1)}" in str(req.specifier), (
                f"environment.yml has {spec!r} but pyproject.toml has {req}"
            )


def test_environment_yml_is_conda_forge_cpu_and_supported_python():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert env["channels"][0] == "conda-forge"
    assert set(env["channels"]) <= {"conda-forge", "nodefaults"}
    conda = _conda_specs()
    assert conda["pytorch"] == "pytorch=*=cpu*", "Binder and laptops need the CPU build of PyTorch"
    python = re.fullmatch(r"python=(\d+)\.(\d+)", conda["python"])
    assert python, f"pin python to a minor version in environment.yml, got {conda['python']!r}"
    minimum = re.search(r">=\s*(\d+)\.(\d+)", _pyproject()["project"]["requires-python"])
    assert tuple(map(int, python.groups())) >= tuple(map(int, minimum.groups()))


# --- pyproject.toml ---------------------------------------------------------------------------------


def test_packages_are_listed_explicitly_including_subpackages():
    packages = _pyproject()["tool"]["setuptools"]["packages"]
    assert "eostutor" in packages
    on_disk = {
        ".".join(init.parent.relative_to(ROOT).parts) for init in (ROOT / "eostutor").rglob("__init__.py")
    }
    assert on_disk <= set(packages), f"subpackages missing from [tool.setuptools] packages: {on_disk - set(packages)}"


def test_installed_metadata_matches_pyproject():
    try:
        dist = metadata.distribution("eostutor")
    except metadata.PackageNotFoundError:
        pytest.fail("eostutor is not installed: run `make test` (or pip install -e .)")
    project = _pyproject()["project"]
    assert project["dynamic"] == ["version"]
    import eostutor

    assert dist.version == eostutor.__version__, "installed metadata is stale: reinstall with pip install -e ."
    scripts = {ep.name: ep.value for ep in dist.entry_points if ep.group == "console_scripts"}
    assert scripts == project["scripts"]


def test_installed_package_is_the_source_tree(tmp_path):
    """Outside the repo (as in a notebook kernel), `import eostutor` finds ROOT/eostutor/__init__.py.

    An editable install made before eostutor/__init__.py existed maps eostutor as a namespace package and
    keeps doing so after the file appears: then `eos.train` is missing everywhere but the repo root.
    """
    if not (ROOT / "eostutor" / "__init__.py").exists():
        pytest.skip("eostutor/__init__.py does not exist yet")
    code = "import importlib.util as u; print(u.find_spec('eostutor').origin)"
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    origin = result.stdout.strip()
    assert origin == str(ROOT / "eostutor" / "__init__.py"), (
        f"`import eostutor` resolves to {origin!r} ({result.stderr.strip()[-200:]}): stale editable install, "
        "reinstall with `touch pyproject.toml && make setup`"
    )


# --- Binder -----------------------------------------------------------------------------------------


def test_binder_environment_is_a_symlink_to_the_root_file():
    link = ROOT / "binder" / "environment.yml"
    assert link.is_symlink(), "binder/environment.yml must be a symlink, not a copy that can drift"
    assert os.readlink(link) == "../environment.yml"
    assert link.resolve() == (ROOT / "environment.yml").resolve()


def test_binder_postbuild_installs_only_the_package():
    post_build = ROOT / "binder" / "postBuild"
    text = post_build.read_text()
    assert _is_executable(post_build)
    assert text.startswith("#!/bin/bash\n")
    assert "set -euo pipefail" in text
    assert "pip install --no-deps -e ." in text


def test_binder_start_limits_threads_and_execs():
    start = ROOT / "binder" / "start"
    lines = [line.strip() for line in start.read_text().splitlines() if line.strip()]
    assert _is_executable(start)
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        assert f"export {name}=1" in lines
    assert not any("EOSTUTOR_BINDER" in line for line in lines), "dead configuration: nothing reads it"
    assert lines[-1] == 'exec "$@"', "binder/start must end by handing over to the notebook server"


# --- Makefile, README, CI ---------------------------------------------------------------------------


def test_makefile_pins_torch():
    assert re.search(r"^TORCH_SPEC \?= torch==2\.13\.0$", (ROOT / "Makefile").read_text(), re.MULTILINE)


def test_readme_quick_start_is_exactly_the_make_targets():
    commands = _readme_quick_start_commands()
    assert commands == ["make lab", "make test"]
    contributor_targets = {"test-fast", "lint", "format"}
    user_targets = _make_targets() - {"setup"} - contributor_targets
    assert user_targets == {command.split()[1] for command in commands}
    readme = (ROOT / "README.md").read_text()
    contributing = re.search(r"^## Contributing\n(.*?)(?=^## |\Z)", readme, flags=re.MULTILINE | re.DOTALL)
    assert contributing, "README.md has no '## Contributing' section"
    for target in contributor_targets:
        assert f"make {target}" in contributing.group(1), f"README Contributing does not mention make {target}"


def test_ci_runs_make_test_strictly():
    ci = ROOT / ".ci" / "run"
    text = ci.read_text()
    assert _is_executable(ci)
    assert "set -euo pipefail" in text
    assert "export EOSTUTOR_REQUIRE_BROWSER=1" in text
    assert re.search(r"^make test$", text, re.MULTILINE)
    assert re.search(r"^make lint$", text, re.MULTILINE), "CI runs the linter"


@pytest.mark.parametrize("script", [".ci/run", "binder/postBuild", "binder/start"])
def test_shell_scripts_parse(script):
    """A shell syntax error fails CI in 0 s without running a single test: check it here first."""
    result = subprocess.run(["bash", "-n", str(ROOT / script)], capture_output=True, text=True)
    assert result.returncode == 0, f"{script} does not parse: {result.stderr.strip()}"


def test_make_lab_starts_jupyter_as_root_too():
    """Jupyter refuses to run as root without --allow-root: containers and CI machines are root."""
    import os
    import shutil
    import subprocess

    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    out = subprocess.run(["make", "-n", "lab"], cwd=ROOT, capture_output=True, text=True, timeout=60).stdout
    lab_line = next(line for line in out.splitlines() if "jupyter lab" in line)
    assert "notebooks/00_start_here.ipynb" in lab_line
    assert ("--allow-root" in lab_line) == (os.getuid() == 0)
