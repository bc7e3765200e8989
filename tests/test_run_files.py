"""Run files from strangers: every malformed file is a ValueError naming the problem, found before allocating.

Each file is crafted by hand (a zip of .npy members, as ``Run.save`` writes them, with one thing wrong).
The files that would need gigabytes if their declared sizes were believed are loaded in a subprocess whose
address space is capped (``RLIMIT_AS``): a regression then fails this test with a MemoryError instead of
taking the machine, or pytest, down.
"""

from __future__ import annotations

import io
import json
import math
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest

import eostutor as eos
from eostutor.record import MAX_LOAD_BYTES, PER_STEP_FIELDS, Run

N = 5  # steps in the crafted runs


def _npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.asarray(array), allow_pickle=False)
    return buf.getvalue()


def _npy_header_only(shape, dtype="<f8") -> bytes:
    """A .npy member that declares ``shape`` but holds only a few bytes of data."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": dtype, "fortran_order": False, "shape": tuple(shape)})
    return buf.getvalue() + b"\0" * 64


def _meta(**changes) -> dict:
    meta = {"format": "eostutor.Run", "format_version": 1, "settings": {"rule": "constant", "seed": 0},
            "final_loss": 0.5, "diverged": False, "diverged_at": None, "interrupted": False, "notes": [],
            "wall_time": 0.1, "label": "crafted"}
    meta.update(changes)
    return meta


def _meta_member(meta) -> bytes:
    raw = meta if isinstance(meta, bytes) else json.dumps(meta).encode()
    return _npy(np.frombuffer(raw, dtype=np.uint8))


def craft(path: Path, meta=None, arrays=None, members=None) -> Path:
    """A run file: ``arrays`` (name -> array, saved as a_<name>.npy), the metadata, and raw ``members``."""
    arrays = {"loss": np.linspace(1.0, 0.5, N), "eta": np.full(N, 0.1)} if arrays is None else arrays
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, array in arrays.items():
            zf.writestr(f"a_{name}.npy", _npy(array))
        if meta is not False:
            zf.writestr("meta.npy", _meta_member(_meta() if meta is None else meta))
        for name, raw in (members or {}).items():
            zf.writestr(name, raw)
    return path


def test_a_crafted_well_formed_file_loads(tmp_path):
    run = Run.load(craft(tmp_path / "ok.npz"))
    assert run.num_steps == N and run.label == "crafted" and run.final_loss == 0.5
    assert np.isnan(run.sharpness).all()  # omitted per-step fields are NaN


def _raw(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _deep(depth: int) -> bytes:
    return b'{"format": "eostutor.Run", "settings": {"extra": {"x": ' + b"[" * depth + b"]" * depth + b"}}}"


CASES = {
    "empty file": (lambda p: _raw(p, b""), "BadZipFile"),
    "not a zip": (lambda p: _raw(p, b"PK\x03\x04 but then nothing"), "BadZipFile"),
    "no metadata": (lambda p: craft(p, meta=False), "no eostutor metadata"),
    "meta is a list": (lambda p: craft(p, meta=b'["format", "eostutor.Run"]'), "metadata must be a JSON object"),
    "meta not UTF-8": (lambda p: craft(p, meta=b"\xff\xfe{}"), "'utf-8' codec can't decode"),
    "meta not JSON": (lambda p: craft(p, meta=b"{'format': 1}"), "Expecting property name"),
    "foreign format": (lambda p: craft(p, meta=_meta(format="pandas")), "format is 'pandas'"),
    "newer format": (lambda p: craft(p, meta=_meta(format_version=99)), "format version 99 is newer"),
    "deeply nested JSON": (lambda p: craft(p, meta=_deep(100_000)), "RecursionError"),
    'diverged: "false"': (lambda p: craft(p, meta=_meta(diverged="false")), "diverged must be true or false"),
    "interrupted: 1": (lambda p: craft(p, meta=_meta(interrupted=1)), "interrupted must be true or false"),
    'final_loss: "0.5"': (lambda p: craft(p, meta=_meta(final_loss="0.5")), "final_loss must be a number"),
    "diverged_at: -3": (lambda p: craft(p, meta=_meta(diverged_at=-3)), "diverged_at must be a step number"),
    "diverged_at: true": (lambda p: craft(p, meta=_meta(diverged_at=True)), "diverged_at must be a step number"),
    "wall_time: []": (lambda p: craft(p, meta=_meta(wall_time=[])), "wall_time must be a number"),
    "notes: a string": (lambda p: craft(p, meta=_meta(notes="oops")), "notes must be a list of strings"),
    "label: 3": (lambda p: craft(p, meta=_meta(label=3)), "label must be a string"),
    "final_loss: 10**400": (lambda p: craft(p, meta=_meta(final_loss=10**400)), "OverflowError"),
    "wall_time: 10**400": (lambda p: craft(p, meta=_meta(wall_time=10**400)), "OverflowError"),
    "settings.momentum: 10**400": (lambda p: craft(p, meta=_meta(settings={"momentum": 10**400})),
                                   "OverflowError"),
    "bad tagged float": (lambda p: craft(p, meta=_meta(final_loss={"__float__": "1e400"})), "bad tagged float"),
    "settings: a list": (lambda p: craft(p, meta=_meta(settings=[1, 2])), "settings must be a mapping"),
    'settings.seed: "0"': (lambda p: craft(p, meta=_meta(settings={"seed": "0"})),
                           "settings.seed must be an integer"),
    "settings.nesterov: 0": (lambda p: craft(p, meta=_meta(settings={"nesterov": 0})),
                             "settings.nesterov must be true or false"),
    "mismatched lengths": (lambda p: craft(p, arrays={"loss": np.ones(N), "eta": np.ones(N - 2)}),
                           "array 'eta' has shape (3,); a run of 5 steps needs 5 rows"),
    "iterates one short": (lambda p: craft(p, arrays={"loss": np.ones(N), "params": np.ones((N, 2))}),
                           "array 'params' has shape (5, 2); a run of 5 steps needs 6 rows"),
    "2-D loss": (lambda p: craft(p, arrays={"loss": np.ones((N, 3))}), "array 'loss' must be one-dimensional"),
    "0-d loss": (lambda p: craft(p, arrays={"loss": np.float64(1.0)}), "array 'loss' must be one-dimensional"),
    "string loss": (lambda p: craft(p, arrays={"loss": np.array(["a"] * N)}), "run arrays are numeric"),
    "complex eta": (lambda p: craft(p, arrays={"loss": np.ones(N), "eta": np.ones(N, dtype=complex)}),
                    "run arrays are numeric"),
    "object array": (lambda p: craft(p, members={"a_x.npy": _npy_header_only((1,), "|O")}), "Python objects"),
    "not a .npy member": (lambda p: craft(p, members={"evil.py": b"import os"}), "unexpected member 'evil.py'"),
    "too many members": (lambda p: craft(p, members={f"a_x{i}.npy": _npy(np.ones(1)) for i in range(1001)}),
                         "1,004 members (a run file has at most 1,000)"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_malformed_file_is_a_value_error_naming_the_problem(case, tmp_path):
    make, needle = CASES[case]
    path = make(tmp_path / "run.npz")
    with pytest.raises(ValueError) as info:
        Run.load(path)
    message = str(info.value)
    assert "is not a readable eostutor run file" in message
    assert needle in message, f"{case}: {message}"
    assert len(message) <= 400


def test_final_loss_null_loads_as_nan_and_the_run_works(tmp_path):
    run = Run.load(craft(tmp_path / "run.npz", meta=_meta(final_loss=None)))
    assert math.isnan(run.final_loss)
    summary = run.summary()
    assert summary["final_loss"] == 0.5 and summary["min_loss"] == 0.5  # the last recorded loss stands in
    assert "crafted" in repr(run)


def test_a_truncated_run_file_is_a_value_error(tmp_path):
    good = eos.train(eos.Quadratic([1.0, 10.0]), 0.1, 50).save(tmp_path / "good.npz")
    raw = good.read_bytes()
    for cut in (11, len(raw) // 2, len(raw) - 10):
        bad = tmp_path / f"cut{cut}.npz"
        bad.write_bytes(raw[:cut])
        with pytest.raises(ValueError, match="not a readable eostutor run file"):
            Run.load(bad)


# -- files that would take gigabytes: refused from their headers, under a memory cap -----------------------
HUGE = {
    # The 78 KB file: a 10-million-step loss of zeros and nothing else, so the 18 omitted per-step
    # fields would be filled with 80 MB arrays each (1.5 GB in all).
    "78 KB of zeros": lambda p: craft(p, arrays={"loss": np.zeros(10_000_000)}),
    "declares a 16 TB loss": lambda p: craft(p, arrays={}, members={"a_loss.npy": _npy_header_only((2 * 10**12,))}),
    "declares huge iterates": lambda p: craft(p, arrays={"loss": np.ones(N)},
                                              members={"a_params.npy": _npy_header_only((N + 1, 10**9))}),
    "declares huge final_params": lambda p: craft(p, members={"final_params.npy": _npy_header_only((10**10,))}),
    "declares a 2 GB meta": lambda p: craft(p, meta=False, members={"meta.npy": _npy_header_only((2 * 10**9,), "|u1")}),
}
HUGE_NEEDLES = {"declares a 2 GB meta": "metadata of 2,000,000,000 bytes"}

_LOADER = textwrap.dedent("""
    import json, resource, sys
    import numpy as np
    from eostutor.record import Run

    def vm_size():
        for line in open("/proc/self/status"):
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024

    cap = vm_size() + 768 * 2**20  # what eostutor already maps, plus 768 MiB
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    out = {}
    try:  # the cap works: 1 GiB is out of reach
        np.ones(2**27)
        out["control"] = "allocated"
    except MemoryError:
        out["control"] = "MemoryError"
    for path in sys.argv[1:]:
        try:
            Run.load(path)
            out[path] = "loaded"
        except ValueError as err:
            out[path] = str(err)
        except MemoryError:
            out[path] = "MemoryError"
    print(json.dumps(out))
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS and /proc are Linux's")
def test_huge_files_are_refused_before_allocating_under_a_memory_cap(tmp_path):
    paths = {case: str(make(tmp_path / f"huge{i}.npz")) for i, (case, make) in enumerate(HUGE.items())}
    sizes = {case: Path(p).stat().st_size for case, p in paths.items()}
    assert max(sizes.values()) < 200_000, sizes  # small files ...
    proc = subprocess.run([sys.executable, "-c", _LOADER, *paths.values()], capture_output=True, text=True,
                          timeout=300, env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout)
    assert result["control"] == "MemoryError", "the memory cap does not bite: this test would prove nothing"
    for case, path in paths.items():
        needle = HUGE_NEEDLES.get(case, f"more than max_bytes = {MAX_LOAD_BYTES / 2**20:,.0f} MiB")
        assert needle in result[path], f"{case} ({sizes[case]:,} bytes): {result[path]}"


def test_max_bytes_lets_a_big_run_load_on_purpose(tmp_path):
    path = craft(tmp_path / "big.npz", arrays={"loss": np.zeros(100_000)})  # 100k steps: 15 MiB with the NaN fields
    with pytest.raises(ValueError, match="more than max_bytes = 10 MiB"):
        Run.load(path, max_bytes=10 * 2**20)
    run = Run.load(path, max_bytes=20 * 2**20)
    assert run.num_steps == 100_000 and set(PER_STEP_FIELDS) <= set(run.arrays)
