import numpy as np
import pytest
from scipy import ndimage

from isonb.degrade import (
    Degradation,
    axial_forward_matrix,
    blur_axial_by_band,
    data_residual,
    estimate_axial_bands,
    estimate_axial_sigma,
    estimate_degradation,
    estimate_noise_std,
    gaussian_width,
    infocus_gain,
    power_spectrum,
    refocus,
    synthesize_axial,
)
from isonb.psf import FWHM_PER_SIGMA
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


def _texture(blur_sigma, seed=1):
    """An isotropic texture (128, 96, 96), blurred along z by sigma(lateral frequency) px,
    sampled every 2nd plane, with a little noise."""
    rng = np.random.default_rng(seed)
    tex = ndimage.gaussian_filter(rng.standard_normal((128, 96, 96)), 2.0)
    kz = np.fft.fftfreq(128)[:, None, None]
    kr = np.hypot(np.fft.fftfreq(96)[None, :, None], np.fft.rfftfreq(96)[None, None, :])
    transfer = np.exp(-2 * np.pi**2 * kz**2 * blur_sigma(kr) ** 2)
    out = np.fft.irfftn(np.fft.rfftn(tex) * transfer, s=tex.shape, axes=(0, 1, 2))[::2]
    return out + rng.normal(0, 0.002, out.shape)


def test_axial_blur_by_band_is_flat_for_one_gaussian_and_falls_for_a_missing_cone():
    freqs, flat = estimate_axial_bands(_texture(lambda k: 4.0 + 0 * k), 0.2, 0.1, 0.002)
    assert len(flat) >= 5 and np.all(np.diff(freqs) > 0)
    assert np.allclose(flat, 4.0, rtol=0.1)
    _, oblong = estimate_axial_bands(_texture(lambda k: 4.0 + 0 * k)[:, :72], 0.2, 0.1, 0.002)
    assert np.allclose(oblong, 4.0, rtol=0.1)  # xy planes need not be square
    # coarse lateral detail blurred along z over a longer range than fine detail (widefield)
    cone = lambda k: np.interp(k, [0.0, 0.05], [10.0, 2.0])  # noqa: E731
    _, sigmas = estimate_axial_bands(_texture(cone), 0.2, 0.1, 0.002)
    fine = np.median(sigmas[-3:])
    assert fine == pytest.approx(2.0, rel=0.15)
    assert sigmas[0] > 1.2 * fine


def test_band_blur_is_the_gaussian_blur_when_bands_agree_and_depends_on_lateral_frequency():
    rng = np.random.default_rng(4)
    img = ndimage.gaussian_filter(rng.standard_normal((64, 64)), 1.0)
    same = blur_axial_by_band(img, (0.0, 0.5), (3.0, 3.0))
    assert same.dtype == np.float32
    assert np.abs(same - ndimage.gaussian_filter1d(img, 3.0, axis=0)).max() < 1e-3 * img.std()
    # a pattern of lateral period 32 px is blurred along axis 0 by 8 px, one of period 4 by 1
    rows = rng.standard_normal((64, 1))
    x = np.arange(64)[None, :]
    for period, sigma in ((32, 8.0), (4, 1.0)):
        pattern = rows * np.cos(2 * np.pi * x / period)
        out = blur_axial_by_band(pattern, (1 / 32, 1 / 4), (8.0, 1.0))
        expected = ndimage.gaussian_filter1d(pattern, sigma, axis=0)
        inner = (slice(16, 48), slice(24, 40))
        assert np.abs(out - expected)[inner].max() < 0.1 * np.abs(expected[inner]).max()


def test_estimated_degradation_on_a_simulated_gaussian_case():
    case = simulate(SimulationConfig(structure="mixed", shape=(64, 128, 128), psf="gaussian",
                                     fwhm_lateral=0.25, fwhm_axial=1.5, z_step=2, snr=15, seed=3))
    deg = estimate_degradation(case.observed, case.voxel_size)
    true_extra = np.sqrt(1.5**2 - 0.25**2)
    assert deg.z_step == pytest.approx(2.0)
    assert deg.fwhm_axial_extra(0.1) == pytest.approx(true_extra, rel=0.35)
    sigma_px = true_extra / FWHM_PER_SIGMA / 0.1
    assert len(deg.band_sigmas) >= 3
    assert np.allclose(deg.band_sigmas, sigma_px, rtol=0.35)  # one Gaussian: the same per band
    sigma_true = case.stats["read_noise_std"]  # the read-noise part alone: a lower bound
    assert sigma_true * 0.8 < deg.noise_std < sigma_true * 2.0
    assert infocus_gain(deg, np.array([0.0, 0.5])) == pytest.approx(1.0, abs=0.2)


def test_gaussian_width_fits_a_sampled_gaussian_on_an_offset():
    t = np.arange(-5, 6) * 0.3
    assert gaussian_width(7.0 * np.exp(-t**2 / (2 * 0.4**2)) + 2.0, 0.3) == pytest.approx(0.4)
    assert np.isnan(gaussian_width(np.ones(11), 0.3))  # no peak: no width
    assert np.isnan(gaussian_width(np.array([1.0, 5.0, 1.0]), 0.3))  # 3 samples, 4 parameters


def test_coarsely_sampled_sparse_stack_gets_an_estimate_not_a_crash():
    # brain_cells-like sampling (5 um planes, 2 um pixels): 3 samples within a spot's
    # isolation distance along z and x, too few to fit a width (they stopped `restore` once)
    case = simulate(SimulationConfig(structure="beads", shape=(60, 96, 96), psf="confocal",
                                     na=1.2, z_step=3, snr=10, seed=4))
    deg = estimate_degradation(case.observed, (5.0, 2.0, 2.0))
    assert np.isfinite(deg.sigma_axial) and deg.noise_std > 0


def test_sparse_beads_get_their_axial_blur_from_point_sources():
    # 175-nm beads, confocal NA 1.2, every 3rd plane: the spectra are noise, the beads are not
    case = simulate(SimulationConfig(structure="beads", shape=(96, 192, 192), psf="confocal",
                                     na=1.2, z_step=3, snr=10, seed=4))
    deg = estimate_degradation(case.observed, case.voxel_size)
    assert deg.band_sigmas == () and deg.source == "point sources"
    lateral, axial = case.stats["psf_fwhm_lateral_um"], case.stats["psf_fwhm_axial_um"]
    assert deg.fwhm_axial_extra(0.1) == pytest.approx(np.sqrt(axial**2 - lateral**2), rel=0.2)


def test_infocus_gain_undoes_a_cone_and_leaves_flat_or_rising_bands_alone():
    f = np.array([0.01, 0.05, 0.1, 0.4])
    cone = Degradation(4.0, 2.0, 0.01, band_freqs=(0.01, 0.05, 0.1), band_sigmas=(10, 5, 2.5))
    assert infocus_gain(cone, f) == pytest.approx([1.0, 2.0, 4.0, 4.0])
    rising = Degradation(4.0, 2.0, 0.01, band_freqs=(0.01, 0.05, 0.1), band_sigmas=(3, 3.5, 4))
    assert infocus_gain(rising, f) == pytest.approx(np.ones(4))
    assert infocus_gain(rising.single_gaussian(), f) == pytest.approx(np.ones(4))
    sharp = Degradation(0.0, 3.0, 0.01, band_freqs=(0.01, 0.05, 0.1), band_sigmas=(0, 0, 0))
    assert infocus_gain(sharp, f) == pytest.approx(np.ones(4))  # no blur measured: no NaN


def test_refocus_undoes_the_out_of_focus_weight_of_each_band():
    # lateral bands weighted by sigma(f) / sigma(0), as a widefield stack's xy planes are
    rng = np.random.default_rng(5)
    truth = ndimage.gaussian_filter(rng.standard_normal((20, 80, 72)), 1.0) + 1.0
    deg = Degradation(4.0, 2.0, 0.01, band_freqs=(0.01, 0.05, 0.1), band_sigmas=(10, 5, 2.5))
    radial = np.hypot(np.fft.fftfreq(80)[:, None], np.fft.rfftfreq(72)[None, :])
    hazy = np.fft.irfft2(np.fft.rfft2(truth) / infocus_gain(deg, radial), s=(80, 72))
    sharp = refocus(hazy, deg)  # 20 planes: more than one chunk of 16
    assert sharp.shape == hazy.shape and sharp.dtype == np.float32
    inner = (slice(None), slice(16, -16), slice(16, -16))
    assert np.abs(hazy - truth)[inner].max() > 0.5 * truth.std()
    assert np.abs(sharp - truth)[inner].max() < 0.1 * truth.std()  # mirror vs periodic edges
    assert sharp.mean() == pytest.approx(hazy.mean(), rel=1e-3)  # the gain is 1 at f = 0
    assert np.array_equal(refocus(hazy, deg.single_gaussian()), hazy.astype(np.float32))


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


def test_forward_matrix_blurs_then_reads_every_z_step_th_plane():
    vol = np.random.default_rng(1).random((13, 4, 5))
    a = axial_forward_matrix(5, 13, 3.0, 1.5)
    expected = ndimage.gaussian_filter1d(vol, 1.5, axis=0, mode="reflect")[::3]
    got = np.einsum("ij,jyx->iyx", a, vol)
    assert np.allclose(got, expected)
    half = axial_forward_matrix(3, 6, 2.5, 0.0)  # plane 1 lies halfway between planes 2 and 3
    assert np.allclose(half[1], [0, 0, 0.5, 0.5, 0, 0])


def test_data_residual_is_one_for_the_truth_and_larger_for_a_wrong_volume():
    rng = np.random.default_rng(2)
    truth = ndimage.gaussian_filter(rng.random((25, 48, 48)), 2.0) * 10
    deg = Degradation(sigma_axial=2.0, z_step=3.0, noise_std=0.05)
    a = axial_forward_matrix(9, 25, 3.0, 2.0)
    observed = np.einsum("ij,jyx->iyx", a, truth) + rng.normal(0, 0.05, (9, 48, 48))
    assert data_residual(truth, observed, deg) == pytest.approx(1.0, abs=0.1)
    assert data_residual(np.roll(truth, 2, axis=0), observed, deg) > 3.0
