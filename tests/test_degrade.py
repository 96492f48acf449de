import numpy as np
import pytest
from scipy import ndimage

from isonb.degrade import (
    Degradation,
    PairSampler,
    estimate_axial_sigma,
    estimate_degradation,
    estimate_noise_std,
    power_spectrum,
    synthesize_axial,
)
from isonb.simulate import SimulationConfig, simulate


def test_power_spectrum_of_white_noise_is_its_variance():
    noise = np.random.default_rng(0).normal(0, 3.0, (16, 32, 256))
    f, p = power_spectrum(noise, 2, 0.1)
    assert f[-1] == pytest.approx(5.0)  # Nyquist of 0.1 µm pixels
    assert p[1:].mean() == pytest.approx(9.0, rel=0.05)
    assert estimate_noise_std(noise) == pytest.approx(3.0, rel=0.05)


def test_axial_blur_of_isotropic_texture_is_recovered():
    # isotropic random texture, then an extra Gaussian z-blur of sigma 0.4 µm, dz = 2 dx
    rng = np.random.default_rng(1)
    tex = ndimage.gaussian_filter(rng.standard_normal((128, 96, 96)), 1.0)
    blurred = ndimage.gaussian_filter1d(tex, 4.0, axis=0)[::2]  # sigma 4 px of 0.1 µm
    blurred += rng.normal(0, 0.002, blurred.shape)
    assert estimate_axial_sigma(blurred, 0.2, 0.1) == pytest.approx(0.4, rel=0.15)
    assert estimate_axial_sigma(tex, 0.1, 0.1) < 0.1  # no extra blur when there is none


def test_estimated_degradation_on_a_simulated_gaussian_case():
    case = simulate(SimulationConfig(structure="mixed", shape=(64, 128, 128), psf="gaussian",
                                     fwhm_lateral=0.25, fwhm_axial=1.5, z_step=2, snr=15, seed=3))
    deg = estimate_degradation(case.observed, case.voxel_size)
    true_extra = np.sqrt(1.5**2 - 0.25**2)
    assert deg.z_step == pytest.approx(2.0)
    assert deg.fwhm_axial_extra(0.1) == pytest.approx(true_extra, rel=0.35)
    sigma_true = case.stats["read_noise_std"]  # the read-noise part alone: a lower bound
    assert sigma_true * 0.8 < deg.noise_std < sigma_true * 2.0


def test_synthetic_axial_patches_are_blurred_along_axis_0_only():
    rng = np.random.default_rng(2)
    img = ndimage.gaussian_filter(rng.standard_normal((64, 64)), 1.0).astype(np.float32)
    deg = Degradation(sigma_axial=3.0, z_step=2.5, noise_std=0.0)
    out = synthesize_axial(img, deg, rng)
    assert out.shape == img.shape and out.dtype == np.float32
    d0 = np.abs(np.diff(out, axis=0)).mean() / np.abs(np.diff(img, axis=0)).mean()
    d1 = np.abs(np.diff(out, axis=1)).mean() / np.abs(np.diff(img, axis=1)).mean()
    assert d0 < 0.4 and d1 > 0.5
    noisy = synthesize_axial(img, Degradation(0.0, 1.0, 0.5), rng)
    assert np.std(noisy - img) == pytest.approx(0.5, rel=0.05)


def test_recorrupted_pairs_have_independent_noise_and_plain_pairs_do_not():
    # pure-noise "xy patches" of the stack's noise level: every correlation is the noise's
    rng = np.random.default_rng(3)
    patches = rng.normal(0.0, 0.1, (50, 32, 32)).astype(np.float32)
    deg = Degradation(sigma_axial=0.0, z_step=1.0, noise_std=0.1)
    sampler = PairSampler(patches, [deg], np.zeros(50, int), rng)
    x, y = sampler.draw(400)
    assert np.corrcoef(x.ravel(), y.ravel())[0, 1] == pytest.approx(0.71, abs=0.03)
    x, y = sampler.draw(400, recorrupt=0.5)
    assert abs(np.corrcoef(x.ravel(), y.ravel())[0, 1]) < 0.02
    assert y.std() == pytest.approx(0.1 * np.sqrt(5), rel=0.03)  # 1 + 1 / a^2 of the noise


def test_split_holds_out_every_nth_patch():
    patches = np.arange(25, dtype=np.float32)[:, None, None] * np.ones((1, 8, 8), np.float32)
    sampler = PairSampler(patches, [Degradation(0.0, 1.0, 0.0)], np.zeros(25, int),
                          np.random.default_rng(0))
    held, rest = sampler.split(10)
    assert sorted(held.patches[:, 0, 0]) == [0, 10, 20] and len(rest.patches) == 22
    assert not set(held.patches[:, 0, 0]) & set(rest.patches[:, 0, 0])
