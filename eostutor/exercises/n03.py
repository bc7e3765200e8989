"""Exercises of notebook 03: the Edge of Stability on toy problems."""

from eostutor.exercises import Exercise, numeric, register

register(Exercise(
    id="03.valley_sharpness",
    prompt="Minimalist example f(x, y) = ¼(x²y² − 1)². What is the sharpness at the minimum (x, y) = (2, 0.5)?",
    grader=numeric(8.5, mistakes={
        4.0: "4 is the sharpness at the flattest minimum (1, 1); this minimum is elsewhere on the valley.",
        4.25: "That is x² + y²; the formula on the valley has a factor in front.",
        0.0: "The loss is flat along the valley (one eigenvalue is 0), but the sharpness is the largest one.",
    }),
    hints=("On the valley x²y² = 1 the Hessian has eigenvalues 0 (along the valley) and one positive value.",
           "The positive eigenvalue on the valley is 2(x² + y²)."),
    solution="At a minimum u = x²y² − 1 = 0, so the Hessian is H = [[2x²y⁴, 2x³y³], [2x³y³, 2x⁴y²]] = 2vvᵀ "
             "with v = (xy², x²y). Its eigenvalues are 0 (along the valley) and 2‖v‖² = 2x²y²(x² + y²) = "
             "2(x² + y²). At (2, 0.5): 2(4 + 0.25) = 8.5. eos.Minimalist.valley_sharpness(2.0) returns the same.",
))

register(Exercise(
    id="03.drift_end",
    prompt="GD with η = 0.4 on the minimalist example, started near the sharp minimum (2, 0.5). Predict the "
           "sharpness of the minimum where it ends (two significant digits).",
    grader=numeric(5.0, rtol=0.03, mistakes={
        8.5: "That is where it started. Is a minimum with sharpness 8.5 stable for η = 0.4?",
        4.0: "4 is the flattest minimum. GD stops drifting as soon as the minimum is stable, before it "
             "reaches the flattest one.",
        2.5: "That is 1/η. The stability edge is at 2/η.",
    }),
    hints=("A minimum is stable for GD only if its sharpness is below 2/η.",
           "GD drifts along the valley, towards flatter minima, until the first stable one: sharpness ≈ 2/η."),
    solution="The start has sharpness 8.5 > 2/η = 5, so GD cannot settle there: it oscillates across the "
             "valley, and the oscillation pushes it along the valley towards flatter minima. It stops as soon "
             "as the sharpness drops just below 2/η = 5: the run ends at a minimum with sharpness ≈ 4.96 "
             "(about 0.99·2/η).",
))

register(Exercise(
    id="03.no_stable_min",
    prompt="Above which step size η is no minimum of the minimalist example stable for GD?",
    grader=numeric(0.5, mistakes={
        1.0: "2/λ with λ = 2? The smallest sharpness on the valley is 2(x² + y²) with x²y² = 1.",
        0.25: "That is 1/4: the smallest sharpness is 4, so the edge is 2/4.",
        0.235: "That is where GD started to drift from (2, 0.5): 2/8.5. The question is about every minimum.",
    }),
    hints=("A minimum with sharpness λ is stable iff η < 2/λ. Which minimum is the easiest to keep stable?",
           "The smallest sharpness on the valley is 2(x² + y²) with x²y² = 1: at |x| = |y| = 1 it is 4."),
    solution="On the valley x²y² = 1 the sharpness is 2(x² + y²) ≥ 2·2|xy| = 4, with equality at "
             "|x| = |y| = 1. A minimum is linearly stable iff η < 2/λ, so some minimum is stable iff "
             "η < 2/4 = 1/2. For η > 1/2 no minimum is stable; the notebook checks numerically that GD then "
             "never converges: it settles on a period-2 orbit (0.5 < η ≤ 0.62 from our start), a period-4 "
             "orbit (0.63–0.65), a chaotic orbit (about 0.66–0.68) or diverges (η ≥ 0.69 from our start).",
))
