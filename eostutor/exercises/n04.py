"""Exercises of notebook 04: the Edge of Stability in a neural network."""

import math

from eostutor.exercises import Exercise, numeric, register

register(Exercise(
    id="04.edge_eta4",
    prompt="Plain GD with η = 4 on the reference network, long enough to reach the edge. Around which value "
           "does λ_max settle?",
    grader=numeric(0.5, rtol=0.05, mistakes={
        1.0: "1.0 = 2/η was the edge for η = 2. The edge moves when η changes.",
        2.0: "2.0 is where η·λ_max settles, not λ_max itself: divide by η.",
        0.25: "0.25 = 1/η is where oscillation starts on a quadratic, not the stability edge.",
        8.0: "λ_max settles at 2/η, not 2·η.",
    }),
    hints=("At the Edge of Stability, η·λ_max ≈ 2.",
           "Solve η·λ_max = 2 for λ_max with η = 4."),
    solution="At the Edge of Stability the sharpness hovers at the quadratic stability threshold 2/η, i.e. "
             "η·λ_max ≈ 2. With η = 4: λ_max ≈ 2/4 = 0.5 (in practice a few percent above, e.g. 0.51). The "
             "reference network starts at λ_max ≈ 0.45 < 0.5, so it sharpens a little and reaches the edge "
             "quickly; the small network of section 2 started above 0.5 and was pushed *down* to it.",
))

register(Exercise(
    id="04.momentum",
    prompt="Heavy ball with η = 3.6 and β = 0.8 on a network that sharpens progressively. Around which value "
           "of λ_max will it hover?",
    grader=numeric(1.0, rtol=0.03, mistakes={
        2 / 3.6: "2/η ≈ 0.556 is plain GD's edge. With momentum the threshold is larger.",
        2 * 0.8 / 3.6: "Close in form, but the factor is (1 + β), not β.",
        (2 + 2 * 0.8) / ((1 + 2 * 0.8) * 3.6): "That is Nesterov's threshold; this is heavy ball.",
    }),
    hints=("On a quadratic, heavy ball is stable iff η·λ < 2(1 + β).",
           "Compute 2(1 + β)/η with η = 3.6, β = 0.8 (or call eos.stability_threshold(3.6, momentum=0.8))."),
    solution="The sharpness settles at the stability threshold of the optimizer actually used. For heavy "
             "ball on a quadratic that is η·λ < 2(1 + β), so λ_max hovers near 2(1 + β)/η = 2·1.8/3.6 = 1.0 "
             "(eos.stability_threshold(3.6, momentum=0.8) returns 1.0), well above plain GD's 2/η ≈ 0.56.",
))

register(Exercise(
    id="04.power_iterations",
    prompt="At an Edge-of-Stability point λ₂/λ₁ = 0.99. Roughly how many power iterations shrink the error "
           "of the top eigenvector by a factor 1,000?",
    grader=numeric(math.log(1e-3) / math.log(0.99), rtol=0.10, mistakes={
        3.0: "3 would be the count for a ratio of 0.1. Here the ratio is 0.99: each step gains only 1%.",
        1000.0: "Each step shrinks the error by a factor 0.99, which compounds: fewer than 1,000 are needed.",
        100.0: "After 100 steps the error has only shrunk by 0.99¹⁰⁰ ≈ 0.37.",
    }),
    hints=("The error after n power iterations is about (λ₂/λ₁)ⁿ times the initial error.",
           "Solve 0.99ⁿ = 10⁻³ for n with logarithms."),
    solution="Power iteration multiplies the component along the second eigenvector by λ₂/λ₁ relative to "
             "the top one at each step, so after n steps the error is ~(λ₂/λ₁)ⁿ. Solving 0.99ⁿ = 10⁻³ gives "
             "n = ln(10⁻³)/ln(0.99) ≈ 6.91/0.01005 ≈ 687 iterations, i.e. ~690 Hessian-vector products. "
             "Lanczos needs a few dozen at the same point: it uses the whole Krylov subspace, and its "
             "convergence depends on the gap relative to the spread of the spectrum, roughly through its "
             "square root.",
))
