"""Models trained full-batch on a dataset: a linear classifier (exact 2/K floor) and an MLP."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from eostutor._validate import check_choice, check_int, check_positive
from eostutor.datasets import Dataset, make_dataset
from eostutor.problems.base import Problem, check_device

__all__ = ["LinearClassifier", "MLPProblem", "BatchProblem", "ACTIVATIONS"]


ACTIVATIONS = {
    "tanh": torch.tanh,
    "relu": torch.relu,
    "gelu": torch.nn.functional.gelu,
    "elu": torch.nn.functional.elu,
}


def _check_bias(bias) -> bool:
    if not isinstance(bias, (bool, np.bool_)):  # "no" and 0.0 are not silently turned into True/False
        raise ValueError(f"bias must be True or False, got {bias!r}")
    return bool(bias)


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
        dev = check_device(device)
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
        (K−1)/K² for balanced one-hot classes; NaN for cross-entropy.
        """
        if self.loss_name != "mse":
            return math.nan
        mean = self.t_train.mean(dim=0, keepdim=True)
        return float(((self.t_train - mean) ** 2).mean())

    def objective(self, w):
        return self._data_loss(self.forward(w, self.x_train), self.t_train, self.y_train)

    @property
    def num_train(self) -> int:
        """Number of training examples."""
        return int(self.x_train.shape[0])

    def on_batch(self, indices) -> BatchProblem:
        """The loss over the training examples ``indices`` only (a mini-batch), as a problem of its own.

        >>> from eostutor.datasets import gaussian_clusters
        >>> p = LinearClassifier(gaussian_clusters(num_classes=3, dim=2, n_train=30, n_test=6))
        >>> w = p.init(0)
        >>> batch = p.on_batch(range(30))       # every example: the full-batch loss
        >>> abs(batch.loss(w) - p.loss(w)) < 1e-12, batch.num_examples
        (True, 30)
        """
        return BatchProblem(self, indices)

    def evaluate(self, w: torch.Tensor) -> dict:
        """Held-out loss and accuracy (and training accuracy) at w.

        Returns:
            ``{"test_loss", "test_accuracy", "train_accuracy"}``; accuracies are NaN for regression.
        """
        w = self.check_params(w, "w")
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
        non-output parameters together) and ``"last_bias"``.
        """
        g = self.check_params(g, "g")
        norms = {name: float(g[s].norm()) for name, s in self.layer_slices.items()}
        hidden = self.hidden_slices
        norms["hidden"] = float(torch.cat([g[s] for s in hidden]).norm()) if hidden else math.nan
        s = self.last_bias_slice
        norms["last_bias"] = float(g[s].norm()) if s is not None else math.nan
        return norms


class BatchProblem(Problem):
    """A model of :mod:`eostutor.problems.networks` restricted to some of its training examples.

    Its loss is the parent's loss averaged over those examples only (for MSE, over b·K outputs, so the
    2/K floor of a last-layer bias holds for every batch too); everything else (parameters, initialisation,
    held-out data) is the parent's. Built by ``parent.on_batch(indices)``.

    Args:
        parent: The full problem.
        indices: Indices of training examples (a non-empty 1-D sequence of integers in [0, n)).
    """

    name = "batch"

    def __init__(self, parent: _DataProblem, indices):
        try:
            idx = torch.as_tensor(np.asarray(indices), dtype=torch.long)
        except (TypeError, ValueError):
            raise ValueError(f"indices must be a 1-D sequence of example numbers, got {indices!r}"[:200]) from None
        n = parent.num_train
        if idx.ndim != 1 or idx.numel() == 0:
            raise ValueError("indices must be a non-empty 1-D sequence of example numbers, got shape "
                             f"{tuple(idx.shape)}")
        if int(idx.min()) < 0 or int(idx.max()) >= n:
            raise ValueError(f"indices must lie in [0, {n}) (the training examples), got values from "
                             f"{int(idx.min())} to {int(idx.max())}")
        super().__init__(parent.dim, parent.dtype, parent.device)
        self.parent = parent
        self.indices = idx.to(parent.device)
        self.num_classes = parent.num_classes
        self.sharpness_floor = parent.sharpness_floor
        self._x = parent.x_train[self.indices]
        self._t = parent.t_train[self.indices]
        self._y = parent.y_train[self.indices]

    @property
    def num_examples(self) -> int:
        """The batch size b."""
        return int(self.indices.numel())

    def objective(self, w):
        p = self.parent
        return p._data_loss(p.forward(w, self._x), self._t, self._y)

    def init(self, seed: int = 0) -> torch.Tensor:
        return self.parent.init(seed)

    def layer_grad_norms(self, g) -> dict[str, float]:
        return self.parent.layer_grad_norms(g)

    def __repr__(self) -> str:
        return f"{self.parent!r}[batch of {self.num_examples}]"


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
        self.bias = _check_bias(bias)
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
        self.activation = check_choice("activation", activation, ACTIVATIONS)
        self._act = ACTIVATIONS[activation]
        self.bias = _check_bias(bias)
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
        w = self.check_params(w, "w")
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
        the weights multiplied by ``init_scale`` (seeded).
        """
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
