"""FID and KID on synthetic features with known answers."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg

from waifugan.errors import WaifuganError
from waifugan.metrics.fid import fid_from_stats, frechet_distance
from waifugan.metrics.kid import kernel_inception_distance, mmd2_unbiased, polynomial_kernel
from waifugan.metrics.stats import FeatureStats


def _random_cov(rng: np.random.RandomState, dim: int) -> np.ndarray:
    a = rng.randn(dim, dim)
    return a @ a.T / dim + 0.1 * np.eye(dim)


def test_fid_of_a_feature_set_against_itself_is_zero() -> None:
    features = np.random.RandomState(0).rand(300, 64).astype(np.float32)
    stats = FeatureStats.from_features(features)
    assert fid_from_stats(stats, stats) == pytest.approx(0.0, abs=1e-6)


def test_fid_matches_closed_form_for_diagonal_gaussians() -> None:
    # Commuting covariances: FID = |mu1 - mu2|^2 + sum (sqrt(a) - sqrt(b))^2.
    mu1, mu2 = np.zeros(4), np.array([1.0, 2.0, 0.0, -1.0])
    a, b = np.array([1.0, 4.0, 9.0, 0.25]), np.array([4.0, 1.0, 9.0, 1.0])
    expected = 6.0 + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected)


def test_fid_matches_closed_form_for_general_gaussians() -> None:
    # Non-commuting covariances: Tr((S1 S2)^1/2) = Tr((S1^1/2 S2 S1^1/2)^1/2), computed here with
    # symmetric eigendecompositions only (an independent route from sqrtm of a product).
    rng = np.random.RandomState(1)
    dim = 16
    mu1, mu2 = rng.randn(dim), rng.randn(dim)
    cov1, cov2 = _random_cov(rng, dim), _random_cov(rng, dim)
    root1 = scipy.linalg.sqrtm(cov1).real
    cross = np.sqrt(np.clip(np.linalg.eigvalsh(root1 @ cov2 @ root1), 0, None)).sum()
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(cov1) + np.trace(cov2) - 2 * cross
    assert frechet_distance(mu1, cov1, mu2, cov2) == pytest.approx(expected, rel=1e-8)


def test_fid_of_samples_approaches_the_distance_of_their_gaussians() -> None:
    rng = np.random.RandomState(2)
    dim = 8
    mu2 = np.full(dim, 0.5)
    cov2 = _random_cov(rng, dim)
    x = rng.randn(20000, dim)
    y = rng.multivariate_normal(mu2, cov2, size=20000)
    sampled = fid_from_stats(FeatureStats.from_features(x), FeatureStats.from_features(y))
    assert sampled == pytest.approx(frechet_distance(np.zeros(dim), np.eye(dim), mu2, cov2), 0.05)


def test_fid_with_fewer_images_than_dimensions_is_finite() -> None:
    # N < d makes both covariances singular: the case the eps offset exists for.
    rng = np.random.RandomState(3)
    a = FeatureStats.from_features(rng.rand(40, 128))
    b = FeatureStats.from_features(rng.rand(40, 128) + 0.2)
    fid = fid_from_stats(a, b)
    assert np.isfinite(fid)
    assert fid > 128 * 0.2**2 * 0.9  # at least the mean term


def test_fid_refuses_mismatched_statistics() -> None:
    with pytest.raises(WaifuganError, match="different sizes"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))


def test_mmd2_matches_a_direct_sum() -> None:
    rng = np.random.RandomState(4)
    x, y = rng.rand(6, 5), rng.rand(6, 5) + 0.3
    m = len(x)

    def k(a: np.ndarray, b: np.ndarray) -> float:
        return float((a @ b / 5 + 1) ** 3)

    within = sum(k(x[i], x[j]) + k(y[i], y[j]) for i in range(m) for j in range(m) if i != j)
    across = sum(k(x[i], y[j]) for i in range(m) for j in range(m))
    expected = within / (m * (m - 1)) - 2 * across / m**2
    assert mmd2_unbiased(x, y) == pytest.approx(expected)
    assert polynomial_kernel(x, y).shape == (6, 6)


def test_kid_is_about_zero_for_identical_sets_and_positive_for_shifted() -> None:
    rng = np.random.RandomState(5)
    features = rng.rand(400, 32)
    same_mean, same_std = kernel_inception_distance(features, features, num_subsets=20)
    other = rng.rand(400, 32)  # same distribution, independent draw
    iid_mean, _ = kernel_inception_distance(features, other, num_subsets=20)
    shifted_mean, _ = kernel_inception_distance(features, features + 0.2, num_subsets=20)
    assert abs(same_mean) < 0.01 * shifted_mean
    assert abs(iid_mean) < 0.05 * shifted_mean  # unbiased: ~0 up to sampling noise
    assert shifted_mean > 0
    assert same_std >= 0


def test_kid_subset_size_shrinks_to_the_smaller_set() -> None:
    rng = np.random.RandomState(6)
    mean, std = kernel_inception_distance(rng.rand(10, 8), rng.rand(50, 8) + 1, num_subsets=5)
    assert mean > 0 and np.isfinite(std)
    with pytest.raises(WaifuganError, match="at least 2"):
        kernel_inception_distance(rng.rand(1, 8), rng.rand(5, 8))
