"""Exercises of notebook 06: Flatland, the 2/K floor."""

from eostutor.exercises import Exercise, choice, numeric, register

register(Exercise(
    id="06.floor_k26",
    prompt="MSE over n·K outputs, a last-layer bias, K = 26 classes. What is the smallest sharpness the "
           "network can have anywhere?",
    grader=numeric(2 / 26, rtol=0.02, mistakes={
        1 / 26: "1/K forgets the factor 2 of the square's second derivative: d²(z − t)²/dz² = 2.",
        0.2: "0.2 = 2/K is the floor for K = 10; here K = 26.",
        25 / 26**2: "That is the prior loss (K−1)/K², a loss, not a curvature.",
        13.0: "K/2 is upside down: the floor is 2 divided by K.",
    }),
    hints=("The output bias block of the Hessian is a multiple of the identity; which multiple?",
           "Each bias b_k appears in all n outputs z_ik with coefficient 1, and the loss divides by n·K."),
    solution="f = (1/(nK)) Σ_i Σ_k (z_ik − t_ik)² and ∂z_ik/∂b_k = 1, so ∂²f/∂b_k² = (1/(nK))·n·2 = 2/K and "
             "the bias block is (2/K)·I. For a unit vector v on one bias coordinate vᵀHv = 2/K, hence "
             "λ_max ≥ 2/K at every w. For K = 26: 2/26 ≈ 0.0769.",
))

register(Exercise(
    id="06.prior_k10",
    prompt="Loss of a 10-class MSE network (balanced, one-hot targets, mean over n·K outputs) that outputs "
           "the class prior for every input?",
    grader=numeric(0.09, rtol=0.02, mistakes={
        0.9: "Averaged over the n·K outputs, not summed over the K classes: divide by K.",
        0.1: "1/K is the prior itself (each output predicts 0.1); the question asks for the loss.",
        0.2: "2/K is the sharpness floor, not the loss.",
        0.81: "(1 − 1/K)² is the error of the one correct output only; average over all K outputs.",
    }),
    hints=("For one example: one output has target 1 and predicts 1/K, the other K − 1 have target 0 and "
           "predict 1/K.",
           "Average the K squared errors: [(1 − 1/K)² + (K − 1)(1/K)²] / K."),
    solution="Per example, the correct class contributes (1 − 1/K)² and each of the other K − 1 classes "
             "(1/K)². Averaging over the K outputs: [(K−1)²/K² + (K−1)/K²]/K = (K−1)(K−1+1)/K³ = "
             "(K−1)/K². For K = 10: 9/100 = 0.09, the plateau of Flatland.",
))

register(Exercise(
    id="06.which_block",
    prompt="Which parameters guarantee λ_max ≥ 2/K at every point: first-layer weights, hidden biases, "
           "output weights or output bias?",
    grader=choice("output bias", ["first-layer weights", "hidden biases", "output weights", "output bias"],
                  feedback={
        "output weights": "Their curvature depends on the hidden activations: it is 0 when the last hidden "
                          "layer is dead. Which block does not depend on w at all?",
        "hidden biases": "Their curvature passes through the activations and the output weights, so it "
                         "changes with w (and vanishes for dead ReLUs).",
        "first-layer weights": "Their curvature scales with the inputs and everything above them; it can "
                               "be 0 (dead layers).",
    }),
    hints=("Look for a block of the Hessian that is the same at every w.",
           "Which parameters enter every output z_ik with a coefficient that is always 1?"),
    solution="The output bias: z_ik = (…) + b_k, so ∂z_ik/∂b_k = 1 whatever w is, and the bias block of the "
             "Hessian is (2/K)·I at every point. The Rayleigh quotient of a bias unit vector is 2/K, so "
             "λ_max ≥ 2/K. Every other block depends on the activations and can vanish (it does in "
             "Flatland, where the hidden ReLUs are dead).",
))
