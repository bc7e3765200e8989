"""Eigenvalues of the Hessian from Hessian-vector products: sharpness, top-k, trace, density.

The sharpness is the largest *algebraic* eigenvalue of the Hessian, λ_max(H). Every estimate here says how
good it is: the number of HVPs it used, whether it converged, and the residual ‖H y − θ y‖ of each
eigenpair (θ, y). For a symmetric H a residual r certifies that some eigenvalue of H lies within r of θ
(and, when θ is separated from the rest of the spectrum by a gap δ, within about r²/δ).

Methods:
    ``"exact"``: the dense Hessian and ``torch.linalg.eigh`` in float64 (small problems only).
    ``"lanczos"``: Lanczos with full reorthogonalization, in float64, stopped as soon as every wanted Ritz
        pair has ‖H y − θ y‖ ≤ tol·|θ|. The default for anything bigger than a toy. For k > 1 it is block
        Lanczos (block min(k, 16)): a Krylov method finds an eigenvalue at most block-size times, so
        multiplicities beyond the block are undercounted (``method="exact"`` when they matter).
    ``"power"``: power (subspace) iteration with the same residual stop; kept because it is the method
        the reader meets first, and slow on clustered top eigenvalues (the teaching point).
    ``"auto"``: ``"exact"`` for ``dim <= AUTO_EXACT_DIM`` (200; 1,000 for toys with closed-form Hessians),
    else ``"lanczos"``.

For optimizers beyond plain GD: :mod:`~eostutor.spectrum.preconditioned` (``preconditioned_sharpness``,
λ_max(P^{-1/2} H P^{-1/2}) for Adam and RMSProp, on the same operator) and :mod:`~eostutor.spectrum.batch`
(``batch_sharpness``, the curvature a mini-batch step sees along its own gradient).

Modules: :mod:`~eostutor.spectrum.solve` (``sharpness``, ``top_eigenvalues``, ``exact_curvature``),
:mod:`~eostutor.spectrum.krylov` (``lanczos``), :mod:`~eostutor.spectrum.power` (``power_iteration``),
:mod:`~eostutor.spectrum.stochastic` (``hessian_trace``, ``spectral_density``) and
:mod:`~eostutor.spectrum.results`. ``segment_smoothness`` (the local smoothness along the gradient step of
Flatland's Figure 4) lives in :mod:`eostutor.curvature` and is re-exported here.
"""


from eostutor.curvature import SegmentSmoothness, segment_smoothness
from eostutor.spectrum.batch import BatchSharpness, batch_sharpness
from eostutor.spectrum.krylov import WHICH, lanczos
from eostutor.spectrum.power import power_iteration
from eostutor.spectrum.preconditioned import PreconditionedOperator, preconditioned_sharpness
from eostutor.spectrum.results import SpectralDensity, SpectrumResult, TraceResult
from eostutor.spectrum.solve import (
    AUTO_EXACT_DIM,
    AUTO_EXACT_DIM_CLOSED_FORM,
    EXACT_MAX_DIM,
    METHODS,
    exact_curvature,
    sharpness,
    top_eigenvalues,
)
from eostutor.spectrum.stochastic import hessian_trace, spectral_density
from eostutor.spectrum.tracking import SharpnessTracker

__all__ = ["sharpness", "top_eigenvalues", "exact_curvature", "lanczos", "power_iteration", "hessian_trace",
           "spectral_density", "segment_smoothness", "SpectrumResult", "TraceResult", "SpectralDensity",
           "SegmentSmoothness", "METHODS", "WHICH", "AUTO_EXACT_DIM", "AUTO_EXACT_DIM_CLOSED_FORM", "EXACT_MAX_DIM",
           "SharpnessTracker", "PreconditionedOperator", "preconditioned_sharpness", "BatchSharpness",
           "batch_sharpness"]
