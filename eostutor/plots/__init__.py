"""Plots of recorded runs: every function takes data, draws into an Axes and returns it.

Plots never train and never touch global ``rcParams``: colours, font sizes and line styles are passed to
each artist. They take one :class:`~eostutor.record.Run` or a list of runs (overlaid, with a legend) and
``ax=None`` (a new figure) or an Axes to draw into.

**Calling a plot again on the same Axes updates it in place.** Every artist a plot makes carries a gid
``"<plot>:<role>:<run index>"`` (e.g. ``"loss:line:0"``, ``"sharpness:2/eta:0"``,
``"sharpness:floor"``); a second call finds those artists and sets their data instead of adding new
ones. The widgets rely on this (build the figure once, then ``line.set_data``), and tests use the gids
to check that the drawn data equal the run's (``find(ax, "loss:line:0").get_ydata()`` is ``run.loss``).

A run that diverged is drawn up to the step where it diverged and marked with an ✕ whose legend entry
reads "diverged at step k". Per-step plots take ``legend=True`` (all entries), ``"references"`` (only
reference lines such as 2/η, not the run names) or ``False``.

Symbols follow the course notebooks: η (step size), λ_max (sharpness: the top Hessian eigenvalue), 2/η (the
stability threshold of GD on a quadratic), η·λ_max, K (number of classes; 2/K is the sharpness floor of
MSE with a last-layer bias).

Palette: Okabe & Ito's colour-blind-safe eight colours (yellow left out: too light on white).
"""

from eostutor.plots.curves import (
    DASHBOARD_PANELS,
    dashboard,
    eta_sharpness,
    layer_grad_norms,
    loss,
    sharpness,
    step_size,
    test_accuracy,
)
from eostutor.plots.engine import FONT, OKABE_ITO, RUN_COLORS, find
from eostutor.plots.landscape import bifurcation, loss_grid, phase, phase_coordinates, trajectory
from eostutor.plots.spectra import density, eigenvalue_snapshots, segment_smoothness, spectrum

__all__ = ["OKABE_ITO", "RUN_COLORS", "FONT", "find", "loss", "sharpness", "eta_sharpness", "step_size",
           "test_accuracy", "layer_grad_norms", "dashboard", "DASHBOARD_PANELS", "trajectory", "loss_grid", "phase",
           "phase_coordinates", "bifurcation", "spectrum", "density", "segment_smoothness", "eigenvalue_snapshots"]
