import numpy as np
import pytest

from isonb import volume as V
from isonb.errors import IsonbError


def test_isotropic_grid_for_non_integer_ratio():
    # dz/dx = 2.5: 5 planes span 10 dx, so 11 output planes at k/2.5 observed planes
    assert V.isotropic_depth(5, 0.25, 0.1) == 11
    np.testing.assert_allclose(V.isotropic_positions(5, 0.25, 0.1), np.arange(11) / 2.5)
    # rounding: (7 - 1) * 0.33 / 0.1 = 19.8 -> 21 planes, last one clamped to the last plane
    pos = V.isotropic_positions(7, 0.33, 0.1)
    assert len(pos) == 21 and pos[-1] == 6.0 and pos[10] == pytest.approx(10 * 0.1 / 0.33)


def test_reslice_is_exact_on_polynomials_along_z():
    z = np.arange(6, dtype=np.float64)
    ramp = np.broadcast_to((2 * z + 1)[:, None, None], (6, 3, 4))
    cubic = np.broadcast_to((z**3 - 2 * z)[:, None, None], (6, 3, 4))
    pos = V.isotropic_positions(6, 0.35, 0.1)
    lin = V.reslice_isotropic(ramp, 0.35, 0.1, order=1)
    assert lin.shape == (V.isotropic_depth(6, 0.35, 0.1), 3, 4)
    np.testing.assert_allclose(lin[:, 1, 2], 2 * pos + 1, rtol=1e-6)
    cub = V.reslice_isotropic(cubic, 0.35, 0.1, order=3)
    np.testing.assert_allclose(cub[:, 0, 0], pos**3 - 2 * pos, rtol=1e-5, atol=1e-5)


def test_reslice_keeps_observed_planes_and_isotropic_input():
    vol = np.random.default_rng(0).random((5, 4, 4)).astype(np.float32)
    iso = V.reslice_isotropic(vol, 0.3, 0.1)
    np.testing.assert_allclose(iso[::3], vol, atol=1e-6)
    np.testing.assert_array_equal(V.reslice_isotropic(vol, 0.1, 0.1), vol)
    with pytest.raises(IsonbError):
        V.reslice_isotropic(vol, 0.05, 0.1)


def test_reslice_by_blocks_of_rows_equals_one_block(monkeypatch):
    vol = np.random.default_rng(1).random((7, 10, 6)).astype(np.float32)
    whole = V.reslice_isotropic(vol, 0.35, 0.1)
    monkeypatch.setattr(V, "RESLICE_BLOCK", 19 * 6 * 3)  # 19 output planes: 3 rows per block
    np.testing.assert_array_equal(V.reslice_isotropic(vol, 0.35, 0.1), whole)


def test_planes_put_z_first():
    vol = np.arange(2 * 3 * 4).reshape(2, 3, 4)
    assert V.xz_planes(vol).shape == (3, 2, 4)
    assert V.yz_planes(vol).shape == (4, 2, 3)
    np.testing.assert_array_equal(V.xz_planes(vol)[1], vol[:, 1, :])
    np.testing.assert_array_equal(V.yz_planes(vol)[2], vol[:, :, 2])


@pytest.mark.parametrize("shape, patch, step", [((40, 52), (8, 8), 4), ((33, 20), (5, 7), 3),
                                                ((9, 12, 10), (3, 4, 5), 2)])
def test_patchify_matches_patchify_0_2_3(shape, patch, step):
    image = np.random.default_rng(0).random(shape)
    ours = V.patchify(image, patch, step)
    # the definition, written out
    grid = [(s - p) // step + 1 for s, p in zip(shape, patch)]
    for idx in np.ndindex(*grid):
        sl = tuple(slice(i * step, i * step + p) for i, p in zip(idx, patch))
        np.testing.assert_array_equal(ours[idx], image[sl])
    patchify = pytest.importorskip("patchify")  # CI installs it without its numpy<2 pin
    ref = patchify.patchify(image, patch, step)
    assert ours.shape == ref.shape
    np.testing.assert_array_equal(ours, ref)


def test_augment_never_swaps_axial_and_lateral(rng):
    patch = np.arange(6 * 10, dtype=np.float32).reshape(6, 10)  # z=6, x=10
    for _ in range(50):
        out = V.augment(patch, rng, lateral=False)
        assert out.shape == (6, 10)
        assert sorted(out[:, 0].tolist()) in (sorted(patch[:, 0].tolist()),
                                              sorted(patch[:, -1].tolist()))
    square = np.arange(64, dtype=np.float32).reshape(8, 8)
    seen = {V.augment(square, rng, lateral=True).tobytes() for _ in range(200)}
    assert len(seen) == 8  # all symmetries of the square for lateral patches
    assert len({V.augment(square, rng, lateral=False).tobytes() for _ in range(200)}) == 4


def test_sample_patches_prefers_foreground(rng):
    images = np.zeros((3, 64, 64), dtype=np.float32)
    images[:, 40:50, 10:20] = 1.0  # one bright square per image
    images += np.random.default_rng(3).normal(0, 0.01, images.shape).astype(np.float32)
    patches = V.sample_patches(images, (16, 16), 40, rng)
    assert patches.shape == (40, 16, 16)
    assert (patches.max(axis=(1, 2)) > 0.5).mean() > 0.9
    with pytest.raises(IsonbError, match="smaller than the patch"):
        V.sample_patches(images, (128, 128), 1, rng)
    corners = V.patch_corners(images, (16, 16), 40, np.random.default_rng(5))
    same = V.sample_patches(images, (16, 16), 40, np.random.default_rng(5))
    assert np.array_equal(V.cut_patches(images, corners, (16, 16)), same)  # the same draws
    assert np.array_equal(V.cut_patches(2 * images, corners, (16, 16)), 2 * same)
    assert V.sample_patches(images, (16, 16), 0, rng).shape == (0, 16, 16)


def test_normalize_inverts():
    x = np.random.default_rng(0).normal(100, 20, (5, 6, 7)).astype(np.float32)
    lo, hi = V.percentile_range(x)
    np.testing.assert_allclose(V.denormalize(V.normalize(x, lo, hi), lo, hi), x, rtol=1e-5)
    assert V.percentile_range(np.ones(10)) [1] > 1


def _awkward_volumes():
    """Continuous, tied, integer, constant and sparse volumes."""
    rng = np.random.default_rng(0)
    noise = rng.normal(size=(20, 30, 40))
    sparse = (rng.random((20, 30, 40)) < 0.01) * rng.random((20, 30, 40))
    return [noise.astype(np.float32), np.round(noise).astype(np.float32),
            rng.gamma(0.5, size=(33, 17, 29)), rng.integers(0, 5, (20, 30, 40)).astype(np.uint16),
            np.zeros((20, 30, 40), np.float32), sparse.astype(np.float32)]


def test_percentiles_by_blocks_equal_numpys_to_the_bit():
    qs = [0.1, 99.9, 0, 100, 50, 37.3]
    for v in _awkward_volumes():
        for q in (qs, 99.0):  # one q keeps a float32 volume's type, as numpy does
            by_blocks, whole = V.percentiles(v, q, block=500), np.percentile(v, q)
            np.testing.assert_array_equal(by_blocks, whole)
            assert np.asarray(by_blocks).dtype == np.asarray(whole).dtype
    with_nan = _awkward_volumes()[0].copy()
    with_nan[3, 4, 5] = np.nan
    np.testing.assert_array_equal(V.percentiles(with_nan, qs, block=500),
                                  np.percentile(with_nan, qs))
    ties = np.round(np.random.default_rng(1).normal(size=5000))
    ranks = [0, 1, 2500, 4999]
    found = V._order_statistics(lambda: iter([ties]), ranks, ties.min(), ties.max(), 0, limit=3)
    assert [found[r] for r in ranks] == list(np.sort(ties)[ranks])  # bins searched again


def test_local_maxima_by_slabs_are_skimages_peaks():
    from scipy.ndimage import gaussian_filter
    from skimage.feature import peak_local_max

    spots = gaussian_filter(np.random.default_rng(2).normal(size=(40, 60, 60)), 1.5)
    volumes = _awkward_volumes() + [spots]
    for v in volumes:
        for min_distance in (1, 2, 6):
            threshold = np.percentile(v, 99) if v.any() else 0.0
            expected = peak_local_max(v, min_distance=min_distance, threshold_abs=threshold,
                                      exclude_border=1)
            for block in (1, 2000, 10**6):  # one plane, a few planes, the whole volume
                found = V.local_maxima(v, min_distance, threshold, block=block)
                np.testing.assert_array_equal(found, expected.reshape(-1, 3))
    assert len(V.local_maxima(volumes[-1], 6, np.percentile(volumes[-1], 99))) > 10


def test_orientation_fusion_takes_each_view_along_its_slices(rng):
    """Restoring slice by slice leaves each view an error that varies across its slices only
    (xz: along y, yz: along x); the orientation fusion removes most of both, the mean only
    halves them; where the views agree, both fusions return them."""
    y, x = np.mgrid[:96, :128]
    truth = np.broadcast_to(np.sin(x / 5.0) * np.cos(y / 7.0), (4, 96, 128)).astype(np.float32)
    xz = truth + rng.normal(0, 1, (4, 96, 1)).astype(np.float32)
    yz = truth + rng.normal(0, 1, (4, 1, 128)).astype(np.float32)

    def rms(v: np.ndarray) -> float:
        return float(np.sqrt(np.mean((v - truth) ** 2)))

    mean, oriented = V.fuse_views(xz, yz), V.fuse_views(xz, yz, "orientation")
    assert rms(mean) == pytest.approx(np.sqrt(0.5), rel=0.1)
    assert rms(oriented) < 0.3 * rms(mean)
    assert np.abs(V.fuse_views(truth, truth, "orientation") - truth).max() < 1e-5
    with pytest.raises(IsonbError, match="fusion"):
        V.fuse_views(xz, yz, "median")
    with pytest.raises(IsonbError, match="unknown fusion 'median'; Fix"):
        V.resolve_fusion("median", is_ldm=True)
    assert V.resolve_fusion("auto", is_ldm=True, output="sample") == "average"
