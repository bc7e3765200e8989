"""The Hessian at a point as an operator: ``H @ v`` by Hessian-vector products (HVPs).

Spectra are algorithms (``eostutor.spectrum``); curvature is an operator they act on. A
:class:`HessianOperator` wraps one :class:`~eostutor.problems.LocalCurvature`: the gradient graph is built
once at w and every product ``H @ v`` differentiates it again, which costs about 1.3 gradients per HVP
instead of about 2.4 for a fresh double backward. The same operator also carries the loss and gradient
at w, so a training loop can take its gradient step and estimate the sharpness from one graph.
"""

from __future__ import annotations

import numpy as np
import torch

from eostutor._validate import check_int
from eostutor.problems import DENSE_HESSIAN_LIMIT, LocalCurvature, Problem

__all__ = ["HessianOperator"]


class HessianOperator:
    """The Hessian H(w) of a problem at a fixed point w, applied through HVPs.

    Args:
        problem: Any :class:`~eostutor.problems.Problem`.
        w: The point (a 1-D tensor of length ``problem.dim``).

    Attributes:
        problem: The problem.
        shape: ``(dim, dim)``.
        dtype: The problem's dtype; products come back in it (float32 problems give float32 products).
        loss: f(w) (a float), from the same graph as the products.
        grad: ∇f(w) (a detached tensor), from the same graph.
        num_hvps: HVPs computed so far (a ``(dim, m)`` matrix counts m).

    >>> from eostutor.problems import Quadratic
    >>> H = HessianOperator(Quadratic([1.0, 3.0]), torch.ones(2, dtype=torch.float64))
    >>> (H @ torch.tensor([0.0, 1.0], dtype=torch.float64)).tolist(), H.num_hvps
    ([0.0, 3.0], 1)
    """

    def __init__(self, problem: Problem, w: torch.Tensor):
        if not isinstance(problem, Problem):
            raise ValueError(f"problem must be an eostutor Problem, got {type(problem).__name__}")
        w = problem._check_vector(w, "w")
        if not bool(torch.isfinite(w).all()):
            raise ValueError("w must be finite; got a parameter vector with NaN or inf entries")
        self._local = problem.hvp_at(w)
        self.problem = problem

    @classmethod
    def from_local(cls, local: LocalCurvature) -> HessianOperator:
        """Wrap an existing ``LocalCurvature`` (from ``problem.hvp_at(w)``) without building a new graph.

        The training loop computes ``local = problem.hvp_at(w)`` for its gradient step and passes
        ``HessianOperator.from_local(local)`` to ``sharpness(..., operator=...)``: one graph for both.

        >>> from eostutor.problems import Quadratic
        >>> q = Quadratic([2.0, 5.0])
        >>> H = HessianOperator.from_local(q.hvp_at(torch.zeros(2, dtype=torch.float64)))
        >>> H.dense().diagonal().tolist()
        [2.0, 5.0]
        """
        if not isinstance(local, LocalCurvature):
            raise ValueError(f"local must be a LocalCurvature (from problem.hvp_at(w)), got {type(local).__name__}")
        op = cls.__new__(cls)
        op._local = local
        op.problem = local.problem
        return op

    # -- properties ----------------------------------------------------------------------------------
    @property
    def dim(self) -> int:
        """Number of parameters."""
        return self.problem.dim

    @property
    def shape(self) -> tuple[int, int]:
        """``(dim, dim)``."""
        return (self.problem.dim, self.problem.dim)

    @property
    def dtype(self) -> torch.dtype:
        """The problem's dtype (the dtype of the products)."""
        return self.problem.dtype

    @property
    def device(self) -> torch.device:
        """The problem's device."""
        return self.problem.device

    @property
    def loss(self) -> float:
        """f(w)."""
        return self._local.loss

    @property
    def grad(self) -> torch.Tensor:
        """∇f(w) (detached)."""
        return self._local.grad

    @property
    def num_hvps(self) -> int:
        """HVPs computed so far through this operator (and its SciPy view)."""
        return self._local.num_hvps

    @property
    def local(self) -> LocalCurvature:
        """The wrapped ``LocalCurvature``."""
        return self._local

    # -- products ------------------------------------------------------------------------------------
    def __matmul__(self, v: torch.Tensor) -> torch.Tensor:
        """H @ v for a vector ``(dim,)`` or a matrix of columns ``(dim, m)`` (batched, m HVPs)."""
        return self._local.hvp(v)

    def matvec(self, v: torch.Tensor) -> torch.Tensor:
        """Same as ``self @ v``."""
        return self._local.hvp(v)

    def dense(self, max_dim: int | None = None) -> torch.Tensor:
        """The dense Hessian ``(dim, dim)`` in the problem's dtype, from batched HVPs on this graph.

        Costs ``dim`` HVPs (counted). Symmetrized to remove round-off.

        Args:
            max_dim: Refuse above this many parameters (default ``DENSE_HESSIAN_LIMIT`` = 4000).

        Raises:
            ValueError: If ``dim > max_dim``; use Lanczos (``method="lanczos"``) instead.

        >>> from eostutor.problems import Quadratic
        >>> HessianOperator(Quadratic([1.0, 4.0]), torch.zeros(2, dtype=torch.float64)).dense().tolist()
        [[1.0, 0.0], [0.0, 4.0]]
        """
        limit = DENSE_HESSIAN_LIMIT if max_dim is None else check_int("max_dim", max_dim, minimum=1)
        n = self.dim
        if n > limit:
            raise ValueError(
                f"dense Hessian refused: dim={n} exceeds max_dim={limit} ({n}x{n} floats); "
                "use method='lanczos' (Hessian-vector products) instead"
            )
        h = torch.empty(n, n, dtype=self.dtype, device=self.device)
        block = 128  # bounded memory for the batched products (Binder has 2 GB)
        for start in range(0, n, block):
            stop = min(start + block, n)
            eye = torch.zeros(n, stop - start, dtype=self.dtype, device=self.device)
            eye[torch.arange(start, stop), torch.arange(stop - start)] = 1.0
            h[:, start:stop] = self._local.hvp(eye)
        return 0.5 * (h + h.T)

    def to_scipy(self):
        """A ``scipy.sparse.linalg.LinearOperator`` view in float64 NumPy (for ``eigsh`` and friends).

        Products go through this operator, so ``num_hvps`` counts them too.

        >>> from scipy.sparse.linalg import eigsh
        >>> from eostutor.problems import Quadratic
        >>> H = HessianOperator(Quadratic([1.0, 2.0, 7.0]), torch.zeros(3, dtype=torch.float64))
        >>> round(float(eigsh(H.to_scipy(), k=1, which="LA")[0][0]), 6)
        7.0
        """
        from scipy.sparse.linalg import LinearOperator

        def matmat(x):
            x = np.asarray(x, dtype=np.float64)
            out = self._local.hvp(torch.as_tensor(x, dtype=self.dtype, device=self.device))
            return out.detach().to(device="cpu", dtype=torch.float64).numpy()

        def matvec(x):  # SciPy passes (dim,) or (dim, 1)
            x = np.asarray(x, dtype=np.float64)
            return matmat(x.reshape(-1)).reshape(x.shape)

        return LinearOperator(self.shape, matvec=matvec, rmatvec=matvec, matmat=matmat, rmatmat=matmat,
                              dtype=np.float64)

    def __repr__(self) -> str:
        dt = str(self.dtype).replace("torch.", "")
        name = repr(self.problem)
        if len(name) > 80:  # e.g. a Quadratic with hundreds of eigenvalues
            name = f"{type(self.problem).__name__}(...)"
        return f"HessianOperator({name}, dim={self.dim}, dtype={dt}, num_hvps={self.num_hvps})"
