"""Live widgets for the notebooks: move a control, watch gradient descent respond.

Model first, GUI second. :mod:`~eostutor.widgets.model` computes everything a widget shows with no
ipywidgets (problem presets, settings -> runs, sweeps, inspections); :mod:`~eostutor.widgets.scheduling`
runs jobs so that only the newest request matters; :mod:`~eostutor.widgets.panels` holds the live panels
(bqplot figures drawn in the browser: the kernel sends arrays, not pictures) and
:mod:`~eostutor.widgets.curves` draws a run's curves into them; :class:`~eostutor.widgets.base.LiveWidget`
is the base of every widget (controls, status, errors shown, the one job template). One file per widget:
:class:`StepSizeExplorer`, :class:`BifurcationExplorer`, :class:`SmoothnessExplorer`, :class:`FlatlandLab`,
:class:`OptimizerExplorer` (its model in :mod:`~eostutor.widgets.optimizer_model`).

How runs are scheduled ("latest wins"): a change made from Python runs at once (the next line of a cell
sees the result). A change dragged or typed in the page, and every network run, goes to one background
thread so the kernel stays free to receive the next change; that change bumps a generation counter. A
waiting request that is no longer the newest is skipped, so a quick drag computes only the values the
kernel gets to, never a queue of stale ones; a running network run polls the counter through ``train``'s
``should_stop`` and stops at its next step, while a toy run (milliseconds) finishes and is drawn, so a
drag shows pictures while the handle moves.
"""

from eostutor.widgets.base import Job, LiveWidget
from eostutor.widgets.bifurcation_explorer import BifurcationExplorer
from eostutor.widgets.flatland_lab import FlatlandLab
from eostutor.widgets.model import (
    PRESETS,
    BifurcationModel,
    ComparisonModel,
    ExplorerModel,
    ExplorerSettings,
    Inspection,
    Preset,
    SmoothnessModel,
    divergence_message,
    rule_for,
)
from eostutor.widgets.optimizer_explorer import OptimizerExplorer
from eostutor.widgets.scheduling import LatestWins
from eostutor.widgets.smoothness_explorer import SmoothnessExplorer
from eostutor.widgets.step_size_explorer import StepSizeExplorer

__all__ = ["StepSizeExplorer", "BifurcationExplorer", "SmoothnessExplorer", "FlatlandLab", "OptimizerExplorer",
           "LiveWidget", "Job",
           "LatestWins", "Preset", "PRESETS", "ExplorerSettings", "ExplorerModel",
           "BifurcationModel", "SmoothnessModel", "Inspection", "ComparisonModel", "divergence_message", "rule_for"]
