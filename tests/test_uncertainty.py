"""The uncertainty map: unbiased, without a grid, calibrated on the stack's own pairs."""

import numpy as np
import pytest
from scipy import ndimage

from isonb import metrics as M
from isonb import restore as R
from isonb import uncertainty as U
from isonb.degrade import Degradation
from isonb.volume import fuse_views


def test_fitted_scale_covers_the_promised_share_of_gaussian_errors(rng):
    sigma = rng.uniform(0.5, 2.0, 200_000)
    error = rng.normal(0.0, sigma)
    scale = U.fit_scale(error**2, (sigma / 3) ** 2, 0.0)  # a spread 3x too small
    assert scale == pytest.approx(3 * 1.96 / 2, rel=0.02)  # 95 % within 1.96 sigma
    assert U.fit_scale(error**2, sigma**2, noise2=100.0) is None  # noise alone covers them


def test_calibration_pairs_come_from_the_stack_with_its_noise(rng):
    observed = ndimage.gaussian_filter(rng.random((9, 64, 64)), (0, 2, 2)).astype(np.float32)
    deg = Degradation(sigma_axial=2.0, z_step=2.0, noise_std=0.01)
    limits = (float(observed.min()), float(observed.max()))
    x, y, noise = U.calibration_pairs(observed, limits, deg, patch=32, n=16)
    assert x.shape == y.shape == (16, 32, 32) and noise == pytest.approx(0.01 / np.ptp(limits))
    assert 0 <= y.min() and y.max() <= 1  # normalised xy patches
    blur = np.abs(np.diff(x, axis=1)).mean() / np.abs(np.diff(y, axis=1)).mean()
    assert blur < 0.8  # the inputs are blurred along their first axis (z)


def test_map_noise_is_each_slice_own_and_the_output_noise_is_shared(tiny_ldm):
    image = ndimage.gaussian_filter(np.random.default_rng(0).random((40, 48)), 2) * 4 - 1.5
    images = np.stack([image, image]).astype(np.float32)  # two identical slices
    out, var = R.restore_slices(tiny_ldm, images, samples=2, steps=2, progress=False,
                                spread_samples=3)
    assert np.array_equal(out[0], out[1])  # shared noise: neighbouring slices consistent
    assert var.min() >= 0 and np.abs(var[0] - var[1]).mean() > 0.1 * var.mean()
    again, var2 = R.restore_slices(tiny_ldm, images[1:], samples=2, steps=2, progress=False,
                                   spread_samples=3, slice_ids=[1])
    assert np.allclose(var2[0], var[1], atol=1e-6)  # a slice's noise is tied to its index


def test_stripe_score_is_about_one_for_texture_and_high_for_a_grid():
    rng = np.random.default_rng(0)
    for sigma in (1, 4):  # fine and smooth texture alike
        texture = ndimage.gaussian_filter(rng.random((8, 96, 96)), (0, sigma, sigma))
        assert 0.8 < M.stripe_score(texture) < 1.25
    grid = texture + 0.3 * texture.std() * (rng.standard_normal((8, 96, 1))  # rows (xz)
                                            + rng.standard_normal((8, 1, 96)))  # columns (yz)
    assert M.stripe_score(grid) > 3


def test_view_variances_fused_by_orientation_lose_their_slice_grid(rng):
    """Each view's variance, estimated from a few samples per slice, varies from slice to
    slice (xz: along y, yz: along x): averaged, the map keeps half of that grid; fused by
    orientation, it keeps little, stays non-negative, and where the views agree is theirs."""
    smooth = ndimage.gaussian_filter(rng.random((8, 96, 128)), (0, 4, 4))
    truth = (0.5 + smooth / smooth.max()).astype(np.float32)

    def slice_noise(sigma: tuple[int, int, int]) -> np.ndarray:  # smooth along the slices
        n = ndimage.gaussian_filter(rng.standard_normal(truth.shape), sigma)
        return (0.3 * n / n.std()).astype(np.float32)

    xz = np.maximum(truth * (1 + slice_noise((0, 0, 3))), 0)  # xz slices run along x
    yz = np.maximum(truth * (1 + slice_noise((0, 3, 0))), 0)
    averaged, fused = 0.5 * (xz + yz), U.fuse_variances(xz, yz)
    assert M.stripe_score(averaged) > 2
    assert M.stripe_score(fused) < 0.6 * M.stripe_score(averaged)
    assert fused.min() >= 0
    np.testing.assert_allclose(U.fuse_variances(truth, truth), truth, atol=1e-5)


def test_disagreement_is_the_averaged_error_variance_and_blind_to_slice_grids(rng):
    """Where the fusion averages the views (coarse scales), the disagreement of two estimates
    with independent errors is the fusion's error variance; a difference that varies across
    one view's slices only (its grid, which the fusion removes) adds almost nothing."""
    a, b = (ndimage.gaussian_filter(rng.standard_normal((16, 128, 128)), (0, 12, 12))
            for _ in range(2))
    fused_error = fuse_views(a, b, "orientation")  # its variance's sampling error: ~5 %
    assert U.disagreement(a, b).mean() == pytest.approx(fused_error.var(), rel=0.15)
    rows = np.broadcast_to(rng.standard_normal((4, 128, 1)), (4, 128, 128))
    assert U.disagreement(rows, np.zeros_like(rows)).mean() < 0.03 * np.mean(rows**2)


def test_the_map_has_no_grid_in_its_xy_planes(stack, tiny_ldm):
    st, _ = stack
    vol, spread = R.restore_network(st.data, st.voxel_size, tiny_ldm, samples=2, steps=2,
                                    progress=False, uncertainty_samples=3)
    assert spread.shape == vol.shape and spread.min() >= 0
    assert M.stripe_score(spread) <= max(M.stripe_score(vol), 1.2)


def test_reliability_and_rank_correlation_of_a_known_spread():
    rng = np.random.default_rng(0)
    sigma = rng.uniform(0.1, 2.0, 100_000)
    error = rng.normal(0.0, sigma)
    assert np.allclose(U.reliability(sigma, error), (0.683, 0.954, 0.997), atol=0.01)
    assert U.rank_correlation(sigma, error) > 0.4
    assert abs(U.rank_correlation(rng.permutation(sigma), error)) < 0.02


@pytest.mark.slow
def test_shipped_map_predicts_the_error_on_a_simulated_case(stack):
    """The shipped LDM's calibrated map on a case with ground truth (measured here: rank
    correlation 0.68, 84.9 % within 2 spreads)."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from uncertainty import score_map

    st, case = stack
    from isonb.checkpoint import shipped_weights

    model = R.load_network(shipped_weights(), "ldm")
    vol, spread = R.restore_network(st.data, st.voxel_size, model, progress=False)
    scores = score_map(vol, spread, case.gt)
    assert scores["rho"] >= 0.5 and scores["within2"] >= 0.8
    assert scores["stripes_map"] <= scores["stripes_vol"]


def test_too_few_map_samples_get_a_one_line_error(stack, tmp_path, capsys):
    from isonb.cli import main

    st, _ = stack
    assert main(["restore", str(st.path), str(tmp_path / "o.tif"), "--uncertainty",
                 str(tmp_path / "u.tif"), "--uncertainty-samples", "1"]) != 0
    assert "--uncertainty-samples 2 or more" in capsys.readouterr().err


def test_the_spread_keeps_its_level_at_the_slices_lateral_edges(rng, monkeypatch):
    """Mirrored lateral edges: the shipped model's spread in a slice's first and last columns
    is the interior's (the networks' zero padding left 0.74-0.83 of it there)."""
    from isonb.checkpoint import shipped_weights

    model = R.load_network(shipped_weights(), "ldm", "cpu")
    images = ndimage.gaussian_filter(rng.random((16, 64, 128)), (0, 3, 1.5))
    images = ((images - images.min()) / np.ptp(images)).astype(np.float32)

    def edge_levels() -> np.ndarray:
        _, var = R.restore_slices(model, images, samples=1, steps=4, spread_samples=4,
                                  progress=False)
        columns = np.sqrt(var.mean(axis=(0, 1)))
        return columns[[0, -1]] / columns[16:-16].mean()

    assert edge_levels().min() >= 0.9
    monkeypatch.setattr(R, "EDGE", 0)
    assert edge_levels().min() < 0.9  # the frame the mirrored edges remove
