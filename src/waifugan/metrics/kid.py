"""Kernel Inception Distance (Bińkowski et al. 2018): unbiased MMD² between two feature sets.

Kernel k(x, y) = (x·y / d + 1)^3 (cubic polynomial, d = feature dimension). MMD² is estimated on
`num_subsets` random subsets of `max_subset_size` vectors from each set (100 x 1000 as in
NVlabs' metrics; fewer vectors per subset when a set is smaller), and reported as the mean and
standard deviation over subsets. Unlike FID, the estimator is unbiased, so small N is fine.
"""

from __future__ import annotations

import numpy as np

from waifugan.errors import WaifuganError

NUM_SUBSETS = 100
MAX_SUBSET_SIZE = 1000


def polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """k(x, y) = (x·y / d + 1)^3 for all pairs: [m, d] x [n, d] -> [m, n]."""
    d = x.shape[1]
    return (x @ y.T / d + 1.0) ** 3


def mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD² estimate between samples x [m, d] and y [m, d] (same size)."""
    m = x.shape[0]
    k_xx = polynomial_kernel(x, x)
    k_yy = polynomial_kernel(y, y)
    k_xy = polynomial_kernel(x, y)
    # Within-set terms leave out the diagonal (k(x_i, x_i)): that is what makes it unbiased.
    within = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
    return float(within - 2.0 * k_xy.sum() / (m * m))


def kernel_inception_distance(
    features1: np.ndarray,
    features2: np.ndarray,
    num_subsets: int = NUM_SUBSETS,
    max_subset_size: int = MAX_SUBSET_SIZE,
    seed: int = 0,
) -> tuple[float, float]:
    """KID between two feature sets [N1, d] and [N2, d]: (mean, std) of MMD² over subsets."""
    if features1.shape[1] != features2.shape[1]:
        raise WaifuganError(
            f"KID: features of different sizes ({features1.shape[1]} vs {features2.shape[1]})"
        )
    m = min(len(features1), len(features2), max_subset_size)
    if m < 2:
        raise WaifuganError(f"KID needs at least 2 images in each set, got {m}")
    rng = np.random.RandomState(seed)
    x_all = features1.astype(np.float64)
    y_all = features2.astype(np.float64)
    values = [
        mmd2_unbiased(
            x_all[rng.choice(len(x_all), m, replace=False)],
            y_all[rng.choice(len(y_all), m, replace=False)],
        )
        for _ in range(num_subsets)
    ]
    return float(np.mean(values)), float(np.std(values))
