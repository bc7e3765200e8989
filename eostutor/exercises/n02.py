"""Exercises of notebook 02: local smoothness and large steps."""

from eostutor.exercises import Exercise, choice, numeric, register

register(Exercise(
    id="02.quartic_edge",
    prompt="GD with η = 0.5 on f(x) = x⁴/4, started at x₀ > 0. What is the largest x₀ from which GD does "
           "not diverge?",
    grader=numeric(2.0, mistakes={
        1.1547: "That is where the local sharpness f''(x₀) = 3x₀² equals 2/η. The start is not the whole "
                "story: what matters is how far one step moves, x₁ = x₀(1 − ηx₀²).",
        1.4142: "That is where x₁ = x₀(1 − ηx₀²) changes sign (the first overshoot). Overshooting is not "
                "diverging.",
    }),
    hints=("One step maps x to x(1 − ηx²). When is |x₁| < |x₀|?",
           "|1 − ηx₀²| < 1 ⇔ 0 < ηx₀² < 2. If |x₁| < |x₀|, the next factor is even closer to 1."),
    solution="The gradient is x³, so one step maps x to x(1 − ηx²). |x₁| < |x₀| iff |1 − ηx₀²| < 1, i.e. "
             "x₀² < 2/η = 4, x₀ < 2. Once |x| has decreased, |1 − ηx²| is smaller still, so every later step "
             "shrinks |x| too: GD converges from every x₀ < 2 and diverges from every x₀ > 2 (at x₀ = 2 exactly "
             "it bounces between ±2 forever). Note that the local sharpness at the start, 3x₀², exceeds 2/η "
             "already for x₀ > 1.155: the local curvature at one point does not decide stability, the "
             "behaviour along the whole step does.",
))

register(Exercise(
    id="02.holder_cycle",
    prompt="GD with η = 0.1 on f(x) = |x|^1.5 / 1.5 (ν = 0.5) from x₀ = 1 ends up jumping between +x* and "
           "−x*. What is x*?",
    grader=numeric(0.0025, rtol=0.05, mistakes={
        0.0: "The loss does not reach zero: look at the last iterates of the run.",
        0.05: "η/2 = 0.05 is x*^ν, not x*. Solve x*^0.5 = η/2.",
        0.1: "Write the two-cycle condition: x − η x^ν = −x.",
    }),
    hints=("A two-cycle ±x* means one step maps x* to −x*: x* − η·(x*)^ν = −x*.",
           "So 2x* = η (x*)^ν, i.e. x*^(1−ν) = η/2."),
    solution="The gradient is sign(x)|x|^ν. A two-cycle ±x* needs x* − η(x*)^ν = −x*, i.e. 2x* = η(x*)^ν, so "
             "x* = (η/2)^(1/(1−ν)). With ν = 0.5 and η = 0.1: x* = 0.05² = 0.0025. The curvature ν|x|^(ν−1) "
             "blows up at the minimum, so every fixed η eventually becomes too large there: fixed-step GD "
             "cannot converge on a function whose gradient is only Hölder continuous.",
))

register(Exercise(
    id="02.large",
    prompt="At an iterate w the segment smoothness is l(w, η) = 5 for the step η = 0.3. In the paper's terms "
           "this step is: (a) small: η < 1/l(w, η); (b) large, but still within the local descent-lemma "
           "guarantee: 1/l ≤ η ≤ 2/l; (c) large and beyond the guarantee: η > 2/l.",
    grader=choice("b", ["a", "b", "c"], feedback={
        "a": "Compute the product η·l(w, η) and compare it with 1.",
        "c": "Compute the product η·l(w, η) and compare it with 2.",
    }),
    hints=("Everything is decided by the product η·l(w, η).",
           "Small: η·l < 1. Large: η·l ≥ 1. Beyond the descent guarantee: η·l > 2."),
    solution="(b). η·l(w, η) = 0.3·5 = 1.5: at least 1, so the step is large (it is at least 1/l), but not "
             "above 2, so the local descent lemma f(w − ηg) ≤ f(w) − η(1 − ηl/2)‖g‖² still guarantees a "
             "decrease. The paper calls a step-size sequence large when η_k ≥ 1/l(w_k, η_k) at every step "
             "and η_k > 2/l(w_k, η_k) at least once in every window of P steps: then the loss is "
             "non-monotone by design.",
))
