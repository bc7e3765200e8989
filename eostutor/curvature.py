"""Curvature at a point: the one Hessian operator ``H @ v``, batched exact Hessians, and the smoothness
along the gradient step.

Spectra are algorithms (:mod:`eostutor.spectrum`); curvature is the operator they act on. A
:class:`HessianOperator` is built at one point w from what a problem exposes (see
:class:`eostutor.problems.Problem`): a closed-form Hessian for the toys, or else the differentiable
``objective(w)``, whose gradient graph is built once so that every product ``H @ v`` differentiates it
again (about one gradient per product instead of about two for a fresh double backward). It carries the
loss and gradient at w from the same graph, counts every product in ``num_hvps``, and gives the dense
matrix and a SciPy view. It is the only place where Hessian-vector products are computed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from eostutor._validate import as_tensor, check_int
from eostutor.problems import DENSE_HESSIAN_LIMIT

__all__ = ["HessianOperator", "hvp", "hessian", "hessians_at", "SegmentSmoothness", "segment_smoothness",
           "EXACT_BATCH_DIM"]

#: Largest dim for which :func:`hessians_at` builds batched dense Hessians (one dim x dim matrix per point).
EXACT_BATCH_DIM = 10

_F64 = torch.float64


class HessianOperator:
    """The Hessian H(w) of a problem at a fixed point w, applied through products ``H @ v``.

    Args:
        problem: Any object with the problem protocol (:class:`eostutor.problems.Problem`).
        w: The point (a 1-D tensor or array of length ``problem.dim``; must be finite).

    Attributes:
        problem: The problem (``None`` for :meth:`from_matrix`).
        shape: ``(dim, dim)``.
        dtype, device: Those of the problem; products come back in them.
        loss: f(w) (a float), from the same evaluation as the products.
        grad: ∇f(w) (a detached tensor), from the same evaluation.
        num_hvps: Products computed so far (a ``(dim, m)`` block counts m; ``dense()`` counts dim).

    >>> from eostutor.problems import Quadratic
    >>> H = HessianOperator(Quadratic([1.0, 3.0]), torch.ones(2, dtype=torch.float64))
    >>> (H @ torch.tensor([0.0, 1.0], dtype=torch.float64)).tolist(), H.num_hvps, H.loss
    ([0.0, 3.0], 1, 2.0)
    """

    def __init__(self, problem, w):
        w = problem.check_params(w, "w")
        if not bool(torch.isfinite(w).all()):
            raise ValueError(f"w must be finite; got {int((~torch.isfinite(w)).sum())} NaN or inf entries")
        self.problem = problem
        self.dim = int(problem.dim)
        self.dtype = problem.dtype
        self.device = problem.device
        self.num_hvps = 0
        closed = problem.closed_form_hessian(w)
        if closed is not None:
            self.loss, self.grad = problem.loss_and_grad(w)
            self._closed, self._graph = closed.detach(), None
            return
        self._closed = None
        w_ = w.detach().clone().requires_grad_(True)
        with torch.enable_grad():
            f = problem.objective(w_)
            (g,) = torch.autograd.grad(f, w_, create_graph=True, allow_unused=True)
        if g is None:  # the loss does not depend on w
            g = torch.zeros_like(w_)
        self.loss, self.grad = float(f.detach()), g.detach()
        self._graph = (w_, g)

    @classmethod
    def from_matrix(cls, matrix) -> HessianOperator:
        """A fixed symmetric matrix (torch or NumPy) as an operator, counted like a Hessian.

        >>> op = HessianOperator.from_matrix(np.diag([1.0, 2.0]))
        >>> (op @ torch.ones(2, dtype=torch.float64)).tolist(), op.num_hvps
        ([1.0, 2.0], 1)
        """
        try:
            m = matrix if isinstance(matrix, torch.Tensor) else torch.as_tensor(np.array(matrix, dtype=np.float64))
        except (TypeError, ValueError):
            raise ValueError("operator must be a HessianOperator or a square float matrix (torch or NumPy), "
                             f"got {type(matrix).__name__}") from None
        if m.ndim != 2 or m.shape[0] != m.shape[1] or not m.is_floating_point():
            raise ValueError("operator must be a HessianOperator or a square float matrix (torch or NumPy), "
                             f"got shape {tuple(m.shape)} and dtype {m.dtype}")
        op = cls.__new__(cls)
        op.problem, op.dim, op.dtype, op.device = None, int(m.shape[0]), m.dtype, m.device
        op.num_hvps, op.loss, op.grad = 0, math.nan, None
        op._closed, op._graph = m, None
        return op

    @property
    def shape(self) -> tuple[int, int]:
        """``(dim, dim)``."""
        return (self.dim, self.dim)

    def _columns(self, v) -> torch.Tensor:
        return as_tensor("v", v, self.dim, columns=True).to(dtype=self.dtype, device=self.device)

    def __matmul__(self, v) -> torch.Tensor:
        """H @ v for a vector ``(dim,)`` or a block of columns ``(dim, m)`` (m products)."""
        v = self._columns(v)
        return self.apply(v.reshape(-1, 1)).reshape(-1) if v.ndim == 1 else self.apply(v)

    def apply(self, v: torch.Tensor) -> torch.Tensor:
        """H @ v for a block ``(dim, m)`` already in the operator's dtype and device, without checks (the
        solvers' inner loop); counted like ``@``.
        """
        self.num_hvps += v.shape[1]
        if self._closed is not None:
            return self._closed[:, None] * v if self._closed.ndim == 1 else self._closed @ v
        w_, g = self._graph
        if not g.requires_grad:  # the gradient does not depend on w: the Hessian is zero
            return torch.zeros_like(v)
        with torch.enable_grad():
            # One backward pass per column: measured on the reference MLP, autograd's batched (vmap) route is
            # no faster for 2-8 columns and 25-35% slower for 16-64, so blocks are multiplied column by column.
            columns = [torch.autograd.grad(g, w_, c, retain_graph=True)[0] for c in v.T.contiguous()]
        return columns[0].reshape(-1, 1) if len(columns) == 1 else torch.stack(columns, dim=1)

    matvec = __matmul__

    def rayleigh(self, v) -> float:
        """The curvature along ``v``, vᵀHv / ‖v‖², in float64 (one product; NaN for v = 0).

        >>> from eostutor.problems import Quadratic
        >>> HessianOperator(Quadratic([1.0, 3.0]), torch.zeros(2, dtype=torch.float64)).rayleigh([1.0, 1.0])
        2.0
        """
        v = self._columns(v).reshape(-1)
        v64 = v.to(_F64)
        vv = float(v64 @ v64)
        return float(v64 @ (self @ v).to(_F64)) / vv if vv > 0 else math.nan

    def dense(self, max_dim: int | None = None) -> torch.Tensor:
        """The dense Hessian ``(dim, dim)`` in the problem's dtype, symmetrized (counts dim products).

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
            raise ValueError(f"dense Hessian refused: dim={n} exceeds max_dim={limit} ({n}x{n} floats); "
                             "use method='lanczos' (Hessian-vector products) instead")
        if self._closed is not None:
            self.num_hvps += n
            h = torch.diag(self._closed) if self._closed.ndim == 1 else self._closed.clone()
            return 0.5 * (h + h.T)
        h = torch.empty(n, n, dtype=self.dtype, device=self.device)
        block = 128  # products against identity columns, a block at a time (bounded memory: Binder has 2 GB)
        for start in range(0, n, block):
            stop = min(start + block, n)
            eye = torch.zeros(n, stop - start, dtype=self.dtype, device=self.device)
            eye[torch.arange(start, stop), torch.arange(stop - start)] = 1.0
            h[:, start:stop] = self @ eye
        return 0.5 * (h + h.T)  # exact in theory; symmetrize away round-off

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
            out = self @ torch.as_tensor(np.array(x, dtype=np.float64), dtype=self.dtype, device=self.device)
            return out.detach().to(device="cpu", dtype=_F64).numpy()

        def matvec(x):  # SciPy passes (dim,) or (dim, 1)
            x = np.asarray(x, dtype=np.float64)
            return matmat(x.reshape(-1)).reshape(x.shape)

        return LinearOperator(self.shape, matvec=matvec, rmatvec=matvec, matmat=matmat, rmatmat=matmat,
                              dtype=np.float64)

    def __repr__(self) -> str:
        dt = str(self.dtype).replace("torch.", "")
        name = "matrix" if self.problem is None else repr(self.problem)
        if len(name) > 80:  # e.g. a Quadratic with hundreds of eigenvalues
            name = f"{type(self.problem).__name__}(...)"
        return f"HessianOperator({name}, dim={self.dim}, dtype={dt}, num_hvps={self.num_hvps})"


def hvp(problem, w, v) -> torch.Tensor:
    """H(w) @ v for a vector ``(dim,)`` or a block ``(dim, m)`` (one operator built at w; for many products
    at one point, build a :class:`HessianOperator` once and reuse it).

    >>> from eostutor.problems import Quadratic
    >>> hvp(Quadratic([1.0, 3.0]), [1.0, 1.0], torch.tensor([0.0, 1.0], dtype=torch.float64)).tolist()
    [0.0, 3.0]
    """
    return HessianOperator(problem, w) @ v


def hessian(problem, w, max_dim: int | None = None) -> torch.Tensor:
    """The dense Hessian at w, a ``(dim, dim)`` tensor in the problem's dtype.

    Args:
        problem: Any problem.
        w: Parameters.
        max_dim: Refuse above this many parameters (default ``DENSE_HESSIAN_LIMIT`` = 4000).

    Raises:
        ValueError: If ``dim > max_dim``; use ``sharpness(..., method="lanczos")`` instead.

    >>> from eostutor.problems import Quartic
    >>> hessian(Quartic(), torch.tensor([2.0], dtype=torch.float64)).item()
    12.0
    """
    return HessianOperator(problem, w).dense(max_dim)


def hessians_at(problem, points) -> torch.Tensor:
    """Dense Hessians of a tiny problem at many points at once: ``(n, dim, dim)``.

    ``vmap`` evaluates f at every row; as the rows are independent, the gradient of Σ f is the per-row
    gradient, and differentiating its column j again gives row j of every Hessian (dim backward passes):
    about 5 ms for 1,000 points of a 2-D toy. Problems whose objective cannot be vmapped fall back to one
    :class:`HessianOperator` per point. Plain autograd on purpose: ``torch.func.hessian`` would first import
    torch._dynamo (~2 s, once).

    Args:
        problem: A problem with ``dim <= EXACT_BATCH_DIM`` (10).
        points: A tensor ``(n, dim)`` in the problem's dtype (finite rows).

    >>> from eostutor.problems import Quadratic
    >>> hessians_at(Quadratic([1.0, 10.0]), torch.zeros(3, 2, dtype=torch.float64))[0].diagonal().tolist()
    [1.0, 10.0]
    """
    if problem.dim > EXACT_BATCH_DIM:
        raise ValueError(f"hessians_at is for problems with dim <= {EXACT_BATCH_DIM}, got dim={problem.dim}")
    w = points.detach().clone().requires_grad_(True)
    try:
        with torch.enable_grad():
            f = torch.func.vmap(problem.objective)(w)
            (g,) = torch.autograd.grad(f.sum(), w, create_graph=True)
            if not g.requires_grad:  # the gradient does not depend on w: the Hessian is zero
                return torch.zeros(w.shape[0], w.shape[1], w.shape[1], dtype=w.dtype, device=w.device)
            rows = [torch.autograd.grad(g[:, j].sum(), w, retain_graph=True, allow_unused=True)[0]
                    for j in range(w.shape[1])]
    except Exception:  # objective not vmappable: the operator, one point at a time (same numbers)
        return torch.stack([HessianOperator(problem, p).dense() for p in points.detach()])
    rows = [torch.zeros_like(w) if r is None else r for r in rows]
    return torch.stack(rows, dim=1).detach()


@dataclass(repr=False)
class SegmentSmoothness:
    """Local smoothness along the gradient step (Flatland, Figure 4).

    Attributes:
        step_sizes: The step sizes s (as given).
        smoothness: ‖∇f(w) − ∇f(w − s g)‖ / (s‖g‖) for each s (g = ∇f(w)).
        rayleigh: gᵀHg/‖g‖², the curvature along g at w (one HVP).
        grad_norm: ‖g‖.
        loss: f(w).
    """

    step_sizes: np.ndarray
    smoothness: np.ndarray
    rayleigh: float
    grad_norm: float
    loss: float

    @property
    def segment_sup(self) -> np.ndarray:
        """l(w, s) = max of ``smoothness`` over the given steps ≤ s: the segment smoothness of the paper
        evaluated on this grid of steps (nondecreasing in s).
        """
        order = np.argsort(self.step_sizes, kind="stable")
        running = np.maximum.accumulate(self.smoothness[order])
        out = np.empty_like(running)
        out[order] = running
        return out

    def __repr__(self) -> str:
        s = self.step_sizes
        return (f"SegmentSmoothness({len(s)} step sizes in [{s.min():.3g}, {s.max():.3g}], smoothness in "
                f"[{np.nanmin(self.smoothness):.4g}, {np.nanmax(self.smoothness):.4g}], rayleigh={self.rayleigh:.4g})")


def segment_smoothness(problem, w, step_sizes: Sequence[float] | np.ndarray) -> SegmentSmoothness:
    """The local smoothness along the gradient step, ‖∇f(w) − ∇f(w − s g)‖ / (s‖g‖), for each step size s.

    This is the quantity of Flatland's Figure 4 (plotted log–log against s): on a quadratic ½wᵀAw it is
    ‖A g‖/‖g‖ for every s; where curvature grows away from w (the quartic) it grows with s. Its running
    maximum over s ≤ η is the segment smoothness l(w, η) (``.segment_sup``); a step is "large" when
    η·l(w, η) ≥ 1, and beyond the local descent-lemma guarantee when η·l(w, η) > 2. Costs one gradient per
    step size plus one HVP (for the curvature along g, gᵀHg/‖g‖²). At a stationary point (g = 0) the ratios
    are NaN.

    Args:
        problem: Any problem (:class:`eostutor.problems.Problem`).
        w: The point.
        step_sizes: Positive step sizes s (a 1-D sequence).

    Returns:
        A :class:`SegmentSmoothness`.

    >>> from eostutor.problems import Quadratic
    >>> seg = segment_smoothness(Quadratic([1.0, 3.0]), torch.tensor([1.0, 0.0], dtype=torch.float64), [0.1, 10.0])
    >>> seg.smoothness.round(12).tolist(), seg.rayleigh
    ([1.0, 1.0], 1.0)
    """
    try:
        s = np.atleast_1d(np.asarray(step_sizes, dtype=np.float64))
    except (TypeError, ValueError):
        raise ValueError(f"step_sizes must be a 1-D sequence of positive numbers, got {step_sizes!r}") from None
    if s.ndim != 1 or s.size == 0 or not np.all(np.isfinite(s)) or np.any(s <= 0):
        raise ValueError(f"step_sizes must be a non-empty 1-D sequence of finite numbers > 0, got {step_sizes!r}")
    op = HessianOperator(problem, w)
    w = problem.check_params(w, "w")
    g64 = op.grad.to(_F64)
    gnorm = float(g64.norm())
    if gnorm == 0.0:
        return SegmentSmoothness(s, np.full(s.shape, np.nan), math.nan, 0.0, float(op.loss))
    rayleigh = float(g64 @ (op @ op.grad).to(_F64)) / gnorm**2
    out = np.empty_like(s)
    for i, si in enumerate(s):
        g_s = problem.grad(w - float(si) * op.grad).to(_F64)
        out[i] = float((g64 - g_s).norm()) / (float(si) * gnorm)
    return SegmentSmoothness(s, out, rayleigh, gnorm, float(op.loss))
