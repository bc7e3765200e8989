"""Optimization problems on a flat parameter vector: toys with exact spectra and small networks.

Every problem follows one protocol (see ``Problem``): ``dim``, ``init(seed)``, ``loss(w)``, ``grad(w)``,
``loss_and_grad(w)``, ``hvp(w, v)``, ``hvp_at(w)`` (many HVPs at one point, cheaply), ``hessian(w)``,
``sharpness_floor`` and, for problems with held-out data, ``evaluate(w)``.

Toys compute their derivatives from closed-form formulas (checked against autograd in the tests);
network problems use autograd on ``objective(w)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from eostutor._validate import check_choice, check_finite, check_in_range, check_int, check_positive
from eostutor.datasets import Dataset, make_dataset

__all__ = [
    "Problem",
    "LocalCurvature",
    "Quadratic",
    "Quartic",
    "HolderPower",
    "ScalarNet",
    "Minimalist",
    "LinearClassifier",
    "MLPProblem",
    "PROBLEMS",
    "make_problem",
    "DENSE_HESSIAN_LIMIT",
]

#: Largest ``dim`` for which ``hessian(w)`` builds a dense matrix by default (memory dim^2 floats, and an
#: eigendecomposition that stays around a second on a laptop).
DENSE_HESSIAN_LIMIT = 4000


def _check_device(device) -> torch.device:
    try:
        return torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"device must be a torch device such as 'cpu', got {device!r}") from None


class LocalCurvature:
    """Loss, gradient and Hessian-vector products at one point, sharing one autograd graph.

    Building the gradient with ``create_graph=True`` once and differentiating it again for each vector
    costs about 1.3 gradients per HVP on a CPU, instead of about 2.4 for a fresh double backward.

    Attributes:
        loss: f(w) as a float.
        grad: The gradient at w (detached).
        num_hvps: How many HVPs were computed (a matrix of m columns counts m).
    """

    def __init__(self, problem: Problem, w: torch.Tensor):
        self.problem = problem
        self._w = w.detach().clone().requires_grad_(True)
        with torch.enable_grad():
            f = problem.objective(self._w)
            (g,) = torch.autograd.grad(f, self._w, create_graph=True)
        self.loss = float(f.detach())
        self.grad = g.detach()
        self._g = g
        self.num_hvps = 0

    def hvp(self, v: torch.Tensor) -> torch.Tensor:
        """H(w) @ v for a vector ``(dim,)`` or a matrix of columns ``(dim, m)``."""
        v = self.problem._check_vector(v, "v", allow_matrix=True)
        self.num_hvps += 1 if v.ndim == 1 else v.shape[1]
        if not self._g.requires_grad:  # the gradient does not depend on w: the Hessian is zero
            return torch.zeros_like(v)
        with torch.enable_grad():
            if v.ndim == 1 or v.shape[1] == 1:  # one column: the plain product beats the vmap path
                (hv,) = torch.autograd.grad(self._g, self._w, v.reshape(-1), retain_graph=True)
                return hv.detach().reshape(v.shape)
            (hv,) = torch.autograd.grad(
                self._g, self._w, v.T.contiguous(), retain_graph=True, is_grads_batched=True
            )
        return hv.T.detach()


class _ExactCurvature(LocalCurvature):
    """LocalCurvature of a toy from its closed-form loss, gradient and Hessian.

    Toys with a diagonal Hessian keep only the diagonal, so HVPs work at any ``dim`` (the dense-Hessian
    limit of ``Problem.hessian`` guards memory, it must not forbid HVPs).
    """

    def __init__(self, problem: Problem, w: torch.Tensor):
        self.problem = problem
        self.loss, self.grad = problem.loss_and_grad(w)
        self._diag = problem._hessian_diagonal(w)
        self._hessian = problem._hessian(w) if self._diag is None else None
        self.num_hvps = 0

    def hvp(self, v: torch.Tensor) -> torch.Tensor:
        """H(w) @ v for a vector ``(dim,)`` or a matrix of columns ``(dim, m)``."""
        v = self.problem._check_vector(v, "v", allow_matrix=True)
        self.num_hvps += 1 if v.ndim == 1 else v.shape[1]
        if self._diag is not None:
            return self._diag * v if v.ndim == 1 else self._diag[:, None] * v
        return self._hessian @ v


class Problem:
    """Base class: a loss on a flat parameter vector ``w`` of length ``dim``.

    Subclasses implement ``objective(w)`` (a differentiable torch scalar) and ``init(seed)``; toys also
    override ``_loss``, ``_grad`` and ``_hessian`` with closed forms, which then take precedence.

    Attributes:
        dim: Number of parameters.
        dtype: Floating dtype of parameters and data (float64 by default).
        device: Torch device (CPU by default).
        sharpness_floor: A lower bound on the sharpness valid at every w (2/K for K-output MSE with a
            last-layer bias, else 0).
        num_classes: K for classifiers, else ``None``.
    """

    name = "problem"
    sharpness_floor = 0.0
    num_classes: int | None = None
    analytic = False

    def __init__(self, dim: int, dtype: torch.dtype = torch.float64, device="cpu"):
        if dtype not in (torch.float32, torch.float64):
            raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype!r}")
        self.dim = int(dim)
        self.dtype = dtype
        self.device = _check_device(device)

    # -- the protocol -------------------------------------------------------------------------------
    def objective(self, w: torch.Tensor) -> torch.Tensor:
        """The loss as a differentiable torch scalar (the autograd backend)."""
        raise NotImplementedError

    def init(self, seed: int = 0) -> torch.Tensor:
        """A seeded starting point: a flat tensor of length ``dim``."""
        raise NotImplementedError

    def loss(self, w: torch.Tensor) -> float:
        """f(w) as a Python float."""
        w = self._check_vector(w, "w")
        if self.analytic:
            return float(self._loss(w))
        with torch.no_grad():
            return float(self.objective(w))

    def grad(self, w: torch.Tensor) -> torch.Tensor:
        """The gradient of f at w (a detached 1-D tensor)."""
        return self.loss_and_grad(w)[1]

    def loss_and_grad(self, w: torch.Tensor) -> tuple[float, torch.Tensor]:
        """f(w) and its gradient in one pass."""
        w = self._check_vector(w, "w")
        if self.analytic:
            return self._loss_and_grad(w)
        w_ = w.detach().clone().requires_grad_(True)
        with torch.enable_grad():
            f = self.objective(w_)
            (g,) = torch.autograd.grad(f, w_, allow_unused=True)
        if g is None:
            g = torch.zeros_like(w_)
        return float(f.detach()), g.detach()

    def hvp_at(self, w: torch.Tensor) -> LocalCurvature:
        """Loss, gradient and cheap repeated Hessian-vector products at w.

        >>> lc = Quadratic([1.0, 3.0]).hvp_at(torch.tensor([1.0, 1.0], dtype=torch.float64))
        >>> lc.hvp(torch.tensor([0.0, 1.0], dtype=torch.float64)).tolist()
        [0.0, 3.0]
        """
        w = self._check_vector(w, "w")
        return _ExactCurvature(self, w) if self.analytic else LocalCurvature(self, w)

    def hvp(self, w: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """H(w) @ v."""
        return self.hvp_at(w).hvp(v)

    def hessian(self, w: torch.Tensor, max_dim: int | None = None) -> torch.Tensor:
        """The dense Hessian at w, a ``(dim, dim)`` tensor.

        Args:
            w: Parameters.
            max_dim: Refuse above this many parameters (default ``DENSE_HESSIAN_LIMIT``).

        Raises:
            ValueError: If ``dim > max_dim``; use ``sharpness(..., method="lanczos")`` instead.
        """
        limit = DENSE_HESSIAN_LIMIT if max_dim is None else check_int("max_dim", max_dim, minimum=1)
        if self.dim > limit:
            raise ValueError(
                f"dense Hessian refused: dim={self.dim} exceeds max_dim={limit} "
                f"({self.dim}x{self.dim} floats); use method='lanczos' (Hessian-vector products) instead"
            )
        w = self._check_vector(w, "w")
        if self.analytic:
            return self._hessian(w).detach()
        lc = LocalCurvature(self, w)
        h = torch.empty(self.dim, self.dim, dtype=self.dtype, device=self.device)
        # Batched HVPs against blocks of identity columns: fast, with bounded memory (Binder has 2 GB).
        block = 128
        for start in range(0, self.dim, block):
            stop = min(start + block, self.dim)
            eye = torch.zeros(self.dim, stop - start, dtype=self.dtype, device=self.device)
            eye[torch.arange(start, stop), torch.arange(stop - start)] = 1.0
            h[:, start:stop] = lc.hvp(eye)
        return 0.5 * (h + h.T)  # exact in theory; symmetrize away round-off

    def _loss_and_grad(self, w: torch.Tensor) -> tuple[float, torch.Tensor]:
        # Closed-form toys: one call per training step, so toys may override this with a fused version.
        return float(self._loss(w)), self._grad(w).detach()

    @property
    def has_data(self) -> bool:
        """Whether the problem has held-out data for ``evaluate``."""
        return False

    def evaluate(self, w: torch.Tensor) -> dict:
        """Held-out metrics; only problems with data implement it."""
        raise ValueError(f"{self!r} has no held-out data to evaluate on")

    # -- helpers ------------------------------------------------------------------------------------
    def _hessian_diagonal(self, w: torch.Tensor) -> torch.Tensor | None:
        """The Hessian's diagonal when the Hessian is diagonal (toys override), else ``None``."""
        return None

    def _check_vector(self, v, name: str, allow_matrix: bool = False) -> torch.Tensor:
        if not isinstance(v, torch.Tensor):
            try:
                v = torch.as_tensor(np.asarray(v, dtype=np.float64))
            except (TypeError, ValueError):
                raise ValueError(f"{name} must be a tensor of shape ({self.dim},), got {type(v).__name__}") from None
        ok = v.ndim == 1 and v.shape[0] == self.dim
        if allow_matrix:
            ok = ok or (v.ndim == 2 and v.shape[0] == self.dim)
        if not ok:
            expected = f"({self.dim},)" + (f" or ({self.dim}, m)" if allow_matrix else "")
            raise ValueError(f"{name} must have shape {expected}, got {tuple(v.shape)}")
        if v.dtype != self.dtype or v.device != self.device:
            v = v.to(dtype=self.dtype, device=self.device)
        return v

    def _generator(self, seed: int) -> torch.Generator:
        seed = check_int("seed", seed, minimum=0)
        return torch.Generator(device="cpu").manual_seed(seed)

    def _tensor(self, values) -> torch.Tensor:
        return torch.as_tensor(values, dtype=self.dtype, device=self.device)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(dim={self.dim})"


# ---------------------------------------------------------------------------------------------------
# Toys with closed-form derivatives
# ---------------------------------------------------------------------------------------------------
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
    analytic = True

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

    def _loss(self, w):
        return 0.5 * w @ (self.matrix @ w)

    def _grad(self, w):
        return self.matrix @ w

    def _loss_and_grad(self, w):
        g = self.matrix @ w  # one product for both
        return 0.5 * float(w @ g), g

    def _hessian(self, w):
        return self.matrix.clone()

    def init(self, seed: int = 0) -> torch.Tensor:
        """Standard normal coordinates (seeded)."""
        return torch.randn(self.dim, generator=self._generator(seed), dtype=torch.float64).to(self.dtype)

    def __repr__(self) -> str:
        rot = "" if self.rotate is False else f", rotate={self.rotate}"
        return f"Quadratic(eigenvalues={[float(x) for x in self.eigenvalues]}{rot})"


class Quartic(Problem):
    """f(w) = Σ wᵢ⁴ / 4: f'' = 3w², so the gradient is only locally Lipschitz (no global "safe" eta).

    >>> Quartic().hessian(torch.tensor([2.0], dtype=torch.float64)).item()
    12.0
    """

    name = "quartic"
    analytic = True

    def __init__(self, dim: int = 1, dtype: torch.dtype = torch.float64, device="cpu"):
        super().__init__(check_int("dim", dim, minimum=1), dtype, device)

    def objective(self, w):
        return (w**4).sum() / 4

    def _loss(self, w):
        return (w**4).sum() / 4

    def _grad(self, w):
        return w**3

    def _hessian_diagonal(self, w):
        return 3 * w**2

    def _hessian(self, w):
        return torch.diag(self._hessian_diagonal(w))

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
    analytic = True

    def __init__(self, nu: float = 0.5, dim: int = 1, dtype: torch.dtype = torch.float64, device="cpu"):
        self.nu = check_in_range("nu", nu, 0.0, 1.0, low_inclusive=False)
        super().__init__(check_int("dim", dim, minimum=1), dtype, device)

    def objective(self, w):
        return (w.abs() ** (1 + self.nu)).sum() / (1 + self.nu)

    def _loss(self, w):
        return (w.abs() ** (1 + self.nu)).sum() / (1 + self.nu)

    def _grad(self, w):
        return torch.sign(w) * w.abs() ** self.nu

    def _hessian_diagonal(self, w):
        a = w.abs()
        if self.nu == 1.0:
            return torch.ones_like(w)
        # nu |w|^(nu-1) -> +inf as w -> 0: report the blow-up instead of a 0 * inf NaN.
        return torch.where(a > 0, self.nu * a ** (self.nu - 1), torch.full_like(a, math.inf))

    def _hessian(self, w):
        return torch.diag(self._hessian_diagonal(w))

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
    analytic = True

    def __init__(self, depth: int = 2, target: float = 1.0, dtype: torch.dtype = torch.float64, device="cpu"):
        super().__init__(check_int("depth", depth, minimum=1), dtype, device)
        self.target = check_finite("target", target)

    def objective(self, w):
        return 0.5 * (torch.prod(w) - self.target) ** 2

    def _loss(self, w):
        return 0.5 * (torch.prod(w) - self.target) ** 2

    def _others(self, w):
        # prod_{j != i} w_j without dividing (w_i may be 0)
        d = self.dim
        m = w.unsqueeze(0).repeat(d, 1)
        m.fill_diagonal_(1.0)
        return torch.prod(m, dim=1)

    def _grad(self, w):
        return (torch.prod(w) - self.target) * self._others(w)

    def _loss_and_grad(self, w):
        # Plain floats: a handful of scalars, where torch's per-operation overhead would dominate.
        ws = w.tolist()
        r = math.prod(ws) - self.target
        others = [math.prod(ws[:i] + ws[i + 1:]) for i in range(len(ws))]
        return 0.5 * r * r, torch.tensor([r * o for o in others], dtype=self.dtype, device=self.device)

    def _hessian(self, w):
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
    >>> round(float(m.hessian(torch.tensor([2.0, 0.5], dtype=torch.float64)).trace()), 6)  # 2(4 + 1/4)
    8.5
    """

    name = "minimalist"
    analytic = True

    def __init__(self, dtype: torch.dtype = torch.float64, device="cpu"):
        super().__init__(2, dtype, device)

    def objective(self, w):
        x, y = w[0], w[1]
        return 0.25 * (x**2 * y**2 - 1) ** 2

    def _loss(self, w):
        return self.objective(w)

    def _grad(self, w):
        x, y = w[0], w[1]
        u = x**2 * y**2 - 1
        return torch.stack([u * x * y**2, u * x**2 * y])

    def _loss_and_grad(self, w):
        # Plain floats: two scalars, where torch's per-operation overhead would dominate.
        x, y = w.tolist()
        u = x * x * y * y - 1.0
        return 0.25 * u * u, torch.tensor([u * x * y * y, u * x * x * y], dtype=self.dtype, device=self.device)

    def _hessian(self, w):
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


# ---------------------------------------------------------------------------------------------------
# Models on data
# ---------------------------------------------------------------------------------------------------
_ACTIVATIONS = {
    "tanh": torch.tanh,
    "relu": torch.relu,
    "gelu": torch.nn.functional.gelu,
    "elu": torch.nn.functional.elu,
}


class _DataProblem(Problem):
    """Shared machinery of models trained full-batch on a :class:`Dataset`."""

    def _setup_data(self, dataset, loss: str, dtype, device):
        if dtype not in (torch.float32, torch.float64):  # before any .to(dtype) that would fail obscurely
            raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype!r}")
        if isinstance(dataset, str):
            dataset = make_dataset(dataset, dtype=dtype)
        if not isinstance(dataset, Dataset):
            raise ValueError(f"dataset must be a Dataset or a dataset name, got {type(dataset).__name__}")
        self.dataset = dataset
        self.loss_name = check_choice("loss", loss, ["mse", "ce"])
        if loss == "ce" and dataset.num_classes is None:
            raise ValueError("loss='ce' needs a classification dataset; use loss='mse' for regression")
        dev = _check_device(device)
        self.x_train = dataset.x_train.to(dtype=dtype, device=dev)
        self.x_test = dataset.x_test.to(dtype=dtype, device=dev)
        self.y_train = dataset.y_train.to(device=dev)
        self.y_test = dataset.y_test.to(device=dev)
        self.num_classes = dataset.num_classes
        self.output_dim = dataset.output_dim
        if dataset.num_classes is not None:
            eye = torch.eye(self.output_dim, dtype=dtype, device=dev)
            self.t_train, self.t_test = eye[self.y_train], eye[self.y_test]
        else:
            self.t_train = self.y_train.to(dtype=dtype)
            self.t_test = self.y_test.to(dtype=dtype)

    def _data_loss(self, out: torch.Tensor, targets: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if self.loss_name == "mse":
            # Mean over n·K outputs (the paper's units): the last-layer bias then has Hessian (2/K)·I.
            return ((out - targets) ** 2).mean()
        return torch.nn.functional.cross_entropy(out, labels)

    @property
    def has_data(self) -> bool:
        return True

    @property
    def prior_loss(self) -> float:
        """MSE of predicting the class prior (the loss of a model whose output is its bias alone):
        (K−1)/K² for balanced one-hot classes; NaN for cross-entropy."""
        if self.loss_name != "mse":
            return math.nan
        mean = self.t_train.mean(dim=0, keepdim=True)
        return float(((self.t_train - mean) ** 2).mean())

    def objective(self, w):
        return self._data_loss(self.forward(w, self.x_train), self.t_train, self.y_train)

    def evaluate(self, w: torch.Tensor) -> dict:
        """Held-out loss and accuracy (and training accuracy) at w.

        Returns:
            ``{"test_loss", "test_accuracy", "train_accuracy"}``; accuracies are NaN for regression.
        """
        w = self._check_vector(w, "w")
        with torch.no_grad():
            out_test = self.forward(w, self.x_test)
            test_loss = float(self._data_loss(out_test, self.t_test, self.y_test))
            if self.num_classes is None:
                return {"test_loss": test_loss, "test_accuracy": math.nan, "train_accuracy": math.nan}
            out_train = self.forward(w, self.x_train)
            test_acc = float((out_test.argmax(dim=1) == self.y_test).to(torch.float64).mean())
            train_acc = float((out_train.argmax(dim=1) == self.y_train).to(torch.float64).mean())
        return {"test_loss": test_loss, "test_accuracy": test_acc, "train_accuracy": train_acc}

    # Layer bookkeeping shared by the linear and MLP models -------------------------------------------
    def _build_layers(self, sizes: list[int], bias: bool):
        self.layer_shapes = {}
        self.layer_slices = {}
        offset = 0
        n_layers = len(sizes) - 1
        for i in range(n_layers):
            prefix = "out" if i == n_layers - 1 else f"layer{i}"
            for kind, shape in (("weight", (sizes[i + 1], sizes[i])), ("bias", (sizes[i + 1],))):
                if kind == "bias" and not bias:
                    continue
                size = int(np.prod(shape))
                self.layer_slices[f"{prefix}.{kind}"] = slice(offset, offset + size)
                self.layer_shapes[f"{prefix}.{kind}"] = shape
                offset += size
        return offset

    def unflatten(self, w: torch.Tensor) -> dict[str, torch.Tensor]:
        """Views of the flat vector as named weight matrices and bias vectors."""
        return {name: w[s].view(self.layer_shapes[name]) for name, s in self.layer_slices.items()}

    @property
    def hidden_slices(self) -> list[slice]:
        """Slices of every parameter that is not in the output layer."""
        return [s for name, s in self.layer_slices.items() if not name.startswith("out.")]

    @property
    def last_bias_slice(self) -> slice | None:
        """Slice of the output-layer bias (``None`` without biases)."""
        return self.layer_slices.get("out.bias")

    def layer_grad_norms(self, g: torch.Tensor) -> dict[str, float]:
        """Euclidean norm of the gradient restricted to each named layer, plus ``"hidden"`` (all
        non-output parameters together) and ``"last_bias"``."""
        g = self._check_vector(g, "g")
        norms = {name: float(g[s].norm()) for name, s in self.layer_slices.items()}
        hidden = self.hidden_slices
        norms["hidden"] = float(torch.cat([g[s] for s in hidden]).norm()) if hidden else math.nan
        s = self.last_bias_slice
        norms["last_bias"] = float(g[s].norm()) if s is not None else math.nan
        return norms

    def dead_fraction(self, w: torch.Tensor) -> float:
        """Fraction of hidden ReLU units that output 0 on every training input (NaN if no ReLU)."""
        return math.nan


class LinearClassifier(_DataProblem):
    """A linear model z = W x + b trained full-batch, with MSE averaged over n·K one-hot outputs.

    The Hessian is constant and its bias block is exactly (2/K)·I, so the sharpness is at least 2/K
    everywhere: ``sharpness_floor == 2/K`` is exact (a test checks it against ``eigvalsh``).

    Args:
        dataset: A :class:`Dataset` (or a dataset name).
        loss: ``"mse"`` (default) or ``"ce"``.
        bias: Whether the model has the bias b.
        dtype, device: Torch dtype (float64 default) and device.

    >>> from eostutor.datasets import gaussian_clusters
    >>> LinearClassifier(gaussian_clusters(num_classes=4, n_train=20, n_test=4)).sharpness_floor
    0.5
    """

    name = "linear"

    def __init__(self, dataset, loss: str = "mse", bias: bool = True, dtype: torch.dtype = torch.float64,
                 device="cpu"):
        self._setup_data(dataset, loss, dtype, device)
        self.bias = bool(bias)
        dim = self._build_layers([self.dataset.input_dim, self.output_dim], self.bias)
        super().__init__(dim, dtype, device)
        self.sharpness_floor = 2.0 / self.output_dim if (loss == "mse" and self.bias) else 0.0

    def forward(self, w: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        p = self.unflatten(w)
        out = x @ p["out.weight"].T
        return out + p["out.bias"] if self.bias else out

    def init(self, seed: int = 0) -> torch.Tensor:
        """PyTorch's default ``nn.Linear`` initialisation U(±1/√fan_in) (seeded)."""
        gen = self._generator(seed)
        bound = 1.0 / math.sqrt(self.dataset.input_dim)
        w = (torch.rand(self.dim, generator=gen, dtype=torch.float64) * 2 - 1) * bound
        return w.to(dtype=self.dtype, device=self.device)

    def __repr__(self) -> str:
        return f"LinearClassifier({self.dataset.name}, loss={self.loss_name!r}, bias={self.bias})"


class MLPProblem(_DataProblem):
    """A fully connected network on a flat parameter vector, trained full-batch.

    Args:
        dataset: A :class:`Dataset` (or a dataset name, e.g. ``"digits"``).
        hidden: Widths of the hidden layers, e.g. ``(32, 32)``; ``()`` gives a linear model.
        activation: ``"tanh"``, ``"relu"``, ``"gelu"`` or ``"elu"``.
        bias: Whether every layer has a bias.
        loss: ``"mse"`` (mean over n·K outputs, one-hot targets: ``sharpness_floor == 2/K``) or ``"ce"``.
        init_scale: Multiplies the default initialisation of the weights (> 0).
        dtype, device: Torch dtype (float64 default; float32 for speed) and device.

    >>> from eostutor.datasets import gaussian_clusters
    >>> p = MLPProblem(gaussian_clusters(num_classes=3, dim=2, n_train=30, n_test=6), hidden=(4,))
    >>> p.dim, p.sharpness_floor  # (2*4 + 4) + (4*3 + 3)
    (27, 0.6666666666666666)
    """

    name = "mlp"

    def __init__(self, dataset, hidden: Sequence[int] = (32, 32), activation: str = "tanh", bias: bool = True,
                 loss: str = "mse", init_scale: float = 1.0, dtype: torch.dtype = torch.float64, device="cpu"):
        self._setup_data(dataset, loss, dtype, device)
        if isinstance(hidden, str):
            raise ValueError(f"hidden must be a sequence of positive layer widths, e.g. (32, 32), got {hidden!r}")
        if isinstance(hidden, (int, np.integer)):
            hidden = (int(hidden),)
        try:
            hidden = tuple(hidden)
        except TypeError:
            raise ValueError(f"hidden must be a sequence of positive layer widths, got {hidden!r}") from None
        for h in hidden:
            check_int("hidden layer width", h, minimum=1)
        self.hidden = tuple(int(h) for h in hidden)
        self.activation = check_choice("activation", activation, _ACTIVATIONS)
        self._act = _ACTIVATIONS[activation]
        self.bias = bool(bias)
        self.init_scale = check_positive("init_scale", init_scale)
        self.sizes = [self.dataset.input_dim, *self.hidden, self.output_dim]
        dim = self._build_layers(self.sizes, self.bias)
        super().__init__(dim, dtype, device)
        self.sharpness_floor = 2.0 / self.output_dim if (loss == "mse" and self.bias) else 0.0

    def _layers(self, w):
        p = self.unflatten(w)
        names = [f"layer{i}" for i in range(len(self.hidden))] + ["out"]
        return [(p[f"{n}.weight"], p.get(f"{n}.bias")) for n in names]

    def forward(self, w: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Network outputs (n, K) for inputs x (n, input_dim)."""
        layers = self._layers(w)
        h = x
        for weight, b in layers[:-1]:
            h = self._act(torch.addmm(b, h, weight.T) if b is not None else h @ weight.T)
        weight, b = layers[-1]
        return torch.addmm(b, h, weight.T) if b is not None else h @ weight.T

    def preactivations(self, w: torch.Tensor, x: torch.Tensor | None = None) -> list[torch.Tensor]:
        """Pre-activations of each hidden layer on x (default: the training inputs)."""
        w = self._check_vector(w, "w")
        h = self.x_train if x is None else x
        out = []
        with torch.no_grad():
            for weight, b in self._layers(w)[:-1]:
                z = torch.addmm(b, h, weight.T) if b is not None else h @ weight.T
                out.append(z)
                h = self._act(z)
        return out

    def dead_fraction(self, w: torch.Tensor) -> float:
        """Fraction of hidden ReLU units whose pre-activation is ≤ 0 on every training input.

        Dead units pass no gradient to the layers below: in Flatland whole layers die.
        """
        if self.activation != "relu" or not self.hidden:
            return math.nan
        dead = [(z <= 0).all(dim=0) for z in self.preactivations(w)]
        return float(torch.cat(dead).to(torch.float64).mean())

    def init(self, seed: int = 0) -> torch.Tensor:
        """PyTorch's default ``nn.Linear`` initialisation, U(±1/√fan_in) for weights and biases, with
        the weights multiplied by ``init_scale`` (seeded)."""
        gen = self._generator(seed)
        w = torch.empty(self.dim, dtype=torch.float64)
        for name, s in self.layer_slices.items():
            shape = self.layer_shapes[name]
            layer = name.split(".")[0]
            fan_in = self.layer_shapes[f"{layer}.weight"][1]
            bound = 1.0 / math.sqrt(fan_in)
            scale = self.init_scale if name.endswith("weight") else 1.0
            w[s] = (torch.rand(int(np.prod(shape)), generator=gen, dtype=torch.float64) * 2 - 1) * bound * scale
        return w.to(dtype=self.dtype, device=self.device)

    def __repr__(self) -> str:
        dt = "float32" if self.dtype == torch.float32 else "float64"
        extra = "" if self.init_scale == 1.0 else f", init_scale={self.init_scale}"
        nb = "" if self.bias else ", bias=False"
        return (f"MLPProblem({self.dataset.name}, hidden={self.hidden}, activation={self.activation!r}, "
                f"loss={self.loss_name!r}{nb}{extra}, dtype={dt})")


PROBLEMS = {
    "quadratic": (Quadratic, "½ wᵀAw with a chosen spectrum: exact 2/λ_max threshold"),
    "quartic": (Quartic, "Σ w⁴/4: locally but not globally smooth"),
    "holder": (HolderPower, "Σ |w|^(1+ν)/(1+ν): Hölder gradient, unbounded Hessian at 0"),
    "scalar-net": (ScalarNet, "½(w₁⋯w_d − y)²: a depth-d scalar linear network"),
    "minimalist": (Minimalist, "¼(x²y² − 1)²: Zhu et al.'s minimalist Edge-of-Stability example"),
    "linear": (LinearClassifier, "linear classifier with bias and K-class MSE: exact 2/K floor"),
    "mlp": (MLPProblem, "fully connected network on a dataset (MSE over n·K outputs or CE)"),
}


def make_problem(name: str, **kwargs) -> Problem:
    """Build a problem by name (see ``PROBLEMS``); data problems take ``dataset=`` (a name or Dataset).

    >>> make_problem("quadratic", eigenvalues=[2.0, 4.0]).sharpness
    4.0
    """
    check_choice("problem", name, PROBLEMS)
    cls = PROBLEMS[name][0]
    try:
        return cls(**kwargs)
    except TypeError as err:
        raise ValueError(f"bad arguments for problem {name!r}: {err}") from None
