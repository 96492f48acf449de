"""Decorrelation analysis: resolution per direction from one image, without ground truth."""

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from isonb import resolution as R


def points(shape: tuple[int, ...], n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = np.zeros(shape)
    img.flat[rng.integers(0, img.size, n)] = 1.0
    return img


def blurred(sigma: tuple[float, ...], noise: float = 0.01, seed: int = 0) -> np.ndarray:
    img = gaussian_filter(points((128, 256), 800, seed), sigma)
    return img / img.max() + noise * np.random.default_rng(seed + 1).normal(size=img.shape)


def test_cutoff_follows_the_blur_of_each_direction():
    iso = blurred((1.5, 1.5))
    assert R.cutoff(iso, 0) == pytest.approx(R.cutoff(iso, 1), rel=0.15)
    k = [R.cutoff(blurred((s, 1.5)), 0) for s in (1.5, 3.0, 5.0)]
    assert k[0] > k[1] > k[2] > 0  # blurrier along axis 0: a lower cut-off there
    assert k[2] < 0.4 * k[0]
    # the sector's off-axis frequencies let the axial blur lower axis 1's cut-off a little
    assert R.cutoff(blurred((5.0, 1.5)), 1) > 0.7 * R.cutoff(iso, 1)


def test_noise_alone_has_no_cutoff():
    """White noise is correlated with its own phase at every frequency equally: d(r) only
    rises, so no resolution is claimed."""
    noise = np.random.default_rng(3).normal(size=(128, 256))
    assert R.cutoff(noise) == 0.0


def test_axial_lateral_ratio_is_one_when_isotropic_and_above_when_z_is_blurred():
    vol = points((64, 96, 96), 1500, seed=4)
    iso = R.axial_lateral(gaussian_filter(vol, 1.5))
    aniso = R.axial_lateral(gaussian_filter(vol, (4.5, 1.5, 1.5)))
    assert iso["decorrelation_ratio"] == pytest.approx(1.0, abs=0.15)
    assert aniso["decorrelation_ratio"] > 1.6
    axial, lateral = (aniso[k] / iso[k] for k in ("axial_px", "lateral_px"))
    assert 1.0 <= lateral < 1.3 and axial > 1.5 * lateral


def test_refinement_finds_detail_under_the_low_frequencies_and_nothing_under_noise():
    """The high-pass copies (Descloux et al.'s refinement) see past the dominant coarse
    signal; where noise swamps the structure, neither claims a resolution."""
    clean = blurred((1.5, 1.5), noise=0.01)
    assert R.cutoff(clean, refine=True) > 1.3 * R.cutoff(clean) > 0
    swamped = blurred((1.5, 1.5), noise=1.0)
    assert R.cutoff(swamped) == R.cutoff(swamped, refine=True) == 0.0


def test_refined_ratio_tells_a_z_blurred_volume_from_an_isotropic_one():
    vol = points((64, 96, 96), 1500, seed=4)
    iso = R.axial_lateral(gaussian_filter(vol, 1.5), refine=True)
    aniso = R.axial_lateral(gaussian_filter(vol, (3.0, 1.5, 1.5)), refine=True)
    assert iso["decorrelation_ratio"] == pytest.approx(1.0, abs=0.1)
    assert aniso["decorrelation_ratio"] > 1.25
