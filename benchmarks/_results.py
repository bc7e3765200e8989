"""Where every benchmark writes its numbers: ``benchmarks/results/NAME.json``, with the date and machine."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict:
    """What the numbers depend on: date, CPU count, Python and library versions, torch threads."""
    info = {"date": time.strftime("%Y-%m-%d %H:%M"), "cpus": os.cpu_count(), "python": platform.python_version(),
            "processor": platform.processor() or platform.machine()}
    try:
        import torch

        info.update(torch=torch.__version__, torch_threads=torch.get_num_threads())
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    return info


def save(result: dict, out) -> Path:
    """Write ``result`` (plus ``machine()`` under "machine" unless given) as indented JSON; say where."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    result = {"machine": machine(), **result}
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")
    return out
