"""The problem protocol and its base class.

Everything downstream (the curvature operator, the spectra, the training loop, the widgets) uses a problem
only through these members, all defined on :class:`Problem`:

* ``dim``, ``dtype``, ``device``: the parameter vector w is a 1-D tensor of length ``dim``.
* ``init(seed) -> w``: a seeded starting point.
* ``objective(w) -> torch scalar``: the loss as a differentiable (and, for tiny problems, vmappable) torch
  expression. It is the one written formula; autograd derives the gradient and Hessian-vector products.
* ``loss(w) -> float``, ``grad(w)``, ``loss_and_grad(w)``: evaluations (toys override ``loss_and_grad``
  with closed forms, checked against autograd in the tests).
* ``closed_form_hessian(w)``: the Hessian as a formula where one exists (a ``(dim,)`` diagonal or a
  ``(dim, dim)`` matrix), else ``None`` (then products come from autograd on ``objective``).
* ``check_params(v, name)``: v as a tensor of this problem's shape, dtype and device (``ValueError``
  otherwise).
* ``sharpness_floor`` (a lower bound of λ_max valid everywhere: 2/K for K-class MSE with a last-layer bias,
  else 0), ``num_classes`` (K or ``None``), ``prior_loss`` ((K−1)/K², else NaN).
* ``has_data``, ``evaluate(w) -> dict`` (held-out loss and accuracy), ``layer_grad_norms(g) -> dict``
  (``{"hidden": …, "last_bias": …}`` for networks, empty otherwise) and ``dead_fraction(w)``.
* Mini-batches: ``num_train`` (the number of training examples; ``None`` for problems without data) and
  ``on_batch(indices) -> Problem``, the same model with its loss averaged over those training examples
  only. The batch problem follows this protocol itself, so its ``loss_and_grad(w)`` is the mini-batch
  loss and gradient, and ``HessianOperator(problem.on_batch(indices), w)`` its Hessian (the training
  loop's ``batch_size=`` and the batch sharpness use exactly this). Problems without data refuse it with
  a ``ValueError``.

Problems compute no curvature themselves: :mod:`eostutor.curvature` builds the one Hessian operator from
this protocol (``HessianOperator(problem, w)``, and the shortcuts ``hvp(problem, w, v)`` and
``hessian(problem, w)``).
"""

from __future__ import annotations

import math

import torch

from eostutor._validate import as_tensor, check_int

__all__ = ["Problem", "DENSE_HESSIAN_LIMIT", "TINY_DIM", "check_device"]

#: Largest ``dim`` for which ``hessian(w)`` builds a dense matrix by default (memory dim^2 floats, and an
#: eigendecomposition that stays around a second on a laptop).
DENSE_HESSIAN_LIMIT = 4000
#: Problems with at most this many parameters are "tiny": their runs keep every iterate, their exact
#: curvature is computed in one batched call, and the widgets run them synchronously.
TINY_DIM = 10


def check_device(device) -> torch.device:
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"device must be a torch device such as 'cpu', got {device!r}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} asked for CUDA, but this PyTorch build has no CUDA device; use 'cpu'")
    return dev


class Problem:
    """Base class: a loss on a flat parameter vector ``w`` of length ``dim`` (the protocol above).

    Subclasses implement ``objective(w)`` and ``init(seed)``; toys also override ``loss_and_grad`` and
    ``closed_form_hessian`` with closed forms.

    Attributes:
        dim: Number of parameters.
        dtype: Floating dtype of parameters and data (float64 by default).
        device: Torch device (CPU by default).
        sharpness_floor: A lower bound on the sharpness valid at every w (2/K for K-output MSE with a
            last-layer bias, else 0).
        num_classes: K for classifiers, else ``None``.
        closed_form: Whether derivatives come from formulas (the toys) rather than autograd.
    """

    name = "problem"
    sharpness_floor = 0.0
    num_classes: int | None = None
    closed_form = False

    def __init__(self, dim: int, dtype: torch.dtype = torch.float64, device="cpu"):
        if dtype not in (torch.float32, torch.float64):
            raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype!r}")
        self.dim = int(dim)
        self.dtype = dtype
        self.device = check_device(device)

    # -- the protocol -------------------------------------------------------------------------------
    def objective(self, w: torch.Tensor) -> torch.Tensor:
        """The loss as a differentiable torch scalar."""
        raise NotImplementedError

    def init(self, seed: int = 0) -> torch.Tensor:
        """A seeded starting point: a flat tensor of length ``dim``."""
        raise NotImplementedError

    def loss(self, w) -> float:
        """f(w) as a Python float."""
        w = self.check_params(w, "w")
        with torch.no_grad():
            return float(self.objective(w))

    def grad(self, w) -> torch.Tensor:
        """The gradient of f at w (a detached 1-D tensor)."""
        return self.loss_and_grad(w)[1]

    def loss_and_grad(self, w) -> tuple[float, torch.Tensor]:
        """f(w) and its gradient in one pass (autograd on ``objective``)."""
        w_ = self.check_params(w, "w").detach().clone().requires_grad_(True)
        with torch.enable_grad():
            f = self.objective(w_)
            (g,) = torch.autograd.grad(f, w_, allow_unused=True)
        if g is None:
            g = torch.zeros_like(w_)
        return float(f.detach()), g.detach()

    def closed_form_hessian(self, w: torch.Tensor) -> torch.Tensor | None:
        """The Hessian at w as a formula: a ``(dim,)`` diagonal or a ``(dim, dim)`` matrix; ``None`` when
        there is no formula (products then come from autograd on ``objective``).
        """
        return None

    def check_params(self, v, name: str = "w") -> torch.Tensor:
        """``v`` as a 1-D tensor of length ``dim`` in this problem's dtype and device.

        Raises:
            ValueError: Naming ``name``, for anything that is not a vector of ``dim`` numbers.

        >>> from eostutor.problems import Quadratic
        >>> Quadratic([1.0, 2.0]).check_params([1, 2]).dtype
        torch.float64
        """
        v = as_tensor(name, v, self.dim)
        if v.dtype != self.dtype or v.device != self.device:
            v = v.to(dtype=self.dtype, device=self.device)
        return v

    @property
    def prior_loss(self) -> float:
        """The loss of predicting the class prior, (K−1)/K² for balanced one-hot MSE; NaN where it does
        not apply.
        """
        return math.nan

    @property
    def has_data(self) -> bool:
        """Whether the problem has held-out data for ``evaluate``."""
        return False

    def evaluate(self, w) -> dict:
        """Held-out metrics; only problems with data implement it."""
        raise ValueError(f"{self!r} has no held-out data to evaluate on")

    def layer_grad_norms(self, g) -> dict[str, float]:
        """Gradient norms per layer group (``"hidden"``, ``"last_bias"``, ...); empty without layers."""
        return {}

    def dead_fraction(self, w) -> float:
        """Fraction of hidden ReLU units that output 0 on every training input (NaN if no ReLU)."""
        return math.nan

    @property
    def num_train(self) -> int | None:
        """Number of training examples a mini-batch is drawn from (``None``: no data, no mini-batches)."""
        return None

    def on_batch(self, indices) -> Problem:
        """The same model with its loss over the training examples ``indices`` only (problems with data).

        Raises:
            ValueError: Here: this problem has no training examples to draw mini-batches from.
        """
        raise ValueError(f"{self!r} has no training examples to draw mini-batches from; mini-batches "
                         "(batch_size=...) need a problem with data, such as MLPProblem or LinearClassifier")

    # -- helpers ------------------------------------------------------------------------------------
    def _generator(self, seed: int) -> torch.Generator:
        seed = check_int("seed", seed, minimum=0, maximum=2**63 - 1)
        return torch.Generator(device="cpu").manual_seed(seed)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(dim={self.dim})"


