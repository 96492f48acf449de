import numpy as np
import pytest
from scipy import ndimage
from skimage.metrics import structural_similarity

from isonb import metrics as M
from isonb.errors import IsonbError


@pytest.fixture
def pair():
    rng = np.random.default_rng(0)
    g = ndimage.gaussian_filter(rng.random((16, 20, 24)), 1.5)
    p = g + 0.05 * rng.standard_normal(g.shape)
    return p, g


def test_perfect_and_affinely_scaled_predictions_score_perfectly(pair):
    _, g = pair
    for pred in (g, 3.0 * g - 7.0):
        s = M.evaluate(pred, g)
        assert s["ssim"] == pytest.approx(1.0) and s["ssim_xy"] == pytest.approx(1.0)
        assert s["coc"] == pytest.approx(1.0) and s["mse"] == pytest.approx(0.0, abs=1e-20)


def test_scores_against_a_hand_computation(pair):
    p, g = pair
    lo, hi = np.percentile(g, [0.1, 99.9])
    gs = (g - lo) / (hi - lo)
    a, b = np.polyfit(p.ravel(), gs.ravel(), 1)  # least-squares affine fit
    ps = a * p + b
    mse = np.mean((ps - gs) ** 2)
    ssim_xz = [structural_similarity(ps[:, y], gs[:, y], data_range=1) for y in range(20)]
    ssim_yz = [structural_similarity(ps[:, :, x], gs[:, :, x], data_range=1) for x in range(24)]
    ssim_xy = [structural_similarity(ps[z], gs[z], data_range=1) for z in range(16)]
    s = M.evaluate(p, g)
    assert s["mse"] == pytest.approx(mse, rel=1e-9)
    assert s["psnr"] == pytest.approx(10 * np.log10(1 / mse), rel=1e-9)
    assert s["coc"] == pytest.approx(np.corrcoef(p.ravel(), g.ravel())[0, 1], rel=1e-9)
    assert s["ssim"] == pytest.approx(np.mean(ssim_xz + ssim_yz), rel=1e-9)
    assert s["ssim_xy"] == pytest.approx(np.mean(ssim_xy), rel=1e-9)


def test_shape_mismatch_is_explained(pair):
    p, g = pair
    with pytest.raises(IsonbError, match="isotropic grid"):
        M.evaluate(p[:-1], g)


def test_worse_prediction_scores_worse(pair):
    p, g = pair
    blurred = ndimage.gaussian_filter(g, (3, 0, 0))
    assert M.evaluate(blurred, g)["ssim"] < M.evaluate(g, g)["ssim"]
    assert M.evaluate(p, g)["psnr"] > M.evaluate(p + 0.2 * np.random.default_rng(1)
                                                .standard_normal(p.shape), g)["psnr"]


def _spots(sigmas, seed=0):
    rng = np.random.default_rng(seed)
    v = np.zeros((64, 96, 96))
    for _ in range(40):
        v[tuple(rng.integers(16, s - 16) for s in v.shape)] = 1.0
    return ndimage.gaussian_filter(v, sigmas)


def test_fwhm_ratio_measures_axial_elongation():
    assert M.fwhm_ratio(_spots((1.5, 1.5, 1.5))) == pytest.approx(1.0, abs=0.1)
    assert M.fwhm_ratio(_spots((4.5, 1.5, 1.5))) == pytest.approx(3.0, rel=0.15)


def test_fwhm_ratio_measures_only_point_like_structures():
    spots = _spots((4.5, 1.5, 1.5))  # 40 spots, axial / lateral FWHM 3
    blobs = _spots((4.0, 4.0, 4.0), seed=1)  # 40 round objects: their FWHM is their size
    mixed = spots / spots.max() + blobs / blobs.max()
    assert M.fwhm_ratio(mixed) == pytest.approx(3.0, rel=0.15)
    found = M.small_structures(mixed)
    assert len(found) >= 10 and all(lat < 6 for _, _, lat in found)  # the spots alone


def test_spectral_ratio_is_one_for_isotropic_and_below_for_axial_blur():
    noise = np.random.default_rng(0).standard_normal((64, 64, 64))
    iso = ndimage.gaussian_filter(noise, 1.0)
    assert M.spectral_ratio(iso) == pytest.approx(1.0, abs=0.05)
    assert M.spectral_ratio(ndimage.gaussian_filter(noise, (3.0, 1.0, 1.0))) < 0.2


def test_markdown_table_and_csv(tmp_path):
    rows = [{"method": "cubic", "ssim": 0.5, "psnr": 22.123}, {"method": "ours", "ssim": 0.7,
                                                              "psnr": 25.0}]
    table = M.markdown_table(rows)
    assert table.splitlines()[0] == "| method | ssim | psnr |"
    assert "| ours | 0.7000 | 25.00 |" in table
    text = open(M.write_csv(rows, str(tmp_path / "m.csv"))).read()
    assert text.splitlines()[0] == "method,ssim,psnr" and "22.123" in text


def test_axis_power_share_sees_a_grid_of_lines_and_not_texture():
    rng = np.random.default_rng(0)
    texture = ndimage.gaussian_filter(rng.random((8, 96, 96)), (0, 2, 2))
    share = M.axis_power_share(texture)
    assert share < 0.15  # isotropic texture: little power on the two axes
    lines = texture.copy()
    lines += 0.05 * rng.standard_normal((8, 96, 1))  # each row a constant offset (xz slices)
    lines += 0.05 * rng.standard_normal((8, 1, 96))  # each column too (yz slices)
    assert M.axis_power_share(lines) > share + 0.3


def test_block_by_block_scores_equal_the_whole_volume_scores():
    rng = np.random.default_rng(0)
    g = ndimage.gaussian_filter(rng.random((40, 70, 90)), 2).astype(np.float32)
    p = (g + 0.02 * rng.standard_normal(g.shape)).astype(np.float32) * -3 + 1  # a < 0 too
    whole, blocks = M.evaluate(p, g), M.evaluate_by_blocks(p, g, block=20000)
    assert blocks == pytest.approx(whole, rel=1e-12)


def test_axis_spectra_by_blocks_equal_the_whole_volume_spectra():
    v = ndimage.gaussian_filter(np.random.default_rng(2).random((30, 40, 50)), 1.5)
    for axis in range(3):
        f, whole = M.axis_spectrum(v, axis)
        f2, blocks = M.axis_spectrum(v, axis, block=3000)  # a few rows of one axis at a time
        np.testing.assert_array_equal(f, f2)
        np.testing.assert_allclose(blocks, whole, rtol=1e-10)
    centred = (v - v.mean()) * np.hanning(30)[:, None, None]
    by_hand = (np.abs(np.fft.rfft(centred, axis=0)) ** 2).mean((1, 2))
    np.testing.assert_allclose(M.axis_spectrum(v, 0, block=3000)[1], by_hand, rtol=1e-10)


def test_spectrum_to_truth_says_smoother_or_rougher_than_the_truth_along_each_axis():
    spectrum_to_truth, gaussian_filter = M.spectrum_to_truth, ndimage.gaussian_filter
    rng = np.random.default_rng(0)
    gt = gaussian_filter(rng.random((40, 48, 56)), 1.0)
    assert spectrum_to_truth(2.0 * gt + 5.0, gt) == pytest.approx((0.0, 0.0), abs=1e-9)
    smooth_z = gaussian_filter(gt, (2, 0, 0))  # blurred along z only
    z_db, z_gap = spectrum_to_truth(smooth_z, gt, axis=0)
    x_db, _ = spectrum_to_truth(smooth_z, gt, axis=2)
    assert z_db < -10 and z_gap < -1.05 * z_db and abs(x_db) < z_gap / 5  # smoother along z
    gaps = [spectrum_to_truth(gt + s * rng.standard_normal(gt.shape), gt)[1] for s in (0.02, 0.1)]
    assert 0.1 < gaps[0] < gaps[1]  # noise moves the spectrum away from the truth's
