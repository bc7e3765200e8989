"""Exercises of notebook 01: step size on a quadratic."""

from eostutor.exercises import Exercise, choice, numeric, register

register(Exercise(
    id="01.threshold",
    prompt="f(w) = ½ wᵀAw with eigenvalues 1 and 10. Above which step size η does GD diverge?",
    grader=numeric(0.2, mistakes={0.1: "0.1 = 1/λ_max is where oscillation starts, not divergence.",
                                  2.0: "2/λ for which eigenvalue? The sharpest direction breaks first."}),
    hints=("Each eigen-direction is multiplied by (1 − ηλ) per step.",
           "|1 − ηλ| < 1 must hold for every λ, in particular for λ_max = 10."),
    solution="The component along an eigenvector of eigenvalue λ is multiplied by (1 − ηλ) each step. "
             "It shrinks iff |1 − ηλ| < 1, i.e. 0 < η < 2/λ. The binding constraint is λ_max = 10, so GD "
             "converges for η < 2/10 = 0.2 and diverges for η > 0.2.",
))

register(Exercise(
    id="01.monotone",
    prompt="Same quadratic (eigenvalues 1 and 10). Up to which step size η does every coordinate (in the "
           "eigenbasis) approach 0 without ever changing sign, i.e. without overshooting the minimum?",
    grader=numeric(0.1, mistakes={
        0.2: "0.2 = 2/λ_max is where GD starts to diverge; overshooting starts earlier.",
        1.0: "1/λ for the flattest direction: the sharpest direction overshoots first.",
        2.0: "That is 2/λ_min; both directions must be considered, and the sharpest one matters.",
    }),
    hints=("A coordinate keeps its sign when the factor (1 − ηλ) is positive.",
           "1 − ηλ ≥ 0 must hold for both λ = 1 and λ = 10."),
    solution="Each eigen-coordinate is multiplied by (1 − ηλ). It keeps its sign iff 1 − ηλ ≥ 0, i.e. "
             "η ≤ 1/λ. The sharpest direction (λ = 10) gives the binding bound η ≤ 1/10 = 0.1: the classical "
             "'safe' step 1/L. For 0.1 < η < 0.2 the w₂-coordinate flips sign every step but still shrinks "
             "(|1 − 10η| < 1): oscillation, not divergence.",
))

register(Exercise(
    id="01.loss_curve",
    prompt="GD with η = 0.15 on the same quadratic: the iterates zig-zag across the valley. What does the "
           "loss do? (a) it decreases at every step; (b) it goes up and down but decreases over the long "
           "run; (c) it grows: the run diverges.",
    grader=choice("a", ["a", "b", "c"], feedback={
        "b": "Zig-zagging iterates do not imply a zig-zagging loss. Write the loss in the eigenbasis: "
             "f = ½ Σ λᵢ cᵢ². What happens to each cᵢ² in one step?",
        "c": "Compare η = 0.15 with the divergence threshold 2/λ_max.",
    }),
    hints=("In the eigenbasis f(w) = ½ Σ λᵢ cᵢ², and one step multiplies cᵢ by (1 − ηλᵢ).",
           "With η = 0.15: |1 − 0.15| = 0.85 and |1 − 1.5| = 0.5. Both squares are below 1."),
    solution="(a). One GD step multiplies each eigen-coordinate cᵢ by (1 − ηλᵢ), so each term λᵢcᵢ²/2 of the "
             "loss is multiplied by (1 − ηλᵢ)² < 1 whenever η < 2/λ_max. Every term shrinks, so the loss "
             "decreases at every step, even though c₂ changes sign every step (1 − 0.15·10 = −0.5). On a "
             "quadratic the loss goes up only if GD diverges; on a network it can go up and still converge "
             "(notebooks 03–05).",
))

register(Exercise(
    id="01.momentum",
    prompt="Heavy-ball momentum with β = 0.9 on the same quadratic (λ_max = 10). Above which step size η "
           "does it diverge?",
    grader=numeric(0.38, mistakes={
        0.2: "0.2 is plain GD's threshold 2/λ_max; momentum changes it.",
        0.1357: "That is Nesterov's threshold (2 + 2β)/((1 + 2β)λ_max); heavy ball's is different.",
        0.02: "Momentum does not shrink the stable range by (1 − β): for heavy ball it grows.",
        3.8: "Divide by λ_max = 10: the condition is on the product η·λ_max.",
    }),
    hints=("With momentum the condition on the product η·λ_max is no longer < 2: it depends on β.",
           "Heavy ball: stable iff η·λ_max < 2(1 + β) (check it with eos.stability_threshold)."),
    solution="For heavy ball, w ← w − η m with m ← βm + ∇f, GD on a quadratic is stable iff "
             "0 < η·λ < 2(1 + β) for every eigenvalue λ. With β = 0.9 and λ_max = 10: η < 2·1.9/10 = 0.38. "
             "(Nesterov's momentum is stable iff η·λ < (2 + 2β)/(1 + 2β), which gives η < 0.136 here.) "
             "eos.stability_threshold(0.38, momentum=0.9) returns 10.0 = λ_max: the edge.",
))
