"""Exercises of notebook 05: adaptive step sizes that are large on purpose."""

from eostutor.exercises import Exercise, choice, numeric, register

register(Exercise(
    id="05.min_product",
    prompt="With c = 1e-4 and δ = 0.5, what is the smallest value η_k·λ_max can take for an NLS step on a "
           "quadratic?",
    grader=numeric(1 - 1e-4, rtol=0.0, atol=2e-5, mistakes={
        1.0: "Very close, but the sufficient-decrease constant c costs a little: keep it in the formula.",
        2.0: "2 is where η·λ_max sits most of the time (the classical edge), not the guaranteed minimum.",
        0.5: "0.5 = δ is the backtracking factor; the bound combines δ with the test's tight point 2(1 − c).",
        2 * (1 - 1e-4): "2(1 − c) is where the test is tight; the accepted step can be a factor δ below it.",
    }),
    hints=("Along −g on a quadratic with curvature a = gᵀHg/‖g‖², the test f(w − ηg) ≤ f(w) − cη‖g‖² holds "
           "exactly for η ≤ 2(1 − c)/a.",
           "NLS doubles until the test fails, so the accepted η is at least δ times the tight point; then use "
           "λ_max ≥ a."),
    solution="On the quadratic model along −g, f(w − ηg) = f − η‖g‖² + ½η²·gᵀHg. The test f(w − ηg) ≤ f − "
             "cη‖g‖² holds iff η ≤ 2(1 − c)‖g‖²/gᵀHg. NLS accepts η and rejects η/δ, so η ≥ δ·2(1 − c)‖g‖²/gᵀHg, "
             "i.e. η·(gᵀHg/‖g‖²) ≥ 2δ(1 − c). Since λ_max ≥ gᵀHg/‖g‖² (Rayleigh quotient), η·λ_max ≥ "
             "2δ(1 − c) = 2·0.5·(1 − 10⁻⁴) = 1 − c = 0.9999. A nonmonotone reference R_k ≥ f_k only allows "
             "larger steps.",
))

register(Exercise(
    id="05.trial_losses",
    prompt="NLS starts from η_{k−1} = 4; the test passes at 4 and at 8 and fails at 16. How many trial losses "
           "f(w_k − ηg_k) did the step evaluate?",
    grader=numeric(3, rtol=0.0, atol=0.01, mistakes={
        2.0: "The failed trial at η = 16 was evaluated too: that is how NLS learns it must stop doubling.",
        4.0: "4 is what run.loss_evals[k] records: it also counts f(w_k), which is not a trial loss.",
        1.0: "NLS does not stop at the first step that passes: it keeps doubling while the test passes.",
    }),
    hints=("List the step sizes NLS tried, in order, and count them.",
           "It tries 4 (passes), then doubles while the test passes; the first failure ends the search."),
    solution="NLS evaluates f(w_k − 4g) (passes), doubles to 8 and evaluates f(w_k − 8g) (passes), doubles "
             "to 16 and evaluates f(w_k − 16g) (fails), then accepts η_k = 8 without re-evaluating it: 3 trial "
             "losses. The training loop records loss_evals = 1 + 3 = 4 (the extra one is f(w_k), computed with "
             "the gradient).",
))

register(Exercise(
    id="05.monotone",
    prompt="Which rule guarantees that the training loss never goes up: nls, ponls, ls, cdat or polyak?",
    grader=choice("ls", ["nls", "ponls", "ls", "cdat", "polyak"], feedback={
        "nls": "NLS compares against R_k = max(running mean, f_k) ≥ f_k, so it may accept a step that raises "
               "the loss.",
        "ponls": "PoNLS uses the same nonmonotone reference R_k as NLS.",
        "cdat": "CDAT has no test at all: it sets η·(gᵀHg/‖g‖²) = 2.06, just past the edge, on purpose.",
        "polyak": "The Polyak step has no test; in the notebook its loss went up at many steps.",
    }),
    hints=("Look for the rule whose acceptance test compares with f_k itself.",
           "In the notebook, which run had 0 loss increases?"),
    solution="LS, the monotone Armijo line search: its reference is R_k = f_k, so every accepted step has "
             "f(w_{k+1}) ≤ f_k − cη‖g_k‖² < f_k (unless ‖g_k‖ ≈ 0, where it skips the step). NLS and PoNLS "
             "test against R_k ≥ f_k and may go up; CDAT and Polyak have no test at all.",
))
