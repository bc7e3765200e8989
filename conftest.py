"""Shared pytest setup: one thread per library, a headless matplotlib, no leaked figures.

Shared fixtures (toy problems, small networks, ...) go in the section at the bottom.
"""

# Thread trap: thread limits reach only the BLAS/OpenMP libraries already loaded in the process.
# Load SciPy's BLAS (through scipy.sparse.linalg, which the spectrum code uses) and torch first,
# then limit, otherwise SciPy's BLAS keeps its default thread count and oversubscribes the CPU.
import scipy.sparse.linalg  # noqa: F401  (imported for its side effect: loads the BLAS)
import sklearn.datasets  # noqa: F401  (scikit-learn brings its own OpenMP runtime: load it before limiting)
import torch
from threadpoolctl import threadpool_limits

threadpool_limits(limits=1)
torch.set_num_threads(1)

# The backend must be chosen before pyplot is imported anywhere.
import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    """Close every figure after each test so figures do not pile up across the suite."""
    yield
    plt.close("all")


# ---------------------------------------------------------------------------------------------------
# Shared fixtures: add below.
# ---------------------------------------------------------------------------------------------------
