"""Toy problems with closed-form derivatives and exact spectra (checked against autograd in the tests)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from eostutor._validate import check_finite, check_in_range, check_int
from eostutor.problems.base import Problem

__all__ = ["Quadratic", "Quartic", "HolderPower", "ScalarNet", "Minimalist"]


class Quadratic(Problem):
    """f(w) = ½ wᵀ A w with a chosen spectrum: GD is stable iff eta < 2 / λ_max(A).

    Args:
        eigenvalues: The spectrum of A (finite numbers; negative values make a saddle).
        rotate: ``False`` for a diagonal A, or an integer seed for A = Q diag(λ) Qᵀ with a random
            orthogonal Q.
        dtype, device: Torch dtype (float64 default) and device.

    >>> q = Quadratic([1.0, 10.0])
    >>> q.sharpness, q.loss(torch.tensor([1.0, 1.0], dtype=torch.float64))
    (10.0, 5.5)
    """

    name = "quadratic"
    closed_form = True

    def __init__(self, eigenvalues: Sequence[float] = (1.0, 10.0), rotate: bool | int = False,
                 dtype: torch.dtype = torch.float64, device="cpu"):
        try:
            values = np.atleast_1d(np.asarray(eigenvalues, dtype=np.float64))
        except (TypeError, ValueError):
            raise ValueError(f"eigenvalues must be a non-empty list of finite numbers, got {eigenvalues!r}") from None
        if values.ndim != 1 or values.size < 1 or not np.all(np.isfinite(values)):
            raise ValueError(f"eigenvalues must be a non-empty list of finite numbers, got {eigenvalues!r}")
        if not (rotate is False or rotate is True or isinstance(rotate, (int, np.integer))) or (
            rotate is not False and int(rotate) < 0
        ):
            raise ValueError(f"rotate must be False or an integer seed >= 0, got {rotate!r}")
        super().__init__(values.size, dtype, device)
        self.eigenvalues = values
        self.rotate = rotate
        if rotate is False:
            q = torch.eye(self.dim, dtype=torch.float64)
        else:
            gen = torch.Generator().manual_seed(int(rotate))
            q, r = torch.linalg.qr(torch.randn(self.dim, self.dim, generator=gen, dtype=torch.float64))
            q = q * torch.sign(torch.diagonal(r))  # a uniformly random orthogonal matrix
        self.eigenvectors = q.to(dtype=dtype, device=self.device)
        self.matrix = (q * torch.as_tensor(values)) @ q.T
        self.matrix = (0.5 * (self.matrix + self.matrix.T)).to(dtype=dtype, device=self.device)

    @property
    def sharpness(self) -> float:
        """λ_max(A), the exact sharpness at every w."""
        return float(self.eigenvalues.max())

    def objective(self, w):
        return 0.5 * w @ (self.matrix @ w)

    def loss_and_grad(self, w):
        w = self.check_params(w, "w")
        g = self.matrix @ w  # one product for both
        return 0.5 * float(w @ g), g

    def closed_form_hessian(self, w):
        return self.matrix

    def init(self, seed: int = 0) -> torch.Tensor:
        """Standard normal coordinates (seeded)."""
        return torch.randn(self.dim, generator=self._generator(seed), dtype=torch.float64).to(self.dtype)

    def __repr__(self) -> str:
        rot = "" if self.rotate is False else f", rotate={self.rotate}"
        return f"Quadratic(eigenvalues={[float(x) for x in self.eigenvalues]}{rot})"


class Quartic(Problem):
    """f(w) = Σ wᵢ⁴ / 4: f'' = 3w², so the gradient is only locally Lipschitz (no global "safe" eta).

    >>> Quartic().closed_form_hessian(torch.tensor([2.0], dtype=torch.float64)).item()  # the diagonal
    12.0
    """

    name = "quartic"
    closed_form = True

    def __init__(self, dim: int = 1, dtype: torch.dtype = torch.float64, device="cpu"):
        super().__init__(check_int("dim", dim, minimum=1), dtype, device)

    def objective(self, w):
        return (w**4).sum() / 4

    def loss_and_grad(self, w):
        w = self.check_params(w, "w")
        return float(self.objective(w)), w**3

    def closed_form_hessian(self, w):
        return 3 * w**2  # diagonal

    def init(self, seed: int = 0) -> torch.Tensor:
        """Magnitudes in [0.5, 1.5] with random signs (seeded)."""
        gen = self._generator(seed)
        mag = 0.5 + torch.rand(self.dim, generator=gen, dtype=torch.float64)
        sign = torch.where(torch.rand(self.dim, generator=gen, dtype=torch.float64) < 0.5, -1.0, 1.0)
        return (mag * sign).to(self.dtype)

    def __repr__(self) -> str:
        return f"Quartic(dim={self.dim})"


class HolderPower(Problem):
    """f(w) = Σ |wᵢ|^(1+ν) / (1+ν), ν in (0, 1]: the gradient is ν-Hölder; for ν < 1 the Hessian
    ν|w|^(ν-1) is unbounded at 0 (reported as +inf there).

    >>> HolderPower(nu=1.0).grad(torch.tensor([3.0], dtype=torch.float64)).item()
    3.0
    """

    name = "holder"
    closed_form = True

    def __init__(self, nu: float = 0.5, dim: int = 1, dtype: torch.dtype = torch.float64, device="cpu"):
        self.nu = check_in_range("nu", nu, 0.0, 1.0, low_inclusive=False)
        super().__init__(check_int("dim", dim, minimum=1), dtype, device)

    def objective(self, w):
        return (w.abs() ** (1 + self.nu)).sum() / (1 + self.nu)

    def loss_and_grad(self, w):
        w = self.check_params(w, "w")
        return float(self.objective(w)), torch.sign(w) * w.abs() ** self.nu

    def closed_form_hessian(self, w):
        a = w.abs()
        if self.nu == 1.0:
            return torch.ones_like(w)
        # nu |w|^(nu-1) -> +inf as w -> 0: report the blow-up instead of a 0 * inf NaN (diagonal).
        return torch.where(a > 0, self.nu * a ** (self.nu - 1), torch.full_like(a, math.inf))

    def init(self, seed: int = 0) -> torch.Tensor:
        """Magnitudes in [0.5, 1.5] with random signs (seeded)."""
        return Quartic.init(self, seed)

    def __repr__(self) -> str:
        return f"HolderPower(nu={self.nu}, dim={self.dim})"


class ScalarNet(Problem):
    """A depth-d scalar linear network f(w) = ½ (w₁ w₂ ⋯ w_d − y)² (Kreisler et al. 2023).

    Gradient flow conserves wᵢ² − wⱼ²; GD with a fixed eta drifts to flatter minima.

    >>> net = ScalarNet(depth=2, target=1.0)
    >>> net.loss(torch.tensor([1.0, 1.0], dtype=torch.float64))
    0.0
    """

    name = "scalar-net"
    closed_form = True

    def __init__(self, depth: int = 2, target: float = 1.0, dtype: torch.dtype = torch.float64, device="cpu"):
        super().__init__(check_int("depth", depth, minimum=1), dtype, device)
        self.target = check_finite("target", target)

    def objective(self, w):
        return 0.5 * (torch.prod(w) - self.target) ** 2

    def _others(self, w):
        # prod_{j != i} w_j without dividing (w_i may be 0)
        d = self.dim
        m = w.unsqueeze(0).repeat(d, 1)
        m.fill_diagonal_(1.0)
        return torch.prod(m, dim=1)

    def loss_and_grad(self, w):
        # Plain floats: a handful of scalars, where torch's per-operation overhead would dominate (the
        # tests check this fused form against autograd on objective).
        ws = self.check_params(w, "w").tolist()
        r = math.prod(ws) - self.target
        others = [math.prod(ws[:i] + ws[i + 1:]) for i in range(len(ws))]
        return 0.5 * r * r, torch.tensor([r * o for o in others], dtype=self.dtype, device=self.device)

    def closed_form_hessian(self, w):
        d = self.dim
        r = torch.prod(w) - self.target
        p = self._others(w)
        h = torch.outer(p, p)
        for i in range(d):
            for j in range(d):
                if i != j:
                    mask = torch.ones(d, dtype=torch.bool)
                    mask[[i, j]] = False
                    h[i, j] = h[i, j] + r * torch.prod(w[mask])
        return h

    def init(self, seed: int = 0) -> torch.Tensor:
        """Positive weights in [0.5, 1.5] (seeded)."""
        gen = self._generator(seed)
        return (0.5 + torch.rand(self.dim, generator=gen, dtype=torch.float64)).to(self.dtype)

    def __repr__(self) -> str:
        return f"ScalarNet(depth={self.dim}, target={self.target})"


class Minimalist(Problem):
    """Zhu et al. (2023)'s minimalist EoS example f(x, y) = ¼ (x²y² − 1)².

    On the valley of minima x²y² = 1 the sharpness is 2(x² + y²), smallest (= 4) at |x| = |y| = 1.

    >>> m = Minimalist()
    >>> round(float(m.closed_form_hessian(torch.tensor([2.0, 0.5], dtype=torch.float64)).trace()), 6)  # 2(4 + 1/4)
    8.5
    """

    name = "minimalist"
    closed_form = True

    def __init__(self, dtype: torch.dtype = torch.float64, device="cpu"):
        super().__init__(2, dtype, device)

    def objective(self, w):
        x, y = w[0], w[1]
        return 0.25 * (x**2 * y**2 - 1) ** 2

    def loss_and_grad(self, w):
        # Plain floats: two scalars, where torch's per-operation overhead would dominate (the tests check
        # this fused form against autograd on objective).
        x, y = self.check_params(w, "w").tolist()
        u = x * x * y * y - 1.0
        return 0.25 * u * u, torch.tensor([u * x * y * y, u * x * x * y], dtype=self.dtype, device=self.device)

    def closed_form_hessian(self, w):
        x, y = w[0], w[1]
        u = x**2 * y**2 - 1
        hxx = 2 * x**2 * y**4 + u * y**2
        hyy = 2 * x**4 * y**2 + u * x**2
        hxy = 2 * x**3 * y**3 + 2 * u * x * y
        return torch.stack([torch.stack([hxx, hxy]), torch.stack([hxy, hyy])])

    @staticmethod
    def valley_sharpness(x: float) -> float:
        """Sharpness 2(x² + 1/x²) at the minimum (x, 1/x) of the valley.

        >>> Minimalist.valley_sharpness(1.0)
        4.0
        """
        x = check_finite("x", x)
        if x == 0.0:
            raise ValueError("x must be nonzero: the valley x²y² = 1 has no point with x = 0, got 0.0")
        return 2.0 * (x * x + 1.0 / (x * x))

    def init(self, seed: int = 0) -> torch.Tensor:
        """Near the sharp part of the valley: x ≈ 2.5, y ≈ 1/x (sharpness ≈ 12.8), seeded jitter."""
        gen = self._generator(seed)
        x = 2.5 + 0.1 * torch.randn((), generator=gen, dtype=torch.float64)
        y = 1.0 / x + 0.02 * torch.randn((), generator=gen, dtype=torch.float64)
        return torch.stack([x, y]).to(self.dtype)

    def __repr__(self) -> str:
        return "Minimalist()"
