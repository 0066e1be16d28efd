"""Tests of imagelab.data.preprocessing: standardisation and PCA whitening fitted on the
training rows only, against their definitions."""
import numpy as np
import pytest

from imagelab.data.preprocessing import fit_pca_whitening, standardize, transform


def test_standardize_uses_training_statistics_only():
    rng = np.random.default_rng(12)
    train = rng.normal(5, 3, size=(100, 4)).astype(np.float32)
    train[:, 3] = 7                                          # a constant feature
    test = rng.normal(size=(10, 4)).astype(np.float32)
    train_scaled, test_scaled = standardize(train, test)
    assert train_scaled.dtype == test_scaled.dtype == np.float32
    np.testing.assert_allclose(train_scaled[:, :3].mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(train_scaled[:, :3].std(axis=0), 1, rtol=1e-5)
    np.testing.assert_array_equal(train_scaled[:, 3], 0)
    expected = (test[:, :3] - train[:, :3].mean(axis=0)) / train[:, :3].std(axis=0)
    np.testing.assert_allclose(test_scaled[:, :3], expected, rtol=1e-4, atol=1e-5)


def test_pca_whitening_whitens_and_keeps_the_top_components():
    rng = np.random.default_rng(14)
    x = rng.normal(size=(2000, 6)) @ rng.normal(size=(6, 6)) + 5
    mean, projection = fit_pca_whitening(x, 6, eps=0)
    z = transform(x, mean, projection)
    np.testing.assert_allclose(np.cov(z.T, bias=True), np.eye(6), atol=1e-3)
    # The first 3 components span the top 3 right singular vectors of the centred data.
    _, _, vt = np.linalg.svd(x - x.mean(axis=0), full_matrices=False)
    _, projection3 = fit_pca_whitening(x, 3, eps=0)
    directions = projection3 / np.linalg.norm(projection3, axis=0)
    np.testing.assert_allclose(np.abs(vt[:3] @ directions), np.eye(3), atol=1e-3)
    with pytest.raises(ValueError, match="num_components"):
        fit_pca_whitening(x, 7)


@pytest.mark.parametrize("num_components, eps, message", [
    (2.5, 0.01, r"num_components must be an integer in \[1, 6\], got 2.5"),
    (True, 0.01, r"num_components must be an integer in \[1, 6\], got True"),
    (3, -0.01, r"eps must be a finite number >= 0, got -0.01"),
    (3, float("nan"), r"eps must be a finite number >= 0, got nan"),
])
def test_pca_whitening_refuses_bad_settings(num_components, eps, message):
    x = np.random.default_rng(15).normal(size=(20, 6))
    with pytest.raises(ValueError, match=f"^{message}$"):
        fit_pca_whitening(x, num_components, eps=eps)


def test_pca_whitening_with_fewer_rows_than_features_agrees_with_the_covariance_route():
    rng = np.random.default_rng(17)
    x = rng.normal(size=(8, 5)) @ rng.normal(size=(5, 5))
    wide = np.hstack([x, np.zeros((8, 4))])          # 9 features, 8 rows: the SVD route
    _, tall = fit_pca_whitening(x, 4, eps=0)         # 5 features, 8 rows: eigh
    _, projection = fit_pca_whitening(wide, 4, eps=0)
    np.testing.assert_allclose(np.abs(projection[:5]), np.abs(tall), rtol=1e-3, atol=1e-5)
    np.testing.assert_allclose(projection[5:], 0, atol=1e-6)


def test_transform_by_batches_is_the_whole_product():
    rng = np.random.default_rng(18)
    x = rng.normal(size=(23, 6)).astype(np.float32)
    mean, projection = fit_pca_whitening(x, 4)
    out = transform(x, mean, projection, batch_size=5)
    assert out.dtype == np.float32 and out.shape == (23, 4)
    np.testing.assert_allclose(out, (x - mean) @ projection, rtol=1e-5, atol=1e-6)
