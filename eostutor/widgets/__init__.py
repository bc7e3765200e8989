"""Live widgets for the notebooks: move a control, watch gradient descent respond.

Model first, GUI second. :mod:`~eostutor.widgets.model` computes everything a widget shows with no
ipywidgets (problem presets, settings -> runs, sweeps, inspections); :mod:`~eostutor.widgets.scheduling`
runs jobs so that only the newest request matters; :mod:`~eostutor.widgets.live` shows a matplotlib figure
inside a widget and redraws it cheaply; :class:`~eostutor.widgets.base.LiveWidget` is the base of every
widget (controls, status, errors shown, the one job template). One file per widget:
:class:`StepSizeExplorer`, :class:`BifurcationExplorer`, :class:`SmoothnessExplorer`, :class:`FlatlandLab`.

How runs are scheduled ("latest wins"): runs of tiny 2-D problems are computed synchronously in the
control's callback (they take milliseconds). Network runs are computed in one background thread so the
kernel stays free to receive the next control change; that change bumps a generation counter which the
running ``train`` polls through its ``should_stop`` argument, so the stale run stops at its next step. A new
run first waits for the stale one to finish, and is skipped if it is itself stale by then: there is never
a queue of stale runs. Only the newest run draws.

Display: with the ipympl backend (``%matplotlib widget``) the figure's canvas widget is embedded. With any
other backend (inline, Colab, Voilà without ipympl) the figure is a plain ``Figure`` rendered to PNG into
an ``ipywidgets.Image`` on each redraw.
"""

from eostutor.widgets.base import Job, LiveWidget
from eostutor.widgets.bifurcation_explorer import BifurcationExplorer
from eostutor.widgets.flatland_lab import FlatlandLab
from eostutor.widgets.live import LiveFigure, sticky_limits
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
from eostutor.widgets.scheduling import LatestWins
from eostutor.widgets.smoothness_explorer import SmoothnessExplorer
from eostutor.widgets.step_size_explorer import StepSizeExplorer

__all__ = ["StepSizeExplorer", "BifurcationExplorer", "SmoothnessExplorer", "FlatlandLab", "LiveWidget", "Job",
           "LiveFigure", "LatestWins", "sticky_limits", "Preset", "PRESETS", "ExplorerSettings", "ExplorerModel",
           "BifurcationModel", "SmoothnessModel", "Inspection", "ComparisonModel", "divergence_message", "rule_for"]
