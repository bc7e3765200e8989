"""Tests of eostutor.problems against float64 autograd / dense references.

Closed-form toys are checked against ``torch.autograd`` on their ``objective``; the HVP fast path of every
problem is checked against a dense ``torch.autograd.functional.hessian``; the 2/K sharpness floor is
checked against ``torch.linalg.eigvalsh`` of the dense Hessian.
"""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from eostutor.curvature import HessianOperator, hessian, hvp
from eostutor.datasets import digits, gaussian_clusters, teacher_student
from eostutor.problems import (
    DENSE_HESSIAN_LIMIT,
    PROBLEMS,
    HolderPower,
    LinearClassifier,
    Minimalist,
    MLPProblem,
    Problem,
    Quadratic,
    Quartic,
    ScalarNet,
    make_problem,
)

F64 = torch.float64
SEEDS = [0, 1, 2]


# --- helpers and shared data ----------------------------------------------------------------------
def random_point(dim, seed, *, away_from_zero=False, scale=1.0):
    """Seeded random parameters; ``away_from_zero`` keeps every |w_i| in [0.3, 1.5]."""
    gen = torch.Generator().manual_seed(1000 + seed)
    if away_from_zero:
        mag = 0.3 + 1.2 * torch.rand(dim, generator=gen, dtype=F64)
        sign = torch.where(torch.rand(dim, generator=gen, dtype=F64) < 0.5, -1.0, 1.0)
        return mag * sign
    return scale * torch.randn(dim, generator=gen, dtype=F64)


def autograd_reference(problem, w):
    """(loss, grad, Hessian) of ``problem.objective`` at w by plain autograd, in float64."""
    w = w.detach().to(F64).clone().requires_grad_(True)
    f = problem.objective(w)
    (g,) = torch.autograd.grad(f, w)
    h = torch.autograd.functional.hessian(problem.objective, w.detach())
    return float(f.detach()), g.detach(), h


@pytest.fixture(scope="module")
def clusters():
    return gaussian_clusters(num_classes=3, dim=3, n_train=24, n_test=9, seed=0)


@pytest.fixture(scope="module")
def clusters4():
    return gaussian_clusters(num_classes=4, dim=2, n_train=40, n_test=8, seed=1)


@pytest.fixture(scope="module")
def small_digits():
    return digits(n_train=200, n_test=100, seed=0)


TOYS = {
    "quadratic-diag": lambda: Quadratic([1.0, 10.0, -3.0]),
    "quadratic-rot": lambda: Quadratic([0.5, 2.0, 7.0, -1.0], rotate=3),
    "quartic": lambda: Quartic(dim=3),
    "holder-0.25": lambda: HolderPower(nu=0.25, dim=3),
    "holder-0.5": lambda: HolderPower(nu=0.5, dim=3),
    "holder-0.9": lambda: HolderPower(nu=0.9, dim=3),
    "holder-1": lambda: HolderPower(nu=1.0, dim=3),
    "scalar-net-1": lambda: ScalarNet(depth=1, target=1.5),
    "scalar-net-2": lambda: ScalarNet(depth=2, target=1.5),
    "scalar-net-3": lambda: ScalarNet(depth=3, target=-0.7),
    "scalar-net-4": lambda: ScalarNet(depth=4, target=2.0),
    "minimalist": lambda: Minimalist(),
}


# --- closed-form toys vs autograd ----------------------------------------------------------------------
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", sorted(TOYS))
def test_toy_derivatives_match_autograd(name, seed):
    problem = TOYS[name]()
    assert problem.closed_form
    # Away from 0 for the Hölder toys (their Hessian blows up there); elsewhere scale 1.5 so the
    # scalar nets and the minimalist example are far from their minima (residuals are not small).
    w = random_point(problem.dim, seed, away_from_zero=name.startswith("holder"), scale=1.5)
    f_ref, g_ref, h_ref = autograd_reference(problem, w)
    assert problem.loss(w) == pytest.approx(f_ref, rel=1e-12, abs=1e-14)
    torch.testing.assert_close(problem.grad(w), g_ref, rtol=1e-10, atol=1e-12)
    loss, g = problem.loss_and_grad(w)
    assert loss == pytest.approx(f_ref, rel=1e-12, abs=1e-14)
    torch.testing.assert_close(g, g_ref, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(hessian(problem, w), h_ref, rtol=1e-10, atol=1e-12)
    assert torch.allclose(h_ref, h_ref.T)  # sanity: the reference itself is symmetric


@pytest.mark.parametrize("name", sorted(TOYS))
def test_toy_init_is_seeded(name):
    problem = TOYS[name]()
    w0, w0_again, w1 = problem.init(0), problem.init(0), problem.init(1)
    assert w0.shape == (problem.dim,) and w0.dtype == F64
    assert torch.equal(w0, w0_again) and not torch.equal(w0, w1)
    assert math.isfinite(problem.loss(w0))


def test_quadratic_spectrum_and_sharpness():
    diag = Quadratic([1.0, 10.0, -3.0])
    torch.testing.assert_close(diag.matrix, torch.diag(torch.tensor([1.0, 10.0, -3.0], dtype=F64)))
    rot = Quadratic([0.5, 2.0, 7.0, -1.0], rotate=3)
    for q in (diag, rot):
        evals = torch.linalg.eigvalsh(q.matrix)
        np.testing.assert_allclose(evals.numpy(), np.sort(q.eigenvalues), atol=1e-12)
        assert q.sharpness == pytest.approx(float(evals[-1]), abs=1e-12)
        assert q.sharpness == float(np.max(q.eigenvalues))
        # The stored eigenvectors diagonalise A.
        qv = q.eigenvectors
        torch.testing.assert_close(qv.T @ qv, torch.eye(q.dim, dtype=F64), atol=1e-12, rtol=0)
        torch.testing.assert_close(qv.T @ q.matrix @ qv, torch.diag(torch.as_tensor(q.eigenvalues)),
                                   atol=1e-12, rtol=0)
    # Rotation really rotates: off-diagonal entries are present.
    off = rot.matrix - torch.diag(torch.diagonal(rot.matrix))
    assert float(off.abs().max()) > 0.1
    assert Quadratic([0.5, 2.0, 7.0, -1.0], rotate=4).matrix.sub(rot.matrix).abs().max() > 1e-3
    assert repr(rot) == "Quadratic(eigenvalues=[0.5, 2.0, 7.0, -1.0], rotate=3)"


@settings(deadline=None, max_examples=30)
@given(
    eigenvalues=st.lists(
        st.floats(min_value=-100, max_value=100, allow_nan=False, allow_infinity=False), min_size=1, max_size=6
    ),
    seed=st.integers(min_value=0, max_value=2**31 - 1),
)
def test_rotated_quadratic_has_exactly_the_requested_eigenvalues(eigenvalues, seed):
    q = Quadratic(eigenvalues, rotate=seed)
    evals = torch.linalg.eigvalsh(q.matrix).numpy()
    np.testing.assert_allclose(evals, np.sort(eigenvalues), atol=1e-11 * max(1.0, max(map(abs, eigenvalues))))
    assert q.sharpness == max(eigenvalues)
    torch.testing.assert_close(q.matrix, q.matrix.T, rtol=0, atol=0)


def test_holder_with_nu_one_is_the_identity_quadratic():
    holder, quad = HolderPower(nu=1.0, dim=3), Quadratic([1.0, 1.0, 1.0])
    for seed in SEEDS:
        w = random_point(3, seed)
        assert holder.loss(w) == pytest.approx(quad.loss(w), rel=1e-14)
        torch.testing.assert_close(holder.grad(w), quad.grad(w), rtol=1e-14, atol=0)
        torch.testing.assert_close(hessian(holder, w), torch.eye(3, dtype=F64))


def test_holder_hessian_blows_up_at_zero():
    h = HolderPower(nu=0.5, dim=2)
    w = torch.tensor([0.0, 4.0], dtype=F64)
    diag = torch.diagonal(hessian(h, w))
    assert math.isinf(float(diag[0])) and float(diag[0]) > 0
    assert float(diag[1]) == pytest.approx(0.5 * 4.0 ** -0.5)
    # Smaller |w| means larger curvature: nu |w|^(nu-1) decreases in |w|.
    small, big = (float(hessian(h, torch.tensor([x, 1.0], dtype=F64))[0, 0]) for x in (1e-4, 1e-2))
    assert small > big > 1.0


def test_quartic_curvature_is_3w_squared():
    q = Quartic(dim=2)
    w = torch.tensor([2.0, -0.5], dtype=F64)
    torch.testing.assert_close(hessian(q, w), torch.diag(torch.tensor([12.0, 0.75], dtype=F64)))


@pytest.mark.parametrize("depth", [1, 2, 3, 4])
def test_scalar_net_gradient_flow_conserves_balancedness(depth):
    # d/dt (w_i^2 - w_j^2) = -2 w_i g_i + 2 w_j g_j along -grad; it vanishes because w_i g_i = r * prod(w).
    net = ScalarNet(depth=depth, target=1.3)
    for seed in SEEDS:
        w = random_point(depth, seed, scale=1.5)
        g = net.grad(w)
        rate = -2 * w[:, None] * g[:, None] + 2 * w[None, :] * g[None, :]
        assert float(g.abs().max()) > 1e-3  # a nontrivial gradient
        torch.testing.assert_close(rate, torch.zeros(depth, depth, dtype=F64), atol=1e-12, rtol=0)
        r = float(torch.prod(w)) - 1.3
        torch.testing.assert_close(w * g, torch.full((depth,), r * float(torch.prod(w)), dtype=F64))


def test_scalar_net_minimum_sharpness_is_the_sum_of_squared_partial_products():
    # At a minimum (product = target) the Hessian is p p^T with p_i = prod_{j != i} w_j: rank one.
    net = ScalarNet(depth=3, target=1.0)
    w = torch.tensor([2.0, 0.5, 1.0], dtype=F64)
    p = torch.tensor([0.5, 2.0, 1.0], dtype=F64)
    evals = torch.linalg.eigvalsh(hessian(net, w))
    assert float(evals[-1]) == pytest.approx(float(p @ p))
    np.testing.assert_allclose(evals[:-1].numpy(), 0.0, atol=1e-12)
    assert net.loss(w) == 0.0


@pytest.mark.parametrize("x", [0.4, 1.0, -1.7, 2.5, 3.0])
@pytest.mark.parametrize("y_sign", [1.0, -1.0])
def test_minimalist_valley_sharpness(x, y_sign):
    m = Minimalist()
    y = y_sign / x if y_sign > 0 else -1.0 / x
    w = torch.tensor([x, y], dtype=F64)
    assert m.loss(w) == pytest.approx(0.0, abs=1e-28)
    torch.testing.assert_close(m.grad(w), torch.zeros(2, dtype=F64), atol=1e-14, rtol=0)
    evals = torch.linalg.eigvalsh(hessian(m, w))
    assert float(evals[0]) == pytest.approx(0.0, abs=1e-12)  # flat along the valley
    assert float(evals[1]) == pytest.approx(2 * (x**2 + y**2), rel=1e-12)
    assert float(evals[1]) == pytest.approx(Minimalist.valley_sharpness(x), rel=1e-12)
    assert Minimalist.valley_sharpness(x) >= 4.0


def test_minimalist_flattest_minimum_and_init():
    assert Minimalist.valley_sharpness(1.0) == 4.0
    assert Minimalist.valley_sharpness(-1.0) == 4.0
    w = Minimalist().init(0)
    # Starts near the sharp end of the valley: x ≈ 2.5, xy ≈ 1.
    assert 2.0 < float(w[0]) < 3.0 and abs(float(w[0] * w[1]) - 1.0) < 0.2


# --- the curvature operator: the one H·v ----------------------------------------------------------------
def check_local_curvature(problem, w, *, rtol, atol, reference_problem=None):
    """lc.loss / lc.grad / lc.hvp(v) / lc.hvp(V) / num_hvps against float64 references."""
    ref = problem if reference_problem is None else reference_problem
    f_ref, g_ref, h_ref = autograd_reference(ref, w)
    lc = HessianOperator(problem, w)
    loss, g = problem.loss_and_grad(w)
    assert lc.loss == pytest.approx(loss, rel=max(rtol, 1e-14))
    assert lc.loss == pytest.approx(f_ref, rel=rtol, abs=atol)
    assert lc.grad.dtype == problem.dtype and lc.grad.shape == (problem.dim,)
    if problem.dtype == F64:
        torch.testing.assert_close(lc.grad, g, rtol=0, atol=0)
    torch.testing.assert_close(lc.grad.to(F64), g_ref, rtol=rtol, atol=atol)
    gen = torch.Generator().manual_seed(7)
    v = torch.randn(problem.dim, generator=gen, dtype=F64)
    big_v = torch.randn(problem.dim, 3, generator=gen, dtype=F64)
    assert lc.num_hvps == 0
    hv = lc @ v.to(problem.dtype)
    assert hv.dtype == problem.dtype and hv.shape == (problem.dim,)
    scale = float((h_ref @ v).norm()) + 1.0
    torch.testing.assert_close(hv.to(F64), h_ref @ v, rtol=rtol, atol=atol * scale)
    hv_mat = lc @ big_v.to(problem.dtype)
    assert hv_mat.shape == (problem.dim, 3)
    torch.testing.assert_close(hv_mat.to(F64), h_ref @ big_v, rtol=rtol, atol=atol * scale)
    columns = torch.stack([lc @ big_v[:, j].to(problem.dtype) for j in range(3)], dim=1)
    torch.testing.assert_close(hv_mat, columns, rtol=rtol, atol=atol * scale)
    assert lc.num_hvps == 1 + 3 + 3
    # The one-shot API agrees with the cached one, and the dense Hessian with autograd's.
    torch.testing.assert_close(hvp(problem, w, v.to(problem.dtype)), hv, rtol=rtol, atol=atol * scale)
    h = hessian(problem, w)
    assert h.dtype == problem.dtype and h.shape == (problem.dim, problem.dim)
    torch.testing.assert_close(h.to(F64), h_ref, rtol=rtol, atol=atol * (float(h_ref.abs().max()) + 1))
    return h_ref


@pytest.mark.parametrize("name", sorted(TOYS))
def test_operator_on_toys(name):
    problem = TOYS[name]()
    w = random_point(problem.dim, 5, away_from_zero=name.startswith("holder"), scale=1.3)
    check_local_curvature(problem, w, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("loss", ["mse", "ce"])
@pytest.mark.parametrize("bias", [True, False])
def test_operator_on_linear_classifier(clusters, loss, bias):
    p = LinearClassifier(clusters, loss=loss, bias=bias)
    assert p.dim == 3 * 3 + (3 if bias else 0)
    for seed in SEEDS:
        check_local_curvature(p, random_point(p.dim, seed), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("loss", ["mse", "ce"])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("activation", ["tanh", "relu", "gelu", "elu"])
def test_operator_on_mlp_float64(clusters, activation, bias, loss):
    p = MLPProblem(clusters, hidden=(4, 3), activation=activation, bias=bias, loss=loss)
    h_ref = check_local_curvature(p, p.init(0), rtol=1e-9, atol=1e-11)
    assert float(h_ref.abs().max()) > 1e-3  # a nontrivial Hessian, so the comparison means something
    check_local_curvature(p, random_point(p.dim, 1, scale=1.5), rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("loss", ["mse", "ce"])
@pytest.mark.parametrize("activation", ["tanh", "relu", "gelu", "elu"])
def test_operator_on_mlp_float32(clusters, activation, loss):
    p32 = MLPProblem(clusters, hidden=(4, 3), activation=activation, loss=loss, dtype=torch.float32)
    p64 = MLPProblem(clusters, hidden=(4, 3), activation=activation, loss=loss)
    w = p64.init(2)
    check_local_curvature(p32, w.to(torch.float32), rtol=1e-4, atol=1e-5, reference_problem=p64)


def test_operator_on_regression_mlp():
    ds = teacher_student(n_train=20, n_test=5, dim=3, outputs=2)
    p = MLPProblem(ds, hidden=(5,), activation="tanh")
    assert p.num_classes is None and p.output_dim == 2
    check_local_curvature(p, p.init(0), rtol=1e-9, atol=1e-11)


def test_operator_does_not_touch_the_callers_tensor(clusters):
    p = MLPProblem(clusters, hidden=(4,))
    w = p.init(0)
    w_copy = w.clone()
    lc = HessianOperator(p, w)
    lc @ torch.ones(p.dim, dtype=F64)
    assert not w.requires_grad and torch.equal(w, w_copy)
    assert not lc.grad.requires_grad and not p.grad(w).requires_grad


def test_diagonal_toys_hvp_beyond_the_dense_limit():
    # HVPs must not be refused (nor build a dim x dim matrix) just because dim exceeds the dense limit.
    n = DENSE_HESSIAN_LIMIT + 1000
    q = Quartic(dim=n)
    w = torch.linspace(-1.0, 1.0, n, dtype=F64)
    v = torch.ones(n, dtype=F64)
    torch.testing.assert_close(hvp(q, w, v), 3 * w**2)
    with pytest.raises(ValueError, match="lanczos"):
        hessian(q, w)
    h = HolderPower(nu=0.5, dim=n)
    lc = HessianOperator(h, w + 2.0)
    torch.testing.assert_close(lc @ v, 0.5 * (w + 2.0) ** -0.5)


# --- the 2/K floor of MSE with a last-layer bias -------------------------------------------------------
def floor_points(p):
    yield p.init(0)
    yield p.init(1)
    yield random_point(p.dim, 2, scale=3.0)
    yield torch.zeros(p.dim, dtype=F64)


@pytest.mark.parametrize("num_classes", [2, 4, 10])
def test_linear_classifier_bias_block_and_floor(num_classes):
    ds = gaussian_clusters(num_classes=num_classes, dim=3, n_train=5 * num_classes, n_test=4, seed=2)
    p = LinearClassifier(ds)
    k = num_classes
    assert p.sharpness_floor == 2.0 / k and p.num_classes == k
    s = p.last_bias_slice
    for w in floor_points(p):
        h = torch.autograd.functional.hessian(p.objective, w)
        torch.testing.assert_close(h[s, s], (2.0 / k) * torch.eye(k, dtype=F64), rtol=0, atol=1e-14)
        assert float(torch.linalg.eigvalsh(h)[-1]) >= 2.0 / k - 1e-10


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_mlp_sharpness_floor_is_a_lower_bound(clusters4, activation):
    p = MLPProblem(clusters4, hidden=(6, 5), activation=activation)
    assert p.sharpness_floor == 0.5
    s = p.last_bias_slice
    for w in floor_points(p):
        h = hessian(p, w)
        torch.testing.assert_close(h[s, s], 0.5 * torch.eye(4, dtype=F64), rtol=0, atol=1e-13)
        assert float(torch.linalg.eigvalsh(h)[-1]) >= 0.5 - 1e-10


def set_all_relus_dead(p, w):
    """Zero hidden weights and negative hidden biases: every hidden pre-activation is -1."""
    w = w.clone()
    for name, s in p.layer_slices.items():
        if not name.startswith("out."):
            w[s] = 0.0 if name.endswith("weight") else -1.0
    return w


def test_dead_relu_network_sits_exactly_on_the_floor(clusters4):
    # Flatland's end point: with every ReLU dead only the output bias feels curvature, so λ_max = 2/K.
    p = MLPProblem(clusters4, hidden=(6, 5), activation="relu")
    w = set_all_relus_dead(p, p.init(0))
    assert p.dead_fraction(w) == 1.0
    evals = torch.linalg.eigvalsh(hessian(p, w))
    assert float(evals[-1]) == pytest.approx(0.5, abs=1e-12)
    g = p.layer_grad_norms(p.grad(w))
    assert g["hidden"] == 0.0 and g["out.weight"] == 0.0 and g["last_bias"] > 0


def test_floor_is_zero_without_bias_or_with_cross_entropy(clusters):
    assert LinearClassifier(clusters, loss="ce").sharpness_floor == 0.0
    assert LinearClassifier(clusters, bias=False).sharpness_floor == 0.0
    assert MLPProblem(clusters, hidden=(4,), loss="ce").sharpness_floor == 0.0
    assert MLPProblem(clusters, hidden=(4,), bias=False).sharpness_floor == 0.0
    assert MLPProblem(clusters, hidden=(4,), bias=False).last_bias_slice is None
    # Without a bias 2/K is not a bound: with tiny inputs (|x| ~ 0.01) the Hessian 2/(nK) X^T X ⊗ I is tiny.
    p = LinearClassifier(gaussian_clusters(num_classes=3, dim=1, n_train=30, n_test=3, spread=0.01,
                                           separation=0.01), bias=False)
    lam = float(torch.linalg.eigvalsh(hessian(p, p.init(0)))[-1])
    assert lam < 2.0 / 3


@pytest.mark.parametrize("num_classes", [2, 3, 10])
def test_prior_loss_for_balanced_classes(num_classes):
    ds = gaussian_clusters(num_classes=num_classes, dim=2, n_train=6 * num_classes, n_test=3)
    for p in (LinearClassifier(ds), MLPProblem(ds, hidden=(3,))):
        k = num_classes
        assert p.prior_loss == pytest.approx((k - 1) / k**2, rel=1e-14)
        # It is the loss of the model that outputs the class prior 1/K through its last bias alone.
        w = torch.zeros(p.dim, dtype=F64)
        w[p.last_bias_slice] = 1.0 / k
        assert p.loss(w) == pytest.approx(p.prior_loss, rel=1e-12)
        # ... and that point is a minimum along the bias: the bias gradient vanishes there.
        assert p.layer_grad_norms(p.grad(w))["last_bias"] == pytest.approx(0.0, abs=1e-14)


def test_prior_loss_for_unbalanced_classes():
    # Class frequencies p = (1/2, 1/3, 1/6): the per-output variance averaged over K = 3 outputs.
    from eostutor.datasets import Dataset

    y = torch.tensor([0, 0, 0, 1, 1, 2])
    x = torch.arange(12, dtype=F64).reshape(6, 2)
    ds = Dataset("unbalanced", x, y, x[:2], y[:2], 3, "six points")
    p = LinearClassifier(ds)
    freq = np.array([1 / 2, 1 / 3, 1 / 6])
    assert p.prior_loss == pytest.approx(float(np.sum(freq * (1 - freq)) / 3), rel=1e-14)
    w = torch.zeros(p.dim, dtype=F64)
    w[p.last_bias_slice] = torch.as_tensor(freq)
    assert p.loss(w) == pytest.approx(p.prior_loss, rel=1e-12)


def test_prior_loss_on_digits_is_0_09(small_digits):
    assert LinearClassifier(small_digits).prior_loss == pytest.approx(0.09, rel=1e-14)
    assert math.isnan(LinearClassifier(small_digits, loss="ce").prior_loss)


# --- MLP structure ----------------------------------------------------------------------------------
@pytest.mark.parametrize("hidden", [(), (5,), (4, 3), (3, 2, 2)])
@pytest.mark.parametrize("bias", [True, False])
def test_mlp_dim_and_layer_slices(clusters, hidden, bias):
    p = MLPProblem(clusters, hidden=hidden, bias=bias)
    sizes = [3, *hidden, 3]
    expected = sum(sizes[i] * sizes[i + 1] + (sizes[i + 1] if bias else 0) for i in range(len(sizes) - 1))
    assert p.dim == expected and p.sizes == sizes
    slices = sorted(p.layer_slices.values(), key=lambda s: s.start)
    assert slices[0].start == 0 and slices[-1].stop == p.dim
    for a, b in zip(slices, slices[1:]):
        assert a.stop == b.start  # contiguous, no overlap, no gap
    names = [f"layer{i}" for i in range(len(hidden))] + ["out"]
    kinds = ["weight", "bias"] if bias else ["weight"]
    assert list(p.layer_slices) == [f"{n}.{k}" for n in names for k in kinds]
    covered = torch.zeros(p.dim, dtype=torch.int64)
    for s in p.layer_slices.values():
        covered[s] += 1
    assert torch.equal(covered, torch.ones(p.dim, dtype=torch.int64))
    assert sum(s.stop - s.start for s in p.hidden_slices) == expected - (3 * sizes[-2] + (3 if bias else 0))


ACT_MODULES = {"tanh": torch.nn.Tanh, "relu": torch.nn.ReLU, "gelu": torch.nn.GELU, "elu": torch.nn.ELU}


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("activation", sorted(ACT_MODULES))
def test_mlp_forward_matches_torch_sequential(clusters, activation, bias):
    p = MLPProblem(clusters, hidden=(5, 4), activation=activation, bias=bias)
    w = random_point(p.dim, 3)
    params = p.unflatten(w)
    layers = []
    for i, (fan_in, fan_out) in enumerate(zip(p.sizes[:-1], p.sizes[1:])):
        layers.append(torch.nn.Linear(fan_in, fan_out, bias=bias, dtype=F64))
        if i < len(p.sizes) - 2:
            layers.append(ACT_MODULES[activation]())
    net = torch.nn.Sequential(*layers)
    linears = [m for m in net if isinstance(m, torch.nn.Linear)]
    names = [f"layer{i}" for i in range(len(p.hidden))] + ["out"]
    with torch.no_grad():
        for name, lin in zip(names, linears):
            assert params[f"{name}.weight"].shape == lin.weight.shape
            lin.weight.copy_(params[f"{name}.weight"])
            if bias:
                lin.bias.copy_(params[f"{name}.bias"])
        expected = net(clusters.x_train)
    torch.testing.assert_close(p.forward(w, clusters.x_train), expected, rtol=1e-13, atol=1e-13)
    # unflatten gives views: writing through one changes the flat vector.
    params["out.weight"][0, 0] = 123.0
    assert float(w[p.layer_slices["out.weight"].start]) == 123.0


def test_mlp_init_is_seeded_and_scaled(clusters):
    p = MLPProblem(clusters, hidden=(6, 5))
    w0, w1 = p.init(0), p.init(1)
    assert torch.equal(w0, p.init(0)) and not torch.equal(w0, w1)
    for name, s in p.layer_slices.items():
        fan_in = p.layer_shapes[name.split(".")[0] + ".weight"][1]
        assert float(w0[s].abs().max()) <= 1 / math.sqrt(fan_in)  # U(±1/sqrt(fan_in))
    big = MLPProblem(clusters, hidden=(6, 5), init_scale=3.0)
    wb = big.init(0)
    for name, s in p.layer_slices.items():
        factor = 3.0 if name.endswith("weight") else 1.0
        torch.testing.assert_close(wb[s], factor * w0[s], rtol=1e-15, atol=0)
    assert "init_scale=3.0" in repr(big)


def test_dead_fraction(small_digits):
    wide = MLPProblem(small_digits, hidden=(128,), activation="relu")
    for seed in SEEDS:
        assert wide.dead_fraction(wide.init(seed)) == 0.0
    deep = MLPProblem(small_digits, hidden=(16, 8), activation="relu")
    w = deep.init(0)
    assert deep.dead_fraction(w) == 0.0
    assert deep.dead_fraction(set_all_relus_dead(deep, w)) == 1.0
    # Kill 4 of the 16 first-layer units only: 4 / 24 hidden units dead.
    w_part = w.clone()
    weight = deep.unflatten(w_part)["layer0.weight"]
    bias = deep.unflatten(w_part)["layer0.bias"]
    weight[:4] = 0.0
    bias[:4] = -1.0
    assert deep.dead_fraction(w_part) == pytest.approx(4 / 24)
    tanh = MLPProblem(small_digits, hidden=(8,), activation="tanh")
    assert math.isnan(tanh.dead_fraction(tanh.init(0)))
    assert math.isnan(LinearClassifier(small_digits).dead_fraction(torch.zeros(650, dtype=F64)))


def test_preactivations_shapes(clusters):
    p = MLPProblem(clusters, hidden=(5, 4), activation="relu")
    z = p.preactivations(p.init(0))
    assert [tuple(t.shape) for t in z] == [(24, 5), (24, 4)]
    assert [tuple(t.shape) for t in p.preactivations(p.init(0), clusters.x_test)] == [(9, 5), (9, 4)]


@pytest.mark.parametrize("bias", [True, False])
def test_layer_grad_norms_partition_the_gradient(clusters, bias):
    p = MLPProblem(clusters, hidden=(5, 4), activation="tanh", bias=bias)
    g = p.grad(p.init(0))
    norms = p.layer_grad_norms(g)
    out_bias = norms["out.bias"] ** 2 if bias else 0.0
    assert norms["hidden"] ** 2 + norms["out.weight"] ** 2 + out_bias == pytest.approx(float(g @ g), rel=1e-12)
    for name, s in p.layer_slices.items():
        assert norms[name] == pytest.approx(float(g[s].norm()), rel=1e-14)
    assert (norms["last_bias"] == pytest.approx(norms["out.bias"])) if bias else math.isnan(norms["last_bias"])
    assert sum(norms[n] ** 2 for n in p.layer_slices) == pytest.approx(float(g @ g), rel=1e-12)


def test_evaluate_reports_test_loss_and_accuracy(clusters):
    p = MLPProblem(clusters, hidden=(5,), loss="ce")
    w = p.init(0)
    metrics = p.evaluate(w)
    assert set(metrics) == {"test_loss", "test_accuracy", "train_accuracy"}
    out = p.forward(w, clusters.x_test)
    expected_loss = float(torch.nn.functional.cross_entropy(out, clusters.y_test))
    assert metrics["test_loss"] == pytest.approx(expected_loss, rel=1e-12)
    expected_acc = float((out.argmax(1) == clusters.y_test).double().mean())
    assert metrics["test_accuracy"] == expected_acc
    for key in ("test_accuracy", "train_accuracy"):
        assert 0.0 <= metrics[key] <= 1.0
    # MSE version: mean over n·K outputs of the one-hot error.
    pm = MLPProblem(clusters, hidden=(5,))
    onehot = torch.nn.functional.one_hot(clusters.y_test, 3).double()
    expected_mse = float(((pm.forward(w, clusters.x_test) - onehot) ** 2).mean())
    assert pm.evaluate(w)["test_loss"] == pytest.approx(expected_mse, rel=1e-12)
    # Regression: accuracy is not defined.
    reg = MLPProblem(teacher_student(n_train=10, n_test=4, dim=2), hidden=(3,))
    m = reg.evaluate(reg.init(0))
    assert math.isfinite(m["test_loss"]) and math.isnan(m["test_accuracy"])
    assert Quadratic().has_data is False and p.has_data is True
    with pytest.raises(ValueError, match="no held-out data"):
        Quadratic().evaluate(torch.zeros(2))


def test_a_confident_correct_linear_model_is_perfectly_accurate():
    # Well-separated clusters: w = class centres as weights (nearest-centre rule) gets accuracy 1.
    ds = gaussian_clusters(num_classes=3, dim=2, n_train=30, n_test=30, spread=0.01, separation=5.0, seed=4)
    p = LinearClassifier(ds, loss="ce")
    centres = torch.stack([ds.x_train[ds.y_train == k].mean(0) for k in range(3)])
    w = torch.zeros(p.dim, dtype=F64)
    w[p.layer_slices["out.weight"]] = centres.reshape(-1)
    w[p.layer_slices["out.bias"]] = -0.5 * (centres**2).sum(1)
    m = p.evaluate(w)
    assert m["test_accuracy"] == 1.0 and m["train_accuracy"] == 1.0


def test_float32_dtype_is_respected(clusters):
    p = MLPProblem(clusters, hidden=(4,), dtype=torch.float32)
    assert p.dtype == torch.float32 and p.x_train.dtype == torch.float32
    w = p.init(0)
    assert w.dtype == torch.float32
    loss, g = p.loss_and_grad(w)
    assert isinstance(loss, float) and g.dtype == torch.float32
    assert hvp(p, w, torch.ones(p.dim)).dtype == torch.float32
    assert hessian(p, w).dtype == torch.float32
    assert "float32" in repr(p)
    # float64 parameters are accepted and cast to the problem's dtype.
    assert p.grad(w.double()).dtype == torch.float32
    q = Quadratic([1.0, 2.0], dtype=torch.float32)
    assert q.init(0).dtype == torch.float32 and hessian(q, q.init(0)).dtype == torch.float32
    assert hvp(q, q.init(0), [1.0, 1.0]).dtype == torch.float32


def test_data_problem_accepts_a_dataset_name():
    p = make_problem("mlp", dataset="two_moons", hidden=(3,))
    assert p.dataset.name == "two_moons" and p.num_classes == 2 and p.sharpness_floor == 1.0
    p32 = LinearClassifier("two_moons", dtype=torch.float32)
    assert p32.x_train.dtype == torch.float32


# --- dense Hessian limit -----------------------------------------------------------------------------
def test_dense_hessian_refused_above_max_dim(clusters, small_digits):
    p = MLPProblem(clusters, hidden=(4,))
    w = p.init(0)
    with pytest.raises(ValueError, match=rf"dim={p.dim}.*max_dim=10.*lanczos"):
        hessian(p, w, max_dim=10)
    assert hessian(p, w, max_dim=p.dim).shape == (p.dim, p.dim)
    big = MLPProblem(small_digits, hidden=(64,))
    assert big.dim > DENSE_HESSIAN_LIMIT
    with pytest.raises(ValueError, match="lanczos"):
        hessian(big, big.init(0))
    with pytest.raises(ValueError, match="lanczos"):
        hessian(Quadratic([1.0, 2.0, 3.0]), torch.zeros(3), max_dim=2)
    with pytest.raises(ValueError, match="max_dim .* got 0"):
        hessian(p, w, max_dim=0)


# --- registry ----------------------------------------------------------------------------------------
def test_make_problem_builds_every_registered_problem(clusters):
    kwargs = {"linear": {"dataset": clusters}, "mlp": {"dataset": clusters, "hidden": (3,)}}
    assert set(PROBLEMS) == {"quadratic", "quartic", "holder", "scalar-net", "minimalist", "linear", "mlp"}
    for name, (cls, description) in PROBLEMS.items():
        p = make_problem(name, **kwargs.get(name, {}))
        assert isinstance(p, cls) and isinstance(p, Problem) and cls.name == name
        assert isinstance(description, str) and description
        w = p.init(0)
        loss, g = p.loss_and_grad(w)
        assert math.isfinite(loss) and g.shape == (p.dim,) and torch.isfinite(g).all()
        assert type(p).__name__ in repr(p)


def test_make_problem_passes_arguments():
    q = make_problem("quadratic", eigenvalues=[2.0, 4.0], rotate=1)
    assert q.sharpness == 4.0 and q.rotate == 1
    assert make_problem("scalar-net", depth=3).dim == 3
    assert make_problem("holder", nu=0.3).nu == 0.3


# --- argument checks -----------------------------------------------------------------------------------
Q2 = Quadratic([1.0, 2.0])
# (call taking the small clusters dataset, regex that the message must contain)
BAD_CALLS = [
    (lambda ds: MLPProblem(ds, activation="sigmoid"), "unknown activation 'sigmoid'"),
    (lambda ds: MLPProblem(ds, loss="hinge"), "unknown loss 'hinge'"),
    (lambda ds: LinearClassifier(ds, loss="hinge"), "unknown loss 'hinge'"),
    (lambda ds: MLPProblem(ds, hidden=(4, 0)), "hidden layer width .* got 0"),
    (lambda ds: MLPProblem(ds, hidden=(-3,)), "hidden layer width .* got -3"),
    (lambda ds: MLPProblem(ds, hidden=(2.5,)), "hidden layer width .* got 2.5"),
    (lambda ds: MLPProblem(ds, hidden=None), "hidden .* got None"),
    (lambda ds: MLPProblem(ds, init_scale=0.0), "init_scale .* got 0.0"),
    (lambda ds: MLPProblem(ds, init_scale=-1.0), "init_scale .* got -1.0"),
    (lambda ds: MLPProblem(ds, init_scale=math.inf), "init_scale .* got inf"),
    (lambda ds: MLPProblem(ds, init_scale=math.nan), "init_scale .* got nan"),
    (lambda ds: MLPProblem(ds, dtype=torch.float16), "dtype .* got torch.float16"),
    (lambda ds: MLPProblem(ds, dtype="float32"), "dtype .* got 'float32'"),
    (lambda ds: MLPProblem(ds, hidden=(3,)).init(-1), "seed .* got -1"),
    (lambda ds: MLPProblem("mnist"), "unknown dataset 'mnist'"),
    (lambda ds: MLPProblem(42), "dataset must be a Dataset .* got int"),
    (lambda ds: MLPProblem(teacher_student(n_train=4, n_test=2), loss="ce"), "loss='ce'"),
    (lambda ds: LinearClassifier(ds, dtype=torch.int32), "dtype .* got torch.int32"),
    (lambda ds: make_problem("rosenbrock"), "unknown problem 'rosenbrock'"),
    (lambda ds: make_problem("quadratic", sharpness=3.0), "bad arguments for problem 'quadratic'"),
    (lambda ds: HolderPower(nu=0.0), r"nu must be a number in \(0.0, 1.0\], got 0.0"),
    (lambda ds: HolderPower(nu=1.5), "nu .* got 1.5"),
    (lambda ds: HolderPower(nu=-0.5), "nu .* got -0.5"),
    (lambda ds: HolderPower(nu=math.nan), "nu .* got nan"),
    (lambda ds: HolderPower(dim=0), "dim .* got 0"),
    (lambda ds: ScalarNet(depth=0), "depth .* got 0"),
    (lambda ds: ScalarNet(target=math.inf), "target .* got inf"),
    (lambda ds: Quartic(dim=-2), "dim .* got -2"),
    (lambda ds: Quadratic([]), r"eigenvalues .* got \[\]"),
    (lambda ds: Quadratic([1.0, math.nan]), r"eigenvalues .* got \[1.0, nan\]"),
    (lambda ds: Quadratic([1.0, math.inf]), r"eigenvalues .* got \[1.0, inf\]"),
    (lambda ds: Quadratic(["a"]), r"eigenvalues .* got \['a'\]"),
    (lambda ds: Quadratic([[1.0, 2.0]]), r"eigenvalues .* got \[\[1.0, 2.0\]\]"),
    (lambda ds: Quadratic([1.0], rotate=-1), "rotate .* got -1"),
    (lambda ds: Quadratic([1.0], rotate=1.5), "rotate .* got 1.5"),
    (lambda ds: Quadratic([1.0], dtype=torch.float16), "dtype .* got torch.float16"),
    (lambda ds: Q2.init(seed=-1), "seed .* got -1"),
    (lambda ds: Q2.init(seed=0.5), "seed must be an integer, got 0.5"),
    (lambda ds: Q2.loss(torch.zeros(3)), r"w must have shape \(2,\), got \(3,\)"),
    (lambda ds: Q2.grad(torch.zeros(2, 1)), r"w must have shape \(2,\), got \(2, 1\)"),
    (lambda ds: hvp(Q2, torch.zeros(2), torch.zeros(3)), r"v must have shape \(2,\) or \(2, m\), got \(3,\)"),
    (lambda ds: HessianOperator(Q2, torch.zeros(2)) @ torch.zeros(3, 2), r"v must have shape .* got \(3, 2\)"),
    (lambda ds: hessian(Q2, torch.zeros(5)), r"w must have shape \(2,\), got \(5,\)"),
    (lambda ds: Q2.loss("abc"), "w must be a tensor of shape"),
    (lambda ds: hvp(MLPProblem(ds, hidden=(3,)), torch.zeros(3), torch.zeros(3)), r"w must have shape"),
    (lambda ds: MLPProblem(ds, hidden=(3,)).layer_grad_norms(torch.zeros(2)), r"g must have shape"),
    (lambda ds: Minimalist.valley_sharpness(0.0), "x must be nonzero"),
    (lambda ds: Minimalist.valley_sharpness(math.nan), "x .* got nan"),
]


@pytest.mark.parametrize("call, match", BAD_CALLS, ids=[m for _, m in BAD_CALLS])
def test_bad_arguments_raise_value_error_naming_the_value(clusters, call, match):
    with pytest.raises(ValueError, match=match):
        call(clusters)


def test_a_bad_device_or_a_string_of_widths_is_a_clear_error():
    with pytest.raises(ValueError, match="device must be a torch device"):
        Quadratic([1.0, 2.0], device="xyz")
    with pytest.raises(ValueError, match="hidden must be a sequence"):
        MLPProblem(gaussian_clusters(num_classes=3, n_train=12, n_test=3), hidden="32")


@pytest.mark.parametrize("cls", [LinearClassifier, MLPProblem])
@pytest.mark.parametrize("bias", ["no", "False", 0, 1, None, 1.0])
def test_bias_must_be_a_real_bool(cls, bias):
    data = gaussian_clusters(num_classes=3, n_train=12, n_test=3)
    with pytest.raises(ValueError, match=f"bias must be True or False, got {bias!r}"):
        cls(data, bias=bias)
    assert cls(data, bias=np.bool_(False)).bias is False
