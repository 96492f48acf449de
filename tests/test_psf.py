import numpy as np
import pytest

from isonb import psf as P


@pytest.mark.parametrize("na, n", [(0.8, 1.33), (1.2, 1.33), (1.4, 1.515)])
def test_widefield_and_confocal_fwhm_match_theory(na, n):
    dx = 0.04
    h = P.widefield_psf(na, n, 0.52, dx)
    ax, lat = P.psf_fwhm(h, (dx, dx, dx))
    t_lat, t_ax = P.theoretical_fwhm(na, n, 0.52, confocal=False)
    assert lat == pytest.approx(t_lat, rel=0.08) and ax == pytest.approx(t_ax, rel=0.08)
    h = P.confocal_psf(na, n, 0.488, 0.52, dx)
    ax, lat = P.psf_fwhm(h, (dx, dx, dx))
    t_lat, t_ax = P.theoretical_fwhm(na, n, 0.504, confocal=True)
    assert lat == pytest.approx(t_lat, rel=0.08) and ax == pytest.approx(t_ax, rel=0.08)
    assert h.sum() == pytest.approx(1.0, rel=1e-5) and h.shape[0] % 2 == 1


def test_gaussian_psf_fwhm_and_symmetry():
    h = P.gaussian_psf(0.3, 1.2, dx=0.05, dz=0.1)
    ax, lat = P.psf_fwhm(h, (0.1, 0.05, 0.05))
    assert ax == pytest.approx(1.2, rel=0.03) and lat == pytest.approx(0.3, rel=0.03)
    np.testing.assert_allclose(h, h[::-1, ::-1, ::-1], rtol=1e-6)
    plane = P.lateral_psf(h)
    assert plane.shape == h.shape[1:] and plane.sum() == pytest.approx(1.0, rel=1e-6)


def test_fwhm_1d_by_hand():
    triangle = np.array([0, 0, 1, 2, 3, 4, 3, 2, 1, 0, 0], dtype=float)
    assert P.fwhm_1d(triangle) == pytest.approx(4.0)  # half height 2 at x=3 and x=7
    assert P.fwhm_1d(triangle, spacing=0.5) == pytest.approx(2.0)
    assert np.isnan(P.fwhm_1d(np.array([4.0, 3, 2])))
