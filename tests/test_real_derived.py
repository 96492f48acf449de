"""The real-derived benchmark cases: a real stack degraded along z as the simulator does."""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from real_derived import derive, selfnet_patch  # noqa: E402


def _stack(seed: int = 0) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    return (100 + 1000 * gaussian_filter(rng.random((31, 40, 36)), 1.5)).astype(np.float32)


def test_a_thinned_stack_keeps_every_z_step_th_plane_and_the_rest_as_truth():
    real = _stack()
    observed, gt, stats = derive(real, z_step=3, axial_fwhm=0.0, snr=None)
    assert gt.shape == (31, 40, 36) and observed.shape == (11, 40, 36) and stats == {}
    assert np.array_equal(observed, real[::3])


def test_axial_blur_and_noise_degrade_along_z_only_at_the_asked_snr():
    real = _stack(1)
    observed, gt, stats = derive(real, z_step=2, axial_fwhm=3.0, snr=10.0)
    gain = stats["gain"]
    assert stats["snr_measured"] == pytest.approx(10.0, rel=0.05)
    clean, _, _ = derive(real, z_step=2, axial_fwhm=3.0, snr=None)
    assert np.allclose(gt, real[:31] * np.float32(gain))  # the truth, in photon units
    def kept(axis: int) -> float:  # detail left along `axis`, against the real planes'
        return np.abs(np.diff(clean, axis=axis)).mean() / np.abs(
            np.diff(real[::2], axis=axis)).mean()

    assert kept(0) < kept(2) - 0.1 and kept(0) < kept(1) - 0.1  # blurred along z, not in xy
    assert np.std(observed / gain - clean) > 0  # noise was added


def test_selfnet_patches_fit_thin_volumes():
    assert selfnet_patch(127) == [] and selfnet_patch(45) == ["--patch", "32"]
    assert selfnet_patch(25) == ["--patch", "16"]
