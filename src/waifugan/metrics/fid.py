"""Fréchet Inception Distance (Heusel et al. 2017) between two sets of feature statistics.

FID = |mu1 - mu2|^2 + Tr(S1) + Tr(S2) - 2 Tr((S1 S2)^(1/2)).

The matrix square root is scipy.linalg.sqrtm, handled as pytorch-fid and NVlabs' metrics do so
the numbers agree with theirs: when the result is not finite (S1 S2 near-singular, common when
N < 2048 features), retry on (S1 + eps I)(S2 + eps I); a complex result from round-off is
replaced by its real part when the imaginary part of the diagonal is negligible (< 1e-3), and
refused otherwise.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg

from waifugan.errors import WaifuganError
from waifugan.metrics.stats import FeatureStats

SQRTM_EPS = 1e-6  # diagonal offset when S1 S2 is too singular for sqrtm (pytorch-fid's value)
IMAG_ATOL = 1e-3  # largest imaginary part of diag(sqrtm) accepted as round-off


def frechet_distance(
    mu1: np.ndarray, cov1: np.ndarray, mu2: np.ndarray, cov2: np.ndarray, eps: float = SQRTM_EPS
) -> float:
    """Fréchet distance between Gaussians N(mu1, cov1) and N(mu2, cov2)."""
    if mu1.shape != mu2.shape or cov1.shape != cov2.shape:
        raise WaifuganError(f"FID: statistics of different sizes ({mu1.shape} vs {mu2.shape})")
    diff = mu1 - mu2
    covmean = scipy.linalg.sqrtm(cov1 @ cov2)
    if not np.isfinite(covmean).all():
        offset = np.eye(cov1.shape[0]) * eps
        covmean = scipy.linalg.sqrtm((cov1 + offset) @ (cov2 + offset))
    if np.iscomplexobj(covmean):
        worst = float(np.max(np.abs(np.diagonal(covmean).imag)))
        if worst > IMAG_ATOL:
            raise WaifuganError(
                f"FID: matrix square root has an imaginary component {worst:.3g} on its "
                "diagonal; the covariances are degenerate (too few images?)"
            )
        covmean = covmean.real
    fid = float(diff @ diff + np.trace(cov1) + np.trace(cov2) - 2.0 * np.trace(covmean))
    # Round-off can give a tiny negative value for identical statistics.
    return max(fid, 0.0)


def fid_from_stats(a: FeatureStats, b: FeatureStats) -> float:
    """FID between two feature sets' statistics."""
    return frechet_distance(a.mean, a.cov, b.mean, b.cov)
