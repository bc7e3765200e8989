"""Step-size rules: the definitions of the quadratic threshold, the Flatland paper's methods and the classic
rules, checked on float64 toys.

Contexts are built by hand from a quadratic f(w) = w^T A w / 2 and a nonconvex 1-D double well, with
closures that count the loss_at and hvp calls (as the training loop does).
"""

import json
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from eostutor import stepsizes
from eostutor.stepsizes import (
    CDAT,
    NLS,
    RULES,
    AdGD,
    AdGDState,
    Armijo,
    CDATState,
    Constant,
    LineSearch,
    LineSearchState,
    NLSUpperBounded,
    Polyak,
    PoNLS,
    Rule,
    StepContext,
    StepInfo,
    Warmup,
    WarmupUB,
    line_search,
    make_rule,
    stability_threshold,
)

DT = torch.float64
NAMES = ["constant", "warmup", "warmup-ub", "ls", "nls", "nls-ub", "ponls", "nls-cap-only", "nls-once-only", "cdat",
         "polyak", "adgd"]
KWARGS = {"constant": {"eta": 0.05}}  # the only rule without defaults for every argument
K = 3  # num_classes given to the rules through the context


# --------------------------------------------------------------------------------------------------
# Toy functions and hand-built contexts
# --------------------------------------------------------------------------------------------------


class Quadratic:
    """f(w) = w^T A w / 2 in float64."""

    def __init__(self, A):
        self.A = torch.as_tensor(A, dtype=DT)

    @classmethod
    def diag(cls, eigenvalues):
        return cls(torch.diag(torch.tensor(eigenvalues, dtype=DT)))

    def loss(self, w):
        return 0.5 * float(w @ self.A @ w)

    def grad(self, w):
        return self.A @ w

    def hvp(self, w, v):
        return self.A @ v


class DoubleWell:
    """Nonconvex 1-D f(w) = w^4/4 - w^2/2 + 1 (minima f = 0.75 at w = +-1, negative curvature near 0)."""

    def loss(self, w):
        x = float(w[0])
        return x**4 / 4 - x**2 / 2 + 1.0

    def grad(self, w):
        return w**3 - w

    def hvp(self, w, v):
        return (3 * w**2 - 1) * v


def make_ctx(fn, w, step=0, num_classes=K):
    """A StepContext at w plus a dict counting the loss_at and hvp calls."""
    counts = {"loss_at": 0, "hvp": 0}
    w = w.detach().clone()
    g = fn.grad(w)

    def loss_at(eta):
        counts["loss_at"] += 1
        return fn.loss(w - eta * g)

    def hvp(v):
        counts["hvp"] += 1
        return fn.hvp(w, v)

    ctx = StepContext(
        step=step,
        params=w,
        loss=fn.loss(w),
        grad=g,
        grad_norm_sq=float(g @ g),
        loss_at=loss_at,
        hvp=hvp,
        num_classes=num_classes,
    )
    return ctx, counts


def drive(rule, fn, w0, num_steps, num_classes=K, state=None):
    """Run GD w <- w - eta g by hand; return a list of (ctx, info, counts, new_state) and the final w."""
    state = rule.init() if state is None else state
    w = w0.clone()
    records = []
    for k in range(num_steps):
        ctx, counts = make_ctx(fn, w, step=k, num_classes=num_classes)
        info, state = rule.update(ctx, state)
        records.append((ctx, info, counts, state))
        w = w - info.eta * ctx.grad
    return records, w


def rotated_quadratic(eigenvalues, seed):
    gen = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(len(eigenvalues), len(eigenvalues), generator=gen, dtype=DT))
    A = q @ torch.diag(torch.tensor(eigenvalues, dtype=DT)) @ q.T
    w0 = torch.randn(len(eigenvalues), generator=gen, dtype=DT)
    return Quadratic(0.5 * (A + A.T)), w0


QUAD = Quadratic.diag([0.5, 2.0, 10.0])
W_QUAD = torch.tensor([1.0, -1.0, 0.5], dtype=DT)
WELL = DoubleWell()
W_WELL = torch.tensor([0.3], dtype=DT)
TOYS = {"quadratic": (QUAD, W_QUAD), "double-well": (WELL, W_WELL)}


def holds(ctx, info, eta, c=1e-4):
    """The nonmonotone Armijo condition at eta with the reported reference, recomputed independently."""
    trial = ctx.loss_at(eta)
    return math.isfinite(trial) and trial <= info.reference - c * eta * ctx.grad_norm_sq


# --------------------------------------------------------------------------------------------------
# Contract, registry, reuse: every rule
# --------------------------------------------------------------------------------------------------


def test_registry_has_the_documented_names():
    assert list(RULES) == [*NAMES, "adam", "rmsprop"]  # the step-size rules, then the preconditioned ones
    for name, cls in RULES.items():
        assert issubclass(cls, Rule) and cls.name == name
        assert isinstance(cls.description, str) and cls.description and "\n" not in cls.description
        assert isinstance(cls.label, str) and cls.label
        assert cls.eta_param is None or cls.eta_param in cls(**KWARGS.get(name, {})).params(), name


def test_step_info_and_context_fields_match_the_contract():
    assert list(StepInfo.__dataclass_fields__)[:4] == ["eta", "backtracks", "trial_loss", "reference"]
    info = StepInfo(eta=0.1)
    assert info.backtracks == 0 and math.isnan(info.trial_loss) and math.isnan(info.reference)
    assert list(StepContext.__dataclass_fields__) == [
        "step", "params", "loss", "grad", "grad_norm_sq", "loss_at", "hvp", "num_classes",
    ]  # fmt: skip


def test_context_from_functions_matches_the_hand_built_one():
    ctx = StepContext.from_functions(QUAD.loss, QUAD.grad, W_QUAD, step=4, hvp=QUAD.hvp, num_classes=K)
    ref, _ = make_ctx(QUAD, W_QUAD, step=4)
    assert (ctx.step, ctx.loss, ctx.grad_norm_sq, ctx.num_classes) == (4, ref.loss, ref.grad_norm_sq, K)
    assert ctx.loss_at(0.3) == ref.loss_at(0.3)
    assert torch.equal(ctx.hvp(ctx.grad), ref.hvp(ref.grad))
    no_hvp = StepContext.from_functions(QUAD.loss, QUAD.grad, W_QUAD)
    with pytest.raises(ValueError, match="hvp"):
        no_hvp.hvp(W_QUAD)


@pytest.mark.parametrize("name", NAMES)
def test_make_rule_builds_every_registered_rule(name):
    rule = make_rule(name, **KWARGS.get(name, {}))
    assert isinstance(rule, RULES[name]) and rule.name == name


@pytest.mark.parametrize("name", NAMES)
def test_params_are_json_and_round_trip(name):
    rule = make_rule(name, **KWARGS.get(name, {}))
    params = json.loads(json.dumps(rule.params(), allow_nan=False))
    again = make_rule(name, **params)
    assert again == rule and repr(again) == repr(rule) and hash(again) == hash(rule)


@pytest.mark.parametrize("name", NAMES)
def test_repr_names_the_class_and_rebuilds_the_rule(name):
    rule = make_rule(name, **KWARGS.get(name, {}))
    text = repr(rule)
    assert text.startswith(type(rule).__name__ + "(")
    assert eval(text, vars(stepsizes)) == rule


def test_repr_examples():
    assert repr(NLS()) == "NLS(c=0.0001, delta=0.5, eta0=1.0)"
    grippo = "NLS(c=0.0001, delta=0.5, eta0=1.0, reference='grippo', memory=5)"
    assert repr(NLS(reference="grippo", memory=5)) == grippo
    assert repr(Constant(0.1)) == "Constant(eta=0.1)"
    assert repr(CDAT()) == "CDAT(sigma=2.06)"
    assert repr(Warmup(num_classes=10)) == "Warmup(num_classes=10)"


@pytest.mark.parametrize("toy", TOYS)
@pytest.mark.parametrize("name", NAMES)
def test_every_rule_steps_on_the_toys(name, toy):
    fn, w0 = TOYS[toy]
    rule = make_rule(name, **KWARGS.get(name, {}))
    records, _ = drive(rule, fn, w0, 30)
    for ctx, info, counts, state in records:
        assert isinstance(info, StepInfo) and isinstance(state, tuple)  # NamedTuple states
        assert math.isfinite(info.eta) and (info.eta > 0 or (info.eta == 0 and "skipped" in info.note))
        assert counts["hvp"] == (1 if rule.needs_hvp else 0)
        if math.isfinite(info.trial_loss):  # the loop may reuse it instead of evaluating again
            assert info.trial_loss == ctx.loss_at(info.eta)


def test_flags():
    assert {n for n in NAMES if RULES[n].needs_hvp} == {"cdat"}
    assert {n for n in NAMES if RULES[n].supports_momentum} == {"constant", "warmup", "warmup-ub"}


@pytest.mark.parametrize("name", NAMES)
def test_same_inputs_same_outputs_and_reusable_rules(name):
    rule = make_rule(name, **KWARGS.get(name, {}))
    fresh = rule.init()
    first, w_first = drive(rule, QUAD, W_QUAD, 25)
    second, w_second = drive(rule, QUAD, W_QUAD, 25, state=fresh)  # a state made before the first run
    assert [r[1] for r in first] == [r[1] for r in second]
    assert torch.equal(w_first, w_second)
    # a second rule object with the same hyperparameters behaves identically
    third, _ = drive(make_rule(name, **rule.params()), QUAD, W_QUAD, 25)
    assert [r[1] for r in first] == [r[1] for r in third]


@pytest.mark.parametrize("name", NAMES)
def test_update_leaves_context_and_old_state_untouched(name):
    rule = make_rule(name, **KWARGS.get(name, {}))
    records, _ = drive(rule, QUAD, W_QUAD, 3)
    ctx, counts = make_ctx(QUAD, W_QUAD, step=3)
    params, grad, state = ctx.params.clone(), ctx.grad.clone(), records[-1][3]
    snapshot = repr(state)
    rule.update(ctx, state)
    assert torch.equal(ctx.params, params) and torch.equal(ctx.grad, grad)
    assert repr(state) == snapshot


# --------------------------------------------------------------------------------------------------
# The shared line-search mechanism
# --------------------------------------------------------------------------------------------------


def test_line_search_doubling_policies():
    # phi(eta) = f(w - eta g) for f = w^2/2 at w = 1, g = 1: the condition holds for eta <= 2(1 - c)
    phi = lambda eta: 0.5 * (1 - eta) ** 2  # noqa: E731
    unlimited = line_search(phi, 1.0, 0.5, 0.125)
    assert (unlimited.eta, unlimited.backtracks, unlimited.accepted) == (1.0, 1, True)
    assert line_search(phi, 1.0, 0.5, 0.125, doubling="once").eta == 0.25
    assert line_search(phi, 1.0, 0.5, 0.125, doubling="none").eta == 0.125
    assert line_search(phi, 1.0, 0.5, 0.125, cap=0.6).eta == 0.5  # doubling only while eta / delta < cap
    assert line_search(phi, 1.0, 0.5, 0.125, eta_max=0.3).eta == 0.25
    backtracked = line_search(phi, 1.0, 0.5, 8.0)  # 8, 4, 2 fail; 1 holds
    assert (backtracked.eta, backtracked.backtracks, backtracked.trial_loss) == (1.0, 3, 0.0)
    with pytest.raises(ValueError, match="unknown doubling 'twice'"):
        line_search(phi, 1.0, 0.5, 1.0, doubling="twice")


def test_nls_is_equality_type_on_the_toys():
    for fn, w0 in TOYS.values():
        rule = NLS()
        for ctx, info, _, _ in drive(rule, fn, w0, 60)[0]:
            if info.note:
                continue
            assert holds(ctx, info, info.eta)
            doubled = info.eta / rule.delta
            assert doubled > rule.eta_max or not holds(ctx, info, doubled)


@settings(deadline=None, max_examples=50)
@given(
    exponents=st.lists(st.floats(-2.0, 2.0), min_size=1, max_size=5),
    seed=st.integers(0, 2**16),
    reference=st.sampled_from(["zhang-hager", "grippo", "monotone"]),
)
def test_nls_properties_on_random_quadratics(exponents, seed, reference):
    """Condition at eta, violated at eta/delta, and eta * (g^T A g / ||g||^2) >= 2 delta (1 - c)."""
    fn, w0 = rotated_quadratic([10.0**e for e in exponents], seed)
    rule = NLS(reference=reference, memory=4)
    bound = 2 * rule.delta * (1 - rule.c)
    for ctx, info, _, _ in drive(rule, fn, w0, 25)[0]:
        if info.note:  # skipped (converged) steps run no search
            assert "skipped" in info.note
            continue
        assert holds(ctx, info, info.eta)
        doubled = info.eta / rule.delta
        assert doubled > rule.eta_max or not holds(ctx, info, doubled)
        curvature = float(ctx.grad @ fn.A @ ctx.grad) / ctx.grad_norm_sq
        if doubled <= rule.eta_max:  # a trial step was rejected, so eta sits within delta of the edge
            assert info.eta * curvature >= bound * (1 - 1e-12)


@settings(deadline=None, max_examples=50)
@given(exponents=st.lists(st.floats(-2.0, 2.0), min_size=1, max_size=5), seed=st.integers(0, 2**16))
def test_armijo_decreases_the_loss_monotonically(exponents, seed):
    fn, w0 = rotated_quadratic([10.0**e for e in exponents], seed)
    rule = Armijo()
    records, w = drive(rule, fn, w0, 40)
    losses = [r[0].loss for r in records] + [fn.loss(w)]
    for (ctx, info, _, _), after in zip(records, losses[1:]):
        assert info.reference == ctx.loss
        if not info.note:
            assert after <= ctx.loss - rule.c * info.eta * ctx.grad_norm_sq
        assert after <= ctx.loss


def test_armijo_decreases_the_nonconvex_loss_and_nls_need_not():
    w0 = torch.tensor([2.0], dtype=DT)
    records, w = drive(Armijo(), WELL, w0, 50)
    losses = [r[0].loss for r in records] + [WELL.loss(w)]
    assert all(b < a for a, b in zip(losses, losses[1:]) if a > 0.75 + 1e-12)
    assert losses[-1] == pytest.approx(0.75, abs=1e-9)
    nls_records, _ = drive(NLS(), QUAD, W_QUAD, 40)
    nls_losses = [r[0].loss for r in nls_records]
    assert any(b > a for a, b in zip(nls_losses, nls_losses[1:]))  # nonmonotone by design


@pytest.mark.parametrize("eigenvalue", [0.3, 1.0, 4.0, 37.0])
def test_nls_along_an_eigenvector_keeps_eta_lambda_above_one_minus_c(eigenvalue):
    fn = Quadratic.diag([eigenvalue, 1e-3])
    rule = NLS()
    for _ctx, info, _, _ in drive(rule, fn, torch.tensor([3.0, 0.0], dtype=DT), 20)[0]:
        if not info.note:
            assert info.eta * eigenvalue >= 1 - rule.c


def test_zhang_hager_reference_is_the_running_mean():
    records, _ = drive(NLS(), QUAD, W_QUAD, 12)
    losses = []
    for k, (ctx, info, _, state) in enumerate(records):
        losses.append(ctx.loss)
        mean = sum(losses) / len(losses)
        assert state.q == k + 1
        assert state.c_ref == pytest.approx(mean, rel=1e-12)
        assert info.reference == pytest.approx(max(mean, ctx.loss), rel=1e-12)


def test_zhang_hager_with_xi_zero_is_monotone():
    for ctx, info, _, _ in drive(NLS(xi=0.0), QUAD, W_QUAD, 10)[0]:
        assert info.reference == ctx.loss


def test_grippo_reference_is_the_max_of_the_last_m_losses():
    records, _ = drive(NLS(reference="grippo", memory=3), QUAD, W_QUAD, 15)
    losses = []
    for ctx, info, _, state in records:
        losses.append(ctx.loss)
        assert info.reference == max(losses[-3:])
        assert state.history == tuple(losses[-3:])


def test_nls_ub_stays_below_the_cap_and_doubles_at_most_once():
    fn = Quadratic.diag([0.01, 0.02, 0.05])  # flat: NLS itself would take eta >> K
    w0 = torch.ones(3, dtype=DT)
    nls_etas = [r[1].eta for r in drive(NLS(), fn, w0, 60)[0]]
    assert max(nls_etas) > 4 * K
    rule = NLSUpperBounded()
    previous, etas = rule.eta0, []
    for _ctx, info, counts, state in drive(rule, fn, w0, 200)[0]:
        assert info.eta < K and state.eta < K
        assert info.eta <= previous / rule.delta  # one doubling at most
        if info.eta >= previous:  # no backtracking: the start and at most one doubled trial
            assert counts["loss_at"] <= 2
        previous = info.eta
        etas.append(info.eta)
    assert max(etas) == 2.0  # the largest eta0 * 2^j below K = 3: the cap is what binds


def test_nls_ub_cap_comes_from_num_classes_or_the_argument():
    ctx, _ = make_ctx(QUAD, W_QUAD, num_classes=None)
    with pytest.raises(ValueError, match="num_classes"):
        NLSUpperBounded().update(ctx, NLSUpperBounded().init())
    info, _ = NLSUpperBounded(cap=0.15).update(ctx, LineSearchState(eta=1.0))
    assert info.eta < 0.15
    # a start at or above the cap is cut below it before the search
    ctx, counts = make_ctx(Quadratic.diag([1e-4]), torch.ones(1, dtype=DT), num_classes=1)
    info, state = NLSUpperBounded().update(ctx, NLSUpperBounded().init())
    # 1 -> 0.5 before the search; doubling back to 1 = cap is not tried
    assert info.eta == 0.5 and state.eta == 0.5 and counts["loss_at"] == 1


def test_ponls_starts_from_the_polyak_guess():
    ctx = StepContext(
        step=0, params=torch.zeros(2, dtype=DT), loss=3.0, grad=torch.ones(2, dtype=DT), grad_norm_sq=2.0,
        loss_at=lambda eta: 0.0, hvp=lambda v: v,
    )  # fmt: skip
    info, _ = PoNLS().update(ctx, PoNLS().init())
    assert info.backtracks == 0 and info.eta == 3.0 / (0.1 * 2.0 + 1e-8)
    # no forward doubling: one trial when the guess is accepted
    fn = Quadratic.diag([0.5, 2.0, 10.0])
    for ctx, info, counts, _ in drive(PoNLS(), fn, W_QUAD, 30)[0]:
        guess = min(max(ctx.loss / (0.1 * ctx.grad_norm_sq + 1e-8), 1e-6), 1e4)
        assert info.eta == pytest.approx(guess * 0.5**info.backtracks, rel=1e-15)
        assert counts["loss_at"] == info.backtracks + 1
    # the guess is clipped to eta_max = 1e4
    ctx_small_grad = StepContext(
        step=0, params=torch.zeros(1, dtype=DT), loss=1.0, grad=torch.full((1,), 1e-6, dtype=DT),
        grad_norm_sq=1e-12, loss_at=lambda eta: 0.0, hvp=lambda v: v,
    )  # fmt: skip
    assert PoNLS().update(ctx_small_grad, PoNLS().init())[0].eta == 1e4


def test_nothing_accepted_gives_eta_min_after_100_trials():
    calls = []
    ctx = StepContext(
        step=0, params=torch.zeros(1, dtype=DT), loss=1.0, grad=torch.ones(1, dtype=DT), grad_norm_sq=1.0,
        loss_at=lambda eta: calls.append(eta) or math.inf, hvp=lambda v: v,
    )  # fmt: skip
    info, state = NLS().update(ctx, NLS().init())
    assert info.eta == 1e-6 and state.eta == 1e-6 and len(calls) == 100
    assert info.backtracks == 100 and math.isnan(info.trial_loss) and "no step accepted" in info.note
    assert calls[0] == 1.0 and calls[-1] == 0.5**99


def test_line_searches_skip_converged_steps():
    rule = NLS()
    _, state = rule.update(make_ctx(QUAD, W_QUAD)[0], rule.init())
    tiny = torch.tensor([1e-10, 0.0, 0.0], dtype=DT)
    ctx, counts = make_ctx(QUAD, tiny, step=1)  # ||g|| = 5e-11 < 1e-8 and f < 1e-8
    info, new_state = rule.update(ctx, state)
    assert counts["loss_at"] == 0 and "skipped" in info.note
    assert info.eta == 0.0 and new_state.eta == state.eta  # not taken; the next search starts from eta
    assert new_state.q == state.q + 1  # the reference still sees f_k, as in the authors' code
    # skip_tol = 0 disables the skip
    info, _ = NLS(skip_tol=0.0).update(ctx, state)
    assert not info.note and counts["loss_at"] > 0
    # a non-finite loss is skipped without touching the state
    bad = StepContext(
        step=0, params=W_QUAD, loss=math.nan, grad=W_QUAD, grad_norm_sq=1.0, loss_at=lambda eta: 0.0,
        hvp=lambda v: v,
    )  # fmt: skip
    info, same = rule.update(bad, state)
    assert same == state and info.eta == 0.0 and "non-finite" in info.note


# --------------------------------------------------------------------------------------------------
# CDAT, Polyak, AdGD
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(5))
def test_cdat_puts_eta_times_directional_curvature_at_sigma(seed):
    fn, w = rotated_quadratic([0.1, 1.0, 7.0, 30.0], seed)
    for sigma in (2.06, 1.0):
        ctx, counts = make_ctx(fn, w)
        info, _ = CDAT(sigma=sigma).update(ctx, CDAT().init())
        curvature = float(ctx.grad @ fn.A @ ctx.grad) / ctx.grad_norm_sq
        assert info.eta * curvature == pytest.approx(sigma, rel=1e-12)
        assert counts["hvp"] == 1 and counts["loss_at"] == 0


def test_cdat_uses_the_absolute_curvature():
    ctx, _ = make_ctx(WELL, torch.tensor([0.3], dtype=DT))  # f'' = 3 * 0.09 - 1 < 0
    info, _ = CDAT().update(ctx, CDAT().init())
    assert info.eta == pytest.approx(2.06 / abs(3 * 0.09 - 1), rel=1e-12)


@pytest.mark.parametrize("hvp_value", [0.0, math.nan, 1e-300])
def test_cdat_guard_when_curvature_vanishes(hvp_value):
    ctx = StepContext(
        step=0, params=torch.zeros(2, dtype=DT), loss=1.0, grad=torch.ones(2, dtype=DT), grad_norm_sq=2.0,
        loss_at=lambda eta: 0.0, hvp=lambda v: torch.full_like(v, hvp_value),
    )  # fmt: skip
    rule = CDAT(eta_max=1e4)
    info, state = rule.update(ctx, rule.init())
    assert info.eta == 1e4 and math.isfinite(info.eta) and "eta_max" in info.note
    assert state == CDATState(num_clipped=1)


def test_polyak_step():
    ctx, _ = make_ctx(QUAD, W_QUAD)
    assert Polyak().update(ctx, Polyak().init())[0].eta == ctx.loss / ctx.grad_norm_sq
    assert Polyak(f_star=0.25).update(ctx, Polyak().init())[0].eta == (ctx.loss - 0.25) / ctx.grad_norm_sq
    info, _ = Polyak(f_star=1e3).update(ctx, Polyak().init())
    assert info.eta == 0.0 and "f_star" in info.note
    flat = StepContext(
        step=0, params=torch.zeros(1, dtype=DT), loss=1.0, grad=torch.zeros(1, dtype=DT), grad_norm_sq=0.0,
        loss_at=lambda eta: 1.0, hvp=lambda v: v,
    )  # fmt: skip
    info, _ = Polyak(eta_max=50.0).update(flat, Polyak().init())
    assert info.eta == 50.0 and "eta_max" in info.note


def test_adgd_first_steps_by_hand():
    rule = AdGD(eta0=1e-3)
    fn, w0 = QUAD, W_QUAD
    records, _ = drive(rule, fn, w0, 3)
    (ctx0, info0, _, s0), (ctx1, info1, _, s1), (ctx2, info2, _, _) = records
    assert info0.eta == 1e-3 and s0.theta == math.inf
    assert torch.equal(s0.prev_params, w0) and torch.equal(s0.prev_grad, fn.grad(w0))
    # k = 1: theta_0 = +inf, so only the local estimate ||w1 - w0|| / (2 ||g1 - g0||) counts
    w1 = w0 - 1e-3 * fn.grad(w0)
    eta1 = float((w1 - w0).norm()) / (2 * float((fn.grad(w1) - fn.grad(w0)).norm()))
    assert info1.eta == pytest.approx(eta1, rel=1e-14) and s1.theta == pytest.approx(eta1 / 1e-3, rel=1e-14)
    # k = 2: min(sqrt(1 + theta_1) eta_1, ||w2 - w1|| / (2 ||g2 - g1||))
    w2 = w1 - info1.eta * fn.grad(w1)
    local = float((w2 - w1).norm()) / (2 * float((fn.grad(w2) - fn.grad(w1)).norm()))
    assert info2.eta == pytest.approx(min(math.sqrt(1 + eta1 / 1e-3) * eta1, local), rel=1e-12)
    assert AdGD().init() == AdGDState(eta=1e-6, theta=math.inf)


def test_adgd_state_holds_clones():
    rule = AdGD()
    ctx, _ = make_ctx(QUAD, W_QUAD)
    _, state = rule.update(ctx, rule.init())
    ctx.params.add_(1.0)
    ctx.grad.add_(1.0)
    assert torch.equal(state.prev_params, W_QUAD) and torch.equal(state.prev_grad, QUAD.grad(W_QUAD))


@pytest.mark.parametrize("seed", range(3))
def test_adgd_converges_on_a_convex_quadratic(seed):
    fn, w0 = rotated_quadratic([1.0, 3.0, 10.0], seed)
    records, w = drive(AdGD(), fn, w0, 500)
    assert fn.loss(w) < 1e-6 * fn.loss(w0)
    assert all(not r[1].note for r in records)


def test_adgd_clips_when_the_gradient_does_not_change():
    linear_grad = Quadratic.diag([0.0, 0.0])  # g = 0: no curvature between the points
    records, _ = drive(AdGD(eta_max=7.0), linear_grad, torch.ones(2, dtype=DT), 3)
    assert [r[1].eta for r in records] == [1e-6, 7.0, 7.0]
    assert "eta_max" in records[1][1].note


# --------------------------------------------------------------------------------------------------
# Warmup schedules
# --------------------------------------------------------------------------------------------------


def test_paper_warmup_schedule_for_ten_classes():
    rule = Warmup.paper(num_classes=10)
    etas = [rule.schedule(k) for k in range(60)]
    # raised before every step, the first included (as in the authors' code): the first step is 0.0125
    assert etas[0] == 0.0125 and etas[1] == pytest.approx(0.015625, rel=1e-15)
    # geometric growth until 0.01 * 1.25**(k + 1) reaches 1.25 K = 12.5 at k + 1 = 32
    for k in range(31):
        assert etas[k] == pytest.approx(0.01 * 1.25 ** (k + 1), rel=1e-14) and etas[k] < 12.5
    assert etas[31:33] == [12.5, 12.5]  # held 2 steps
    assert etas[33:] == [9.0] * 27  # then 0.9 K
    # same schedule from the context's num_classes, through update
    rule_ctx = make_rule("warmup")
    for k in (0, 5, 31, 32, 33, 59):
        ctx, _ = make_ctx(QUAD, W_QUAD, step=k, num_classes=10)
        assert rule_ctx.update(ctx, rule_ctx.init())[0].eta == etas[k]


@pytest.mark.parametrize("num_classes", [2, 3, 10, 100])
def test_warmup_ub_never_exceeds_0_9_k(num_classes):
    rule = Warmup.paper_ub(num_classes)
    assert isinstance(rule, WarmupUB) and rule.name == "warmup-ub"
    etas = [rule.schedule(k) for k in range(300)]
    assert max(etas) == pytest.approx(0.9 * num_classes) and max(etas) < num_classes
    assert etas[-1] == pytest.approx(0.9 * num_classes)
    assert all(b >= a for a, b in zip(etas, etas[1:]))  # warms up, then holds


def test_warmup_needs_k_unless_levels_are_given():
    ctx, _ = make_ctx(QUAD, W_QUAD, num_classes=None)
    for rule in (Warmup(), WarmupUB()):
        with pytest.raises(ValueError, match="num_classes"):
            rule.update(ctx, rule.init())
    explicit = Warmup(eta0=0.25, factor=2.0, peak=1.0, hold=1, final=0.5)
    assert [explicit.schedule(k) for k in range(5)] == [0.5, 1.0, 0.5, 0.5, 0.5]
    assert WarmupUB(peak=2.0).schedule(50) == 2.0
    assert Warmup(num_classes=10, cap=5.0).schedule(33) == 5.0


# --------------------------------------------------------------------------------------------------
# Stability threshold
# --------------------------------------------------------------------------------------------------


def test_stability_threshold():
    assert stability_threshold(0.1) == 20.0
    assert stability_threshold(0.1, momentum=0.9) == pytest.approx(2 * 1.9 / 0.1)
    assert stability_threshold(0.1, momentum=0.9, nesterov=True) == pytest.approx(3.8 / (2.8 * 0.1))
    assert stability_threshold(0.5, momentum=0.0, nesterov=True) == 4.0
    # the threshold is the real one: GD on a 1-D quadratic with lambda just below / above it
    for lam, stable in ((19.9, True), (20.1, False)):
        w = 1.0
        for _ in range(2000):
            w -= 0.1 * lam * w
        assert (abs(w) < 1) is stable


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"eta": 0.0}, "eta must be a finite number > 0, got 0.0"),
        ({"eta": math.inf}, "eta must be a finite number > 0, got inf"),
        ({"eta": 0.1, "momentum": 1.0}, r"momentum must be a number in \[0.0, 1.0\), got 1.0"),
        ({"eta": 0.1, "momentum": -0.1}, "got -0.1"),
    ],
)
def test_stability_threshold_validates(kwargs, match):
    with pytest.raises(ValueError, match=match):
        stability_threshold(**kwargs)


# --------------------------------------------------------------------------------------------------
# Argument validation
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "factory, kwargs, match",
    [
        (Constant, {"eta": -1.0}, "eta must be a finite number > 0, got -1.0"),
        (Constant, {"eta": math.nan}, "eta must be a finite number > 0, got nan"),
        (Constant, {"eta": "big"}, "eta must be a finite number > 0, got 'big'"),
        (NLS, {"c": 0.0}, r"c must be a number in \(0.0, 1.0\), got 0.0"),
        (NLS, {"c": 1.5}, "c must be .* got 1.5"),
        (NLS, {"delta": 1.0}, r"delta must be a number in \(0.0, 1.0\), got 1.0"),
        (NLS, {"delta": 0.0}, "delta must be .* got 0.0"),
        (NLS, {"eta0": -2.0}, "eta0 must be a finite number > 0, got -2.0"),
        (NLS, {"reference": "foo"}, "unknown reference 'foo'; choose one of: 'zhang-hager', 'grippo'"),
        (NLS, {"memory": 0}, "memory must be an integer >= 1, got 0"),
        (NLS, {"xi": 1.5}, "xi must be .* got 1.5"),
        (NLS, {"eta_max": 1e-7}, "eta_max must be > eta_min"),
        (NLS, {"max_trials": 0}, "max_trials must be an integer >= 1, got 0"),
        (Armijo, {"c": -0.1}, "c must be .* got -0.1"),
        (PoNLS, {"delta": 2.0}, "delta must be .* got 2.0"),
        (PoNLS, {"polyak_scale": 0.0}, "polyak_scale must be a finite number > 0, got 0.0"),
        (NLSUpperBounded, {"cap": 0.0}, "cap must be a finite number > 0, got 0.0"),
        (NLSUpperBounded, {"cap": -3.0}, "cap must be a finite number > 0, got -3.0"),
        (NLSUpperBounded, {"cap": 1e-7}, "cap must be > eta_min"),
        (LineSearch, {"doubling": "twice"}, "unknown doubling 'twice'"),
        (CDAT, {"sigma": 0.0}, "sigma must be a finite number > 0, got 0.0"),
        (CDAT, {"sigma": -2.06}, "sigma must be a finite number > 0, got -2.06"),
        (CDAT, {"eta_max": math.inf}, "eta_max must be a finite number > 0, got inf"),
        (Polyak, {"f_star": math.inf}, "f_star must be a finite number, got inf"),
        (Polyak, {"eta_max": 0}, "eta_max must be a finite number > 0, got 0"),
        (AdGD, {"eta0": 0.0}, "eta0 must be a finite number > 0, got 0.0"),
        (Warmup, {"eta0": 0.0}, "eta0 must be a finite number > 0, got 0.0"),
        (Warmup, {"factor": 1.0}, "factor must be a finite number > 1, got 1.0"),
        (Warmup, {"hold": -1}, "hold must be an integer >= 0, got -1"),
        (Warmup, {"hold": 1.5}, "hold must be an integer, got 1.5"),
        (Warmup, {"peak": -1.0}, "peak must be a finite number > 0, got -1.0"),
        (WarmupUB, {"num_classes": 0}, "num_classes must be an integer >= 1, got 0"),
    ],
)
def test_invalid_arguments_raise_value_error_naming_the_value(factory, kwargs, match):
    with pytest.raises(ValueError, match=match):
        factory(**kwargs)


def test_make_rule_errors():
    with pytest.raises(ValueError, match="unknown rule 'foo'; choose one of: 'constant', .*'nls-ub'.*'adgd'"):
        make_rule("foo")
    expected = "unknown argument.* for rule 'nls': foo, bar; valid arguments: c, delta"
    with pytest.raises(ValueError, match=expected):
        make_rule("nls", foo=1, bar=2)
    with pytest.raises(ValueError, match="rule 'constant' needs argument.*: eta"):
        make_rule("constant")
    with pytest.raises(ValueError, match="c must be"):
        make_rule("ls", c=2.0)


# --------------------------------------------------------------------------------------------------
# The registry: one place per rule
# --------------------------------------------------------------------------------------------------


def test_a_registered_rule_is_available_everywhere_with_no_other_file_touched():
    import eostutor as eos
    from eostutor.widgets import StepSizeExplorer

    @stepsizes.register
    class HalfConstant(stepsizes.Constant):
        name = "half"
        label = "GD (half)"

    try:
        assert "half" in stepsizes.RULES
        run = eos.train(eos.Quadratic([1.0, 10.0]), eos.make_rule("half", eta=0.1), 50)
        assert run.label == "GD (half)" and run.settings.rule == "half" and run.final_loss < 1e-3
        ex = StepSizeExplorer("quadratic")
        try:
            assert "half" in ex.controls["rule"].options
            ex.controls["rule"].value = "half"
            assert ex.run.settings.rule == "half" and ex.run.label == "GD (half)"
        finally:
            ex.close()
    finally:
        del stepsizes.RULES["half"]


def test_register_refuses_what_would_break_the_registry():
    with pytest.raises(ValueError, match="own name"):
        @stepsizes.register
        class NoName(stepsizes.Constant):
            label = "x"
    with pytest.raises(ValueError, match="taken"):
        @stepsizes.register
        class Clash(stepsizes.Constant):
            name = "nls"
    with pytest.raises(ValueError, match="eta_param"):
        @stepsizes.register
        class BadSlider(stepsizes.Constant):
            name = "bad-slider"
            eta_param = "gamma"
    with pytest.raises(ValueError, match="subclass"):
        stepsizes.register(int)
    assert "bad-slider" not in RULES and "Clash" not in [c.__name__ for c in RULES.values()]


def test_eta_sets_each_rules_own_parameter():
    assert make_rule("constant", eta=0.3).eta == 0.3
    assert make_rule("nls", eta=0.3).eta0 == 0.3 and make_rule("ls", eta=0.3).eta0 == 0.3
    assert make_rule("nls-ub", eta=4.0).cap == 4.0 and make_rule("nls-cap-only", eta=4.0).cap == 4.0
    assert make_rule("warmup-ub", eta=2.0).peak == 2.0 and make_rule("adgd", eta=1e-3).eta0 == 1e-3
    for name in ("ponls", "cdat", "polyak"):
        with pytest.raises(ValueError, match="chooses every step size itself"):
            make_rule(name, eta=0.1)
    with pytest.raises(ValueError, match="either eta or eta0"):
        make_rule("nls", eta=0.1, eta0=0.2)
    assert [stepsizes.eta_symbol(n) for n in ("constant", "nls", "nls-ub", "cdat")] == ["η", "η₀", "η cap", ""]


def test_labels_come_from_the_rule_classes():
    assert stepsizes.rule_label(Constant(0.5)) == "GD, η = 0.5"
    assert stepsizes.rule_label(NLS()) == "NLS" and stepsizes.rule_label(NLS(eta0=0.3)) == "NLS, η₀ = 0.3"
    assert stepsizes.rule_label(NLSUpperBounded(cap=5)) == "NLS-ub, cap = 5"
    assert stepsizes.rule_label(make_rule("nls-once-only")) == "NLS (one doubling only)"
    assert stepsizes.rule_label(Warmup.paper(10)) == "GD-warmup, K = 10"


def test_rules_that_need_k_are_offered_only_on_classifiers():
    assert "warmup" not in stepsizes.rule_names(None) and "warmup" in stepsizes.rule_names(10)
    assert RULES["nls-ub"].default_eta(10) == 10.0 and RULES["nls-ub"].default_eta(None) is None
    assert RULES["warmup"].default_eta(10) == 12.5 and RULES["nls"].default_eta() == 1.0
    assert RULES["constant"].default_eta() is None and RULES["cdat"].default_eta(10) is None


def test_named_line_searches_fix_their_policy_and_refuse_it_as_an_argument():
    assert NLSUpperBounded().doubling == "once" and make_rule("nls-cap-only").doubling == "unlimited"
    assert "doubling" not in NLS().params()
    with pytest.raises(ValueError, match="doubling"):
        NLS(doubling="once")
