"""Plots of recorded runs: every function takes data, draws into an Axes and returns it.

Plots never train and never touch global ``rcParams``: colours, font sizes, line styles, figure sizes and
resolutions are given to each figure and artist. They take one :class:`~eostutor.record.Run` or a list of
runs (overlaid) and ``ax=None`` (a new figure) or an Axes to draw into.

**One visual language.** Each figure makes one point, and its title (passed by the caller) says it. A new
figure is at most 900 px wide (:data:`MAX_WIDTH_PX`: a notebook's output area is about 930 px wide on a
1366 px laptop screen); ``projector=True`` draws it at 150 dpi, so text and lines come out larger.
Legends never cover data: they sit in a strip above the Axes (a figure's runs in one strip under its
title). Reference lines are drawn only where they mean something, each with a legend entry: 2/η, the edge
2 of η·λ_max, 1 − c for line searches, the 2/K floor and η = K for the rules the floor bounds, (K−1)/K² when
a run sits at the class prior. A step size that changes every step is shown as light dots of 2/η_k, and any
series that flips direction at most steps as dots, never as a line per step. Log axes have plain-number
ticks (0.01, 0.2, 10, then 10⁻⁶), and exact zeros are drawn on a grey band at the bottom, at a tick "0".
Run colours (:data:`RUN_COLORS`) have at least 3:1 contrast on white.

**Calling a plot again on the same Axes updates it in place.** Every artist a plot makes carries a gid
``"<plot>:<role>:<run index>"`` (e.g. ``"loss:line:0"``, ``"sharpness:2/eta:0"``,
``"sharpness:floor:0"``); a second call finds those artists and sets their data instead of adding new
ones, and tests use the gids to check that the drawn data equal the run's
(``find(ax, "loss:line:0").get_ydata()`` is ``run.loss``).

A run that diverged is drawn up to the step where it diverged and marked with an ✕ whose legend entry
reads "diverged at step k". Per-step plots take ``legend=True`` (all entries), ``"references"`` (only
reference lines such as 2/η, not the run names) or ``False``.

Symbols follow the course notebooks: η (step size), λ_max (sharpness: the top Hessian eigenvalue), 2/η (the
stability threshold of GD on a quadratic), η·λ_max, K (number of classes; 2/K is the sharpness floor of
MSE with a last-layer bias).
"""

from eostutor.plots import practice  # noqa: F401  (Adam and SGD at their own edges: notebook 08)
from eostutor.plots import steps as steps  # GD against gradient flow, the Armijo picture, NLS's cycle: 04, 05
from eostutor.plots import theory as theory  # GD's rate against η, momentum's region, self-stabilization: 01, 03
from eostutor.plots.curves import (
    DASHBOARD_PANELS,
    dashboard,
    eta_sharpness,
    layer_grad_norms,
    loss,
    sharpness,
    small_multiples,
    step_size,
    test_accuracy,
)
from eostutor.plots.engine import (
    FONT,
    MAX_WIDTH_PX,
    OKABE_ITO,
    PROJECTOR_DPI,
    RUN_COLORS,
    SCREEN_DPI,
    contrast_on_white,
    figure,
    find,
)
from eostutor.plots.landscape import (
    SEQUENTIAL,
    bifurcation,
    iterates,
    loss_grid,
    phase,
    phase_coordinates,
    trajectory,
    valley_points,
)
from eostutor.plots.spectra import density, eigenvalue_snapshots, segment_smoothness, spectrum

__all__ = ["OKABE_ITO", "RUN_COLORS", "SEQUENTIAL", "FONT", "SCREEN_DPI", "PROJECTOR_DPI", "MAX_WIDTH_PX",
           "contrast_on_white", "figure", "find", "loss", "sharpness", "eta_sharpness", "step_size",
           "test_accuracy", "layer_grad_norms", "dashboard", "small_multiples", "DASHBOARD_PANELS", "trajectory",
           "valley_points", "loss_grid", "phase", "phase_coordinates", "bifurcation", "iterates", "spectrum",
           "density", "segment_smoothness", "eigenvalue_snapshots"]
