"""HessianOperator and the spectrum solvers, checked against dense float64 references.

Every fast path is compared with a slow exact one: HVPs against the dense Hessian, Lanczos and power
iteration against ``torch.linalg.eigvalsh``, and every reported residual against a fresh ‖Hy − θy‖.
"""

import math

import numpy as np
import pytest
import scipy.sparse.linalg
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from eostutor.curvature import HessianOperator, hessian
from eostutor.datasets import digits, gaussian_clusters
from eostutor.problems import HolderPower, Minimalist, MLPProblem, Quadratic, Quartic, ScalarNet
from eostutor.spectrum import (
    EXACT_MAX_DIM,
    SpectrumResult,
    hessian_trace,
    lanczos,
    power_iteration,
    segment_smoothness,
    sharpness,
    spectral_density,
    top_eigenvalues,
)
from eostutor.spectrum._linalg import start_block
from eostutor.spectrum.krylov import Subspace

F64 = torch.float64


def _t(values):
    return torch.tensor(values, dtype=F64)


# ---------------------------------------------------------------------------------------------------
# Problems with a point each: toys (exact Hessians) and small networks (dense eigh is instant)
# ---------------------------------------------------------------------------------------------------
def _small_mlp(dtype=F64, activation="tanh"):
    data = gaussian_clusters(num_classes=3, dim=4, n_train=60, n_test=6, dtype=dtype)
    return MLPProblem(data, hidden=(6,), activation=activation, dtype=dtype)  # dim 51


def _digits_mlp():
    return MLPProblem(digits(n_train=100), hidden=(8,))  # dim 610


CASES = {
    "quadratic": lambda: (Quadratic([-4.0, -1.0, 0.5, 2.0, 3.0, 7.0], rotate=0), None),
    "quartic": lambda: (Quartic(dim=3), _t([1.0, -2.0, 0.5])),
    "holder": lambda: (HolderPower(nu=0.5, dim=3), _t([0.3, -1.2, 2.0])),
    "scalar-net": lambda: (ScalarNet(depth=3, target=2.0), None),
    "minimalist": lambda: (Minimalist(), None),
    "mlp-tanh": lambda: (_small_mlp(), None),
    "mlp-relu": lambda: (_small_mlp(activation="relu"), None),
    "mlp-digits": lambda: (_digits_mlp(), None),
}


@pytest.fixture(params=list(CASES), scope="module")
def case(request):
    problem, w = CASES[request.param]()
    if w is None:
        w = problem.init(seed=1)
    H = HessianOperator(problem, w)
    dense = H.dense().to(F64)
    return problem, w, dense


def _true_residuals(problem, w, res):
    """‖H y − θ y‖ from fresh products (independent of the solver's bookkeeping)."""
    y = res.eigenvectors.to(problem.dtype)
    hy = HessianOperator(problem, w) @ y
    return (hy.to(F64) - res.eigenvectors * torch.as_tensor(res.eigenvalues)).norm(dim=0).numpy()


# ---------------------------------------------------------------------------------------------------
# HessianOperator
# ---------------------------------------------------------------------------------------------------
def test_hvp_matches_dense_hessian(case):
    problem, w, dense = case
    H = HessianOperator(problem, w)
    gen = torch.Generator().manual_seed(0)
    v = torch.randn(problem.dim, generator=gen, dtype=F64)
    block = torch.randn(problem.dim, 3, generator=gen, dtype=F64)
    scale = float(dense.abs().max())
    np.testing.assert_allclose((H @ v).to(F64), dense @ v, atol=1e-10 * scale * problem.dim)
    np.testing.assert_allclose((H @ block).to(F64), dense @ block, atol=1e-10 * scale * problem.dim)
    assert H.num_hvps == 4
    assert H.shape == (problem.dim, problem.dim)
    loss, grad = problem.loss_and_grad(w)
    assert H.loss == pytest.approx(loss, rel=1e-12)
    torch.testing.assert_close(H.grad, grad)


def test_dense_matches_problem_hessian(case):
    problem, w, dense = case
    torch.testing.assert_close(dense, hessian(problem, w).to(F64), rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(dense, dense.T)


def test_one_operator_one_counter_shared_by_the_loss_gradient_and_products():
    problem = _small_mlp()
    w = problem.init(0)
    H = HessianOperator(problem, w)
    loss, g = problem.loss_and_grad(w)
    assert H.loss == pytest.approx(loss, rel=1e-14)
    torch.testing.assert_close(H.grad, g, rtol=1e-12, atol=1e-14)
    res = sharpness(problem, None, method="lanczos", operator=H)
    assert res.num_hvps == H.num_hvps > 0
    trace = hessian_trace(problem, None, num_samples=4, operator=H)
    assert H.num_hvps == res.num_hvps + trace.num_hvps
    assert "num_hvps" in repr(H)
    matrix = HessianOperator.from_matrix(np.diag([1.0, 2.0]))
    assert lanczos(matrix, tol=1e-10).num_hvps == matrix.num_hvps


def test_to_scipy_works_with_eigsh(case):
    problem, w, dense = case
    if problem.dim < 3:
        pytest.skip("eigsh needs k < dim")
    H = HessianOperator(problem, w)
    op = H.to_scipy()
    assert op.shape == (problem.dim, problem.dim) and op.dtype == np.float64
    vals = scipy.sparse.linalg.eigsh(op, k=1, which="LA", tol=1e-10)[0]
    assert vals[0] == pytest.approx(float(torch.linalg.eigvalsh(dense)[-1]), rel=1e-6, abs=1e-9)
    assert H.num_hvps > 0
    x = np.ones(problem.dim)
    np.testing.assert_allclose(op.matvec(x), dense.numpy() @ x, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(op.matvec(x[:, None])[:, 0], dense.numpy() @ x, rtol=1e-6, atol=1e-8)


def test_float32_operator_gives_float64_results():
    problem = _small_mlp(dtype=torch.float32)
    w = problem.init(0)
    H = HessianOperator(problem, w)
    assert (H @ torch.ones(problem.dim)).dtype == torch.float32
    assert H.to_scipy().matvec(np.ones(problem.dim)).dtype == np.float64
    res = sharpness(problem, w, method="lanczos", tol=1e-4)
    assert res.eigenvectors.dtype == F64 and res.eigenvalues.dtype == np.float64
    ref = float(torch.linalg.eigvalsh(H.dense().to(F64))[-1])
    assert abs(res.value - ref) <= res.residuals[0] + 1e-5 * ref


def test_dense_refused_above_limit():
    problem = _small_mlp()
    with pytest.raises(ValueError, match=r"dim=51 exceeds max_dim=10.*lanczos"):
        HessianOperator(problem, problem.init(0)).dense(max_dim=10)


# ---------------------------------------------------------------------------------------------------
# Lanczos and power iteration against eigvalsh
# ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["exact", "lanczos", "power"])
def test_sharpness_matches_eigvalsh(case, method):
    problem, w, dense = case
    evals = torch.linalg.eigvalsh(dense).numpy()
    res = sharpness(problem, w, method=method, tol=1e-4, max_hvps=3000)
    assert isinstance(res, SpectrumResult) and res.method == method
    assert res.converged
    # Certified: θ is within its residual of an eigenvalue; here that eigenvalue is λ_max.
    assert abs(res.value - evals[-1]) <= res.residuals[0] + 1e-12 * abs(evals).max()
    assert res.residuals[0] <= 1e-4 * abs(res.value)
    np.testing.assert_allclose(res.residuals, _true_residuals(problem, w, res),
                               rtol=1e-4, atol=1e-12 * abs(evals).max())
    assert res.eigenvectors.shape == (problem.dim, 1)
    assert float(res.vector.norm()) == pytest.approx(1.0, abs=1e-10)


@pytest.mark.parametrize("method", ["lanczos", "power"])
@pytest.mark.parametrize("which", ["largest", "smallest", "both"])
def test_top_eigenvalues_match_eigvalsh(case, method, which):
    problem, w, dense = case
    if method == "power" and which != "largest" and problem.dim > 500:
        pytest.skip("power iteration on -H shifted by λ_max needs thousands of products here")
    k = min(2, problem.dim)
    evals = torch.linalg.eigvalsh(dense).numpy()
    tol = 1e-4 if method == "lanczos" else 1e-3  # power is slow; 1e-3 keeps the test fast
    res = top_eigenvalues(problem, w, k, which=which, method=method, tol=tol, max_hvps=4000)
    if which == "largest":
        expected = evals[::-1][:k]
    elif which == "smallest":
        expected = evals[:k][::-1]
    else:
        idx = sorted(set(range(len(evals) - k, len(evals))) | set(range(k)), reverse=True)
        expected = evals[idx]
    assert res.converged
    assert np.all(np.diff(res.eigenvalues) <= 0), "eigenvalues must be in descending order"
    scale = abs(evals).max()
    # An eigenvalue near 0 is certified against 1e-6·max|θ| instead of |θ|.
    assert np.all(res.residuals <= tol * np.maximum(np.abs(res.eigenvalues), 1e-6 * scale) + 1e-12 * scale)
    np.testing.assert_allclose(res.eigenvalues, expected, atol=tol * scale)
    np.testing.assert_array_less(np.abs(res.eigenvalues - expected), res.residuals + 1e-10 * scale)


def test_subspace_keeps_an_orthonormal_basis_its_products_and_the_projected_matrix():
    """V stays orthonormal, W = H V and T = VᵀHV exactly (to round-off) while the buffers grow past 32."""
    problem = _digits_mlp()
    w = problem.init(0)
    H = HessianOperator(problem, w)
    gen = torch.Generator().manual_seed(0)
    sub = Subspace(H, gen)
    sub.extend(start_block(None, problem.dim, gen, columns=3))
    while sub.m < 40:
        sub.extend(sub.Wt[-1:].T)
    V, W = sub.Vt.T, sub.Wt.T
    assert sub.m == 40 and H.num_hvps == 40
    np.testing.assert_allclose(V.T @ V, np.eye(40), atol=1e-12, rtol=0)
    products = (H @ torch.from_numpy(V).to(H.dtype)).to(F64).numpy()
    np.testing.assert_allclose(W, products, atol=1e-5, rtol=1e-5)  # float32 products
    np.testing.assert_allclose(sub.T, V.T @ W, atol=1e-10)
    assert sub.extend(np.zeros((problem.dim, 0))) == 0
    # A vector already in the span leaves round-off: it is replaced by a random direction orthogonal to all.
    assert sub.extend(sub.Vt[:2].T @ np.ones((2, 1))) == 1
    np.testing.assert_allclose(sub.Vt @ sub.Vt.T, np.eye(41), atol=1e-12, rtol=0)


def test_clustered_top_eigenvalues_power_is_much_slower():
    """Top eigenvalues 10, 9.8, 9.6: power iteration converges like 0.98ⁿ, Lanczos does not care."""
    spectrum = [10.0, 9.8, 9.6, *np.linspace(0.0, 5.0, 77)]
    q = Quadratic(spectrum, rotate=3)
    w = torch.zeros(q.dim, dtype=F64)
    lz = sharpness(q, w, method="lanczos", tol=1e-3)
    pw = sharpness(q, w, method="power", tol=1e-3, max_hvps=5000)
    for res in (lz, pw):
        assert res.converged
        assert abs(res.value - 10.0) <= res.residuals[0]
    assert pw.num_hvps >= 4 * lz.num_hvps
    top3 = top_eigenvalues(q, w, 3, method="lanczos", tol=1e-6)
    np.testing.assert_allclose(top3.eigenvalues, [10.0, 9.8, 9.6], atol=1e-6)


def test_power_handles_dominant_negative_eigenvalue():
    q = Quadratic([-10.0, 1.0, 3.0], rotate=1)
    w = torch.zeros(3, dtype=F64)
    res = sharpness(q, w, method="power", tol=1e-8, max_hvps=2000)
    assert res.converged and res.value == pytest.approx(3.0, abs=1e-7)
    low = top_eigenvalues(q, w, 1, which="smallest", method="power", tol=1e-8, max_hvps=2000)
    assert low.value == pytest.approx(-10.0, abs=1e-7)
    neg = Quadratic([-5.0, -2.0, -1.0], rotate=2)  # sharpness of a negative definite Hessian: -1
    assert sharpness(neg, w, method="power", tol=1e-8, max_hvps=2000).value == pytest.approx(-1.0, abs=1e-7)


SPECTRA = st.lists(st.floats(-10.0, 10.0, allow_nan=False), min_size=1, max_size=12)


@settings(max_examples=40, deadline=None)
@given(values=SPECTRA, rotate=st.integers(0, 1000), method=st.sampled_from(["lanczos", "exact"]))
def test_random_quadratics_largest_algebraic(values, rotate, method):
    q = Quadratic(values, rotate=rotate)
    res = sharpness(q, torch.zeros(q.dim, dtype=F64), method=method, tol=1e-6)
    scale = max(max(abs(v) for v in values), 1.0)
    assert res.converged
    assert abs(res.value - max(values)) <= res.residuals[0] + 1e-9 * scale


@settings(max_examples=30, deadline=None)
@given(values=SPECTRA, rotate=st.integers(0, 1000))
def test_random_quadratics_power_iteration(values, rotate):
    # Power iteration needs a dominant magnitude (no ±λ tie) and, after its shift, a gap at the top.
    mags = sorted((abs(v) for v in values), reverse=True)
    top = sorted(values, reverse=True)
    spread = top[0] - top[-1]
    assume(len(values) == 1 or (mags[0] - mags[1] >= 0.1 * mags[0] and top[0] - top[1] >= 0.1 * spread))
    q = Quadratic(values, rotate=rotate)
    res = sharpness(q, torch.zeros(q.dim, dtype=F64), method="power", tol=1e-6, max_hvps=3000)
    scale = max(mags[0], 1.0)
    assert res.converged
    assert abs(res.value - max(values)) <= res.residuals[0] + 1e-9 * scale


def test_both_finds_negative_eigenvalues():
    q = Quadratic([-3.0, -2.9, 0.1, 0.5, 2.0, 3.0], rotate=5)  # ± pairs, as in Flatland's saddles
    res = top_eigenvalues(q, torch.zeros(6, dtype=F64), 2, which="both", method="lanczos", tol=1e-8)
    np.testing.assert_allclose(res.eigenvalues, [3.0, 2.0, -2.9, -3.0], atol=1e-7)
    problem = _small_mlp()
    w = problem.init(1)
    evals = torch.linalg.eigvalsh(HessianOperator(problem, w).dense()).numpy()
    assert evals[0] < 0  # the network at init has negative curvature
    res = top_eigenvalues(problem, w, 1, which="both", method="lanczos", tol=1e-6)
    np.testing.assert_allclose(res.eigenvalues, [evals[-1], evals[0]], rtol=1e-6)


def test_multiplicity_needs_a_block():
    q = Quadratic([1.0, 10.0, 10.0, 3.0, 0.5, 0.2], rotate=2)
    v0 = torch.randn(6, 2, generator=torch.Generator().manual_seed(0), dtype=F64)
    res = top_eigenvalues(q, torch.zeros(6, dtype=F64), 3, method="lanczos", tol=1e-8, v0=v0)
    np.testing.assert_allclose(res.eigenvalues, [10.0, 10.0, 3.0], atol=1e-8)


def _clustered_quadratic():
    """dim 60: 5 with multiplicity 6, ±3 with multiplicity 4 each, and 46 distinct values in (-2, 2)."""
    spread = np.linspace(-1.9, 1.9, 46).tolist()
    values = [5.0] * 6 + [3.0, -3.0] * 4 + spread
    return Quadratic(values, rotate=7), np.sort(np.array(values))[::-1]


def test_block_lanczos_finds_multiplicities():
    """A single start vector sees each eigenspace in one direction; the default block (min(k, 16)) does not."""
    q, desc = _clustered_quadratic()
    w = torch.zeros(q.dim, dtype=F64)
    top = top_eigenvalues(q, w, 6, method="lanczos", tol=1e-8)
    assert top.converged
    np.testing.assert_allclose(top.eigenvalues, [5.0] * 6, atol=1e-7)
    k = 10
    both = top_eigenvalues(q, w, k, which="both", method="lanczos", tol=1e-8)
    assert both.converged
    np.testing.assert_allclose(both.eigenvalues, np.concatenate([desc[:k], desc[-k:]]), atol=1e-7)
    assert np.sum(np.isclose(both.eigenvalues, 3.0, atol=1e-6)) == 4
    assert np.sum(np.isclose(both.eigenvalues, -3.0, atol=1e-6)) == 4
    # The eigenvectors of a repeated eigenvalue span its eigenspace (orthonormal columns).
    y = both.eigenvectors
    torch.testing.assert_close(y.T @ y, torch.eye(2 * k, dtype=F64), rtol=0, atol=1e-8)
    # A warm start narrower than the block is padded with random columns.
    v0 = torch.randn(q.dim, generator=torch.Generator().manual_seed(1), dtype=F64)
    warm = top_eigenvalues(q, w, 6, method="lanczos", tol=1e-8, v0=v0)
    np.testing.assert_allclose(warm.eigenvalues, [5.0] * 6, atol=1e-7)
    # The documented limitation: a block of 1 reports the eigenvalue 5 fewer than 6 times.
    single = top_eigenvalues(q, w, 6, method="lanczos", tol=1e-8, block_size=1)
    assert np.sum(np.isclose(single.eigenvalues, 5.0, atol=1e-6)) < 6
    # An explicit block as wide as the wanted copies suffices (also on a plain matrix).
    narrow = lanczos(q.matrix, 2, tol=1e-8, block_size=2)
    np.testing.assert_allclose(narrow.eigenvalues, [5.0, 5.0], atol=1e-7)


def test_mlp_cluster_multiplicities_match_eigvalsh():
    """The notebook report: a tanh MLP at w = (0, …, out.bias = 0.1) has 2/K with multiplicity K = 10
    and ±0.0487 with multiplicity 16; single-vector Lanczos found 0.2 four times and each ± pair twice."""
    problem = MLPProblem(digits(n_train=200, scale="unit"), hidden=(16,), activation="tanh")
    w = torch.zeros(problem.dim, dtype=F64)
    w[problem.layer_slices["out.bias"]] = 0.1
    k = 12
    res = top_eigenvalues(problem, w, k, which="both", method="lanczos", tol=1e-6)
    evals = torch.linalg.eigvalsh(HessianOperator(problem, w).dense().to(F64)).numpy()
    assert res.converged
    expected = np.concatenate([evals[::-1][:k], evals[:k][::-1]])
    np.testing.assert_allclose(res.eigenvalues, expected, atol=1e-6 * abs(evals).max())
    assert np.sum(np.isclose(res.eigenvalues, 0.2, atol=1e-6)) == 10


def test_dependent_start_block_and_full_spectrum():
    q = Quadratic([4.0, -1.0, 2.0, 0.5], rotate=6)
    w = torch.zeros(4, dtype=F64)
    v = torch.ones(4, dtype=F64)
    res = top_eigenvalues(q, w, 2, method="lanczos", tol=1e-8, v0=torch.stack([v, 2 * v], dim=1))
    np.testing.assert_allclose(res.eigenvalues, [4.0, 2.0], atol=1e-8)
    for method in ("exact", "lanczos", "power"):  # k = dim with "both": every eigenvalue once
        res = top_eigenvalues(q, w, 4, which="both", method=method, tol=1e-6, max_hvps=4000)
        np.testing.assert_allclose(res.eigenvalues, [4.0, 2.0, 0.5, -1.0], atol=1e-5)


def test_lanczos_accepts_dense_matrices():
    a = torch.diag(_t([1.0, 2.0, 3.0, 10.0]))
    assert lanczos(a, tol=1e-10).value == pytest.approx(10.0)
    assert lanczos(a.numpy(), tol=1e-10).value == pytest.approx(10.0)
    assert power_iteration(a.to(torch.float32), tol=1e-6).value == pytest.approx(10.0, rel=1e-5)


# ---------------------------------------------------------------------------------------------------
# Warm starts, determinism, auto
# ---------------------------------------------------------------------------------------------------
def test_warm_start_uses_fewer_hvps_than_cold():
    problem = _digits_mlp()
    w = problem.init(0)
    first = sharpness(problem, w, method="lanczos")
    cold_counts, warm_counts = [], []
    v = first.vector
    for _ in range(5):  # a few GD steps: the top eigenvector moves a little each time
        w = w - 0.5 * problem.grad(w)
        cold = sharpness(problem, w, method="lanczos")
        warm = sharpness(problem, w, method="lanczos", v0=v)
        assert warm.converged and abs(warm.value - cold.value) <= warm.residuals[0] + cold.residuals[0]
        cold_counts.append(cold.num_hvps)
        warm_counts.append(warm.num_hvps)
        v = warm.vector
    assert all(wc < cc for wc, cc in zip(warm_counts, cold_counts))
    assert np.mean(warm_counts) <= 0.75 * np.mean(cold_counts)


def test_exact_eigenvector_start_certifies_fast_and_a_two_vector_start_survives_a_swap():
    q = Quadratic(list(np.linspace(0.1, 4.0, 40)) + [5.0], rotate=1)
    w = torch.zeros(q.dim, dtype=F64)
    exact = sharpness(q, w, method="exact")
    cold = sharpness(q, w, method="lanczos", tol=1e-6)
    warm = sharpness(q, w, method="lanczos", tol=1e-6, v0=exact.vector)
    assert warm.converged and warm.value == pytest.approx(5.0, rel=1e-6)
    assert warm.num_hvps < cold.num_hvps
    # A warm start that is an exact eigenvector of the *second* eigenvalue alone (the top two swapped since
    # it was measured) spans an invariant subspace: the residual certifies λ₂, as documented. A start that
    # carries the previous top *two* eigenvectors (what the tracker does) finds the top one at once.
    second, top = q.eigenvectors[:, -2], q.eigenvectors[:, -1]
    stale = sharpness(q, w, method="lanczos", tol=1e-6, v0=second)
    assert stale.value == pytest.approx(4.0, rel=1e-9) and stale.converged
    both = sharpness(q, w, method="lanczos", tol=1e-6, v0=torch.stack([second, top], dim=1))
    assert both.value == pytest.approx(5.0, rel=1e-9) and both.converged and both.num_hvps <= 3


def test_seeded_and_deterministic():
    problem = _small_mlp()
    w = problem.init(0)
    a = top_eigenvalues(problem, w, 2, method="lanczos", seed=3)
    b = top_eigenvalues(problem, w, 2, method="lanczos", seed=3)
    np.testing.assert_array_equal(a.eigenvalues, b.eigenvalues)
    torch.testing.assert_close(a.eigenvectors, b.eigenvectors, rtol=0, atol=0)
    assert a.num_hvps == b.num_hvps


def test_auto_chooses_exact_for_small_and_lanczos_for_large():
    small = _small_mlp()
    assert sharpness(small, small.init(0)).method == "exact"
    large = _digits_mlp()
    assert sharpness(large, large.init(0)).method == "lanczos"


def test_exact_refused_above_size_limit():
    big = MLPProblem(gaussian_clusters(num_classes=3, dim=2, n_train=9, n_test=3), hidden=(64, 64))
    assert big.dim > EXACT_MAX_DIM
    with pytest.raises(ValueError, match=r"method='exact' refused: dim=\d+.*method='lanczos'"):
        sharpness(big, big.init(0), method="exact")


def test_non_finite_hessian_is_an_error():
    holder = HolderPower(nu=0.5, dim=2)
    w = _t([0.0, 1.0])  # |w|^(nu-1) blows up at 0
    with pytest.raises(ValueError, match="not finite"):
        sharpness(holder, w, method="exact")
    with pytest.raises(ValueError, match="not finite"):
        sharpness(holder, w, method="lanczos")


def test_result_repr():
    q = Quadratic([1.0, 4.0])
    res = sharpness(q, torch.zeros(2, dtype=F64), method="lanczos")
    assert res.value == pytest.approx(4.0)
    text = repr(res)
    assert text.startswith("SpectrumResult(lanczos: λ=[4], 2 HVPs, converged, max rel. residual")


# ---------------------------------------------------------------------------------------------------
# Trace, density, segment smoothness
# ---------------------------------------------------------------------------------------------------
def test_trace_agrees_with_dense_trace():
    problem = _digits_mlp()
    w = problem.init(0)
    H = HessianOperator(problem, w)
    exact = float(H.dense().trace())
    res = hessian_trace(problem, None, num_samples=200, seed=0, operator=H)
    assert res.num_hvps == 200 and len(res.samples) == 200
    assert abs(res.estimate - exact) <= 4 * res.std_error
    assert "TraceResult(trace=" in repr(res)


def test_density_integrates_to_one_and_has_the_right_mean():
    problem = _digits_mlp()
    w = problem.init(0)
    H = HessianOperator(problem, w)
    evals = torch.linalg.eigvalsh(H.dense().to(F64)).numpy()
    dens = spectral_density(problem, None, num_probes=5, lanczos_steps=40, operator=H)
    assert np.trapezoid(dens.density, dens.grid) == pytest.approx(1.0, abs=1e-3)
    assert dens.weights.sum() == pytest.approx(1.0)
    assert dens.num_hvps == 5 * 40
    # Ritz values interlace the spectrum.
    assert dens.nodes.min() >= evals[0] - 1e-8 and dens.nodes.max() <= evals[-1] + 1e-8
    # Σ weights·nodes is the Hutchinson estimate of tr(H)/dim with the same probes.
    hutch = hessian_trace(problem, None, num_samples=200, seed=1, operator=H)
    assert abs(dens.mean - evals.mean()) <= 4 * hutch.std_error / problem.dim * math.sqrt(200 / 5)
    # The density of a diagonal quadratic is exact (the Krylov space is exhausted).
    q = Quadratic([1.0, 2.0, 3.0, 4.0])
    d = spectral_density(q, torch.zeros(4, dtype=F64), sigma=0.05)
    assert d.mean == pytest.approx(2.5)
    peaks = d.grid[1:-1][(d.density[1:-1] > d.density[:-2]) & (d.density[1:-1] > d.density[2:])]
    np.testing.assert_allclose(peaks, [1.0, 2.0, 3.0, 4.0], atol=0.02)


def test_segment_smoothness_on_a_quadratic_is_constant():
    q = Quadratic([0.5, 2.0, 9.0], rotate=4)
    w = _t([1.0, -2.0, 0.5])
    g = q.grad(w)
    expected = float((q.matrix @ g).norm() / g.norm())
    steps = np.logspace(-3, 1, 9)
    seg = segment_smoothness(q, w, steps)
    np.testing.assert_allclose(seg.smoothness, expected, rtol=1e-10)
    assert seg.rayleigh == pytest.approx(float(g @ q.matrix @ g / (g @ g)))
    assert seg.grad_norm == pytest.approx(float(g.norm()))
    assert seg.loss == pytest.approx(q.loss(w))
    np.testing.assert_array_equal(seg.step_sizes, steps)


def test_segment_smoothness_on_the_quartic_grows_with_the_step():
    # f = w⁴/4 at w = 1: the ratio is (1 − (1 − s)³)/s = 3 − 3s + s². Short steps head into the flat
    # bottom (ratio < f''(1) = 3); steps past s = 1.5 overshoot into ever steeper walls.
    quartic = Quartic(dim=1)
    steps = np.array([1e-3, 0.5, 1.5, 2.0, 3.0, 5.0, 10.0])
    seg = segment_smoothness(quartic, _t([1.0]), steps)
    np.testing.assert_allclose(seg.smoothness, 3 - 3 * steps + steps**2, rtol=1e-12)
    assert np.all(np.diff(seg.smoothness[2:]) > 0) and seg.smoothness[-1] > 10 * seg.rayleigh
    assert seg.rayleigh == pytest.approx(3.0)
    sup = seg.segment_sup
    assert np.all(np.diff(sup) >= 0) and sup[2] == pytest.approx(seg.smoothness[0])
    unsorted = segment_smoothness(quartic, _t([1.0]), [3.0, 0.5, 10.0])
    np.testing.assert_allclose(unsorted.segment_sup, [seg.smoothness[4], seg.smoothness[1], seg.smoothness[6]])


def test_segment_smoothness_at_a_stationary_point_is_nan():
    seg = segment_smoothness(Quadratic([1.0, 2.0]), torch.zeros(2, dtype=F64), [0.1])
    assert seg.grad_norm == 0.0 and np.isnan(seg.smoothness).all()


# ---------------------------------------------------------------------------------------------------
# Argument errors name the bad value
# ---------------------------------------------------------------------------------------------------
BAD_CALLS = [
    (lambda q, w: sharpness(q, w, method="eigsh"), r"unknown method 'eigsh'.*'lanczos'"),
    (lambda q, w: top_eigenvalues(q, w, 1, which="middle"), r"unknown which 'middle'.*'both'"),
    (lambda q, w: top_eigenvalues(q, w, 0), r"k must be an integer in \[1, 3\], got 0"),
    (lambda q, w: top_eigenvalues(q, w, 4), r"k must be an integer in \[1, 3\], got 4"),
    (lambda q, w: sharpness(q, w, tol=0.0), r"tol must be a number in \(0.0, 1.0\), got 0.0"),
    (lambda q, w: sharpness(q, w, tol=-1e-3, method="lanczos"), r"tol .* got -0.001"),
    (lambda q, w: sharpness(q, w, method="lanczos", max_hvps=0), r"max_hvps must be an integer >= 1, got 0"),
    (lambda q, w: sharpness(q, w, method="lanczos", seed=-1), r"seed must be an integer >= 0, got -1"),
    (lambda q, w: sharpness(q, _t([1.0, math.nan, 0.0])), r"w must be finite"),
    (lambda q, w: sharpness(q, _t([1.0, 2.0])), r"w must have shape \(3,\), got \(2,\)"),
    (lambda q, w: sharpness(q, None), r"w must be a parameter vector"),
    (lambda q, w: sharpness(q, w, method="lanczos", v0=_t([1.0, 2.0])), r"v0 must have shape \(3,\).*got \(2,\)"),
    (lambda q, w: sharpness(q, w, method="lanczos", v0=torch.zeros(3, dtype=F64)), r"v0 must be nonzero"),
    (lambda q, w: sharpness(q, w, method="power", v0=_t([1.0, math.inf, 0.0])), r"v0 must be finite"),
    (lambda q, w: sharpness("quadratic", w), r"problem must be an eostutor Problem, got str"),
    (lambda q, w: sharpness(q, w, operator=HessianOperator(Quartic(dim=2), _t([1.0, 1.0]))),
     r"operator has dim=2 but the problem has dim=3"),
    (lambda q, w: sharpness(q, w, operator=q.matrix), r"operator must be a HessianOperator .* got Tensor"),
    (lambda q, w: lanczos(torch.zeros(3, 2)), r"square float matrix .* shape \(3, 2\)"),
    (lambda q, w: top_eigenvalues(q, w, 2, method="lanczos", block_size=0),
     r"block_size must be an integer in \[1, 3\], got 0"),
    (lambda q, w: lanczos(q.matrix, 2, block_size=4), r"block_size must be an integer in \[1, 3\], got 4"),
    (lambda q, w: hessian_trace(q, w, num_samples=1), r"num_samples must be an integer >= 2, got 1"),
    (lambda q, w: spectral_density(q, w, num_probes=0), r"num_probes must be an integer >= 1, got 0"),
    (lambda q, w: spectral_density(q, w, lanczos_steps=0), r"lanczos_steps must be an integer >= 1, got 0"),
    (lambda q, w: spectral_density(q, w, sigma=0.0), r"sigma must be a finite number > 0, got 0.0"),
    (lambda q, w: spectral_density(q, w, grid=[[0.0, 1.0]]), r"grid must be a 1-D array .* shape \(1, 2\)"),
    (lambda q, w: segment_smoothness(q, w, [0.1, -1.0]), r"step_sizes must be .* > 0, got \[0.1, -1.0\]"),
    (lambda q, w: segment_smoothness(q, w, []), r"step_sizes must be a non-empty"),
    (lambda q, w: HessianOperator(q, _t([math.inf, 0.0, 0.0])), r"w must be finite"),
    (lambda q, w: HessianOperator.from_matrix("graph"), r"square float matrix .* got str"),
]


@pytest.mark.parametrize("call, message", BAD_CALLS, ids=[m[:30] for _, m in BAD_CALLS])
def test_bad_arguments_raise_value_error(call, message):
    q = Quadratic([1.0, 2.0, 3.0])
    w = _t([1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match=message):
        call(q, w)
