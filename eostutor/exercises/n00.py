"""Exercises of notebook 00: start here (they show how the self-checks work)."""

from eostutor.exercises import Exercise, choice, numeric, register

register(Exercise(
    id="00.edge",
    prompt="The reference run uses a constant step size η = 2. On a quadratic, above which sharpness λ_max "
           "would gradient descent with this η be unstable?",
    grader=numeric(1.0, mistakes={
        2.0: "2 is the edge for the product η·λ_max; the question asks for λ_max itself.",
        4.0: "That is 2·η; the threshold divides by η.",
        0.5: "That is 1/η, where the top direction starts to overshoot, not where it becomes unstable.",
    }),
    hints=("Gradient descent multiplies the component along the top eigenvector by (1 − ηλ_max) every step.",
           "Stable means |1 − ηλ_max| < 1, i.e. η·λ_max < 2. Solve for λ_max with η = 2."),
    solution="Along the top eigenvector GD multiplies the error by (1 − ηλ_max) each step. It shrinks iff "
             "|1 − ηλ_max| < 1, i.e. 0 < η·λ_max < 2, so the threshold is λ_max = 2/η = 2/2 = 1. That is the "
             "dashed 2/η line in the sharpness panel of the reference run.",
))

register(Exercise(
    id="00.after_edge",
    prompt="In the reference run, what does the sharpness do once it has reached 2/η? "
           "(a) it keeps rising and the run diverges; (b) it hovers at or just above 2/η while the loss keeps "
           "decreasing over the long run; (c) it falls back to its initial value and the loss stops decreasing.",
    grader=choice("b", ["a", "b", "c"], feedback={
        "a": "Look at the sharpness panel again: does the blue curve keep climbing past the dashed line? "
             "And did the run stop with a 'diverged' mark?",
        "c": "Compare the last sharpness values with the first ones, and look at the loss panel at the end.",
    }),
    hints=("Read the last third of the sharpness panel and the number printed by the ✔ line under it.",
           "The printed median of η·λ_max/2 over the last third is close to 1."),
    solution="(b). The sharpness rises (progressive sharpening) until it reaches 2/η = 1, then stays within a "
             "few percent of it: the median of η·λ_max/2 over the last third is about 1.01–1.03. The loss "
             "keeps decreasing over the long run, but not monotonically. This is the Edge of Stability "
             "(Cohen et al. 2021); the quadratic theory would predict divergence.",
))
