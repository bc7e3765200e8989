"""Exercises of notebook 07: escaping Flatland."""

from eostutor.exercises import Exercise, numeric, register

register(Exercise(
    id="07.cap_k26",
    prompt="26 classes, MSE over n·K outputs, last-layer bias. Below which step size must η stay so that 2/η "
           "stays above the floor 2/K?",
    grader=numeric(26.0, rtol=0.02, mistakes={
        10.0: "10 is the cap for K = 10 (the digits). Here K = 26.",
        13.0: "2/η > 2/K simplifies to η < K, not η < K/2.",
        2 / 26: "2/26 is the floor itself (a sharpness). The question asks for a step size.",
        52.0: "2/η > 2/K simplifies to η < K: the factors 2 cancel.",
    }),
    hints=("Write the condition 2/η > 2/K and solve it for η.",
           "The factors 2 cancel: 1/η > 1/K."),
    solution="At the Edge of Stability the sharpness settles near 2/η, and it can never go below 2/K. To keep "
             "the target above the floor we need 2/η > 2/K, i.e. η < K = 26. That is NLS-ub's default cap "
             "(make_rule('nls-ub') uses cap = K of the problem).",
))

register(Exercise(
    id="07.warmup_ub_margin",
    prompt="GD-warmup-ub holds η = 0.9·K. By what factor is 2/η above the floor 2/K?",
    grader=numeric(1 / 0.9, rtol=0.01, mistakes={
        0.9: "That is η/K. The question asks for (2/η)/(2/K) = K/η.",
        0.1: "That is how far η is below K, as a fraction of K; compute K/η instead.",
    }),
    hints=("(2/η)/(2/K) = K/η.",
           "With η = 0.9·K, K/η = 1/0.9."),
    solution="(2/η)/(2/K) = K/η = K/(0.9·K) = 1/0.9 ≈ 1.11: the Edge-of-Stability target sits only 11% above "
             "the floor (0.222 vs 0.2 for K = 10). A small margin: in notebook 07 one violent step was enough "
             "to land on the floor anyway.",
))

register(Exercise(
    id="07.warmup_peak",
    prompt="GD-warmup peaks at η = 1.25·K. At the peak, what is 2/η in units of the floor 2/K?",
    grader=numeric(0.8, rtol=0.01, mistakes={
        1.25: "That is η/K. The question asks for (2/η)/(2/K) = K/η.",
        1.0: "Only for η = K. At the peak η = 1.25·K.",
        0.2: "0.2 is the floor itself for K = 10, not the ratio.",
    }),
    hints=("(2/η)/(2/K) = K/η.",
           "With η = 1.25·K, K/η = 1/1.25."),
    solution="(2/η)/(2/K) = K/η = 1/1.25 = 0.8: at its peak GD-warmup steers towards a sharpness 20% *below* "
             "the floor, which no point of the network has, so the Edge-of-Stability dynamics push it down "
             "onto the floor 2/K (and η·2/K = 2.5 > 2 even makes the output bias unstable for those steps).",
))
