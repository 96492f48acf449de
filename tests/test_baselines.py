import numpy as np

from isonb import metrics
from isonb.baselines import interpolate, richardson_lucy
from isonb.volume import isotropic_depth


def test_interpolation_lands_on_the_isotropic_grid(small_case):
    c = small_case
    for order in (1, 3):
        out = interpolate(c.observed, c.voxel_size, order)
        assert out.shape == c.gt.shape
        assert out.shape[0] == isotropic_depth(c.observed.shape[0], *c.voxel_size[::2])
        np.testing.assert_allclose(out[:: c.config.z_step], c.observed, rtol=1e-4, atol=1e-2)


def test_richardson_lucy_with_the_true_psf_beats_cubic(small_case):
    c = small_case
    cubic = metrics.evaluate(interpolate(c.observed, c.voxel_size), c.gt)
    rl = metrics.evaluate(richardson_lucy(c.observed, c.voxel_size, c.psf, 20), c.gt)
    assert rl["ssim"] > cubic["ssim"] and rl["psnr"] > cubic["psnr"]
