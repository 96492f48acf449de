import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402

from isonb import viewer as V  # noqa: E402


def test_orthogonal_views_and_profiles():
    vol = np.zeros((20, 30, 40))
    vol[10, 15, 20] = 1.0
    planes = V.orthogonal_views(vol)
    assert planes["xy"].shape == (30, 40) and planes["xz"].shape == (20, 40)
    assert planes["yz"].shape == (20, 30)
    assert V.brightest_point(vol, margin=2) == (10, 15, 20)
    prof = V.profiles(vol, (10, 15, 20), half=5)
    assert prof["axial (z)"].argmax() == 5 and prof["lateral (x)"].argmax() == 5


def test_figures_are_made_and_saved(tmp_path):
    rng = np.random.default_rng(0)
    vols = {"a": rng.random((16, 32, 32)), "b": rng.random((16, 32, 32))}
    path = V.save_comparison(vols, tmp_path / "c.png", views=("xy", "xz", "yz"))
    assert path.stat().st_size > 1000
    fig = V.comparison_figure(vols, ("xz",), point=(3, 4, 5), percentiles=(1, 99))
    assert len(fig.axes) == 2
    assert len(V.profile_figure(vols, (8, 16, 16)).axes) == 2
    rows = [{"method": "a", "ssim": 0.5, "psnr": 20, "coc": 0.9, "ssim_xy": 0.5}]
    assert len(V.metric_bars(rows).axes) == 4
    assert len(V.error_maps(vols, vols["a"]).axes) == 2
    assert len(V.montage(vols["a"], 8).axes) == 8


def test_an_uncertainty_map_gets_a_colour_map_from_zero_and_a_labelled_colour_bar():
    rng = np.random.default_rng(0)
    vols = {"restored": rng.random((16, 32, 32)), "uncertainty (LDM)": 2 + rng.random((16, 32, 32))}
    fig = V.comparison_figure(vols, ("xy", "xz"))
    assert len(fig.axes) == 4 + 2  # a colour bar beside each of the map's two views
    images = [ax.images[0] for ax in fig.axes if ax.images]  # row by row: xy, then xz
    assert images[0].get_cmap().name == "gray" and images[1].get_cmap().name == "magma"
    assert images[1].get_clim()[0] == 0.0  # a spread is read from zero
    assert "intensity units" in fig.axes[-2].get_ylabel()


def test_view_without_widgets_shows_a_static_picture(monkeypatch):
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj: shown.append(obj))
    assert V.view({"a": np.random.default_rng(1).random((8, 16, 16))}, interactive=False) is None
    assert len(shown) == 1 and shown[0].format == "jpeg"  # small enough for saved notebooks
    assert shown[0].data[:3] == b"\xff\xd8\xff" and len(shown[0].data) > 2000


def test_a_large_volumes_contrast_comes_from_spaced_planes_close_to_the_whole(monkeypatch):
    vol = np.random.default_rng(2).gamma(2.0, size=(60, 40, 40)).astype(np.float32)
    whole = V.display_range(vol)
    monkeypatch.setattr(V, "DISPLAY_VOXELS", vol.size // 6)
    spaced = V.display_range(vol)
    assert spaced != whole  # every 6th plane only
    assert np.allclose(spaced, whole, rtol=0.05)
