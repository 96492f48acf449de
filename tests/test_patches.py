"""Training data: patch pools, pairs, recorruption, and prepared sets that train reads."""

import json

import numpy as np
import pytest

from isonb import patches as P
from isonb.cli import main
from isonb.degrade import Degradation
from isonb.patches import PairSampler
from isonb.train import train


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


def test_the_central_window_bounds_the_isotropic_voxels_restored_for_retargeting():
    y, x = P.central_window((100, 2048, 1024), 5.0, 64)[1:]  # 496 isotropic planes
    h, w = y.stop - y.start, x.stop - x.start
    assert 496 * h * w <= P.WINDOW_VOXELS and abs(h - 2 * w) <= 1  # the aspect kept
    assert abs(y.start - (2048 - y.stop)) <= 1  # centred
    assert P.central_window((30, 100, 90), 1.0, 64)[1:] == (slice(0, 100), slice(0, 90))
    y, x = P.central_window((400, 100, 90), 4.0, 64, voxels=10**5)[1:]
    assert (y.stop - y.start, x.stop - x.start) == (64, 64)  # never below a patch


def test_retargeted_pairs_take_the_restored_planes_nearest_the_observed_ones():
    rng = np.random.default_rng(0)
    # two stacks: 7 observed planes at dz/dx 2.5 (isotropic 16), 5 planes at dz/dx 1
    restored = [np.arange(16, dtype=np.float32)[:, None, None] * np.ones((1, 40, 40)),
                100 + np.arange(5, dtype=np.float32)[:, None, None] * np.ones((1, 40, 40))]
    degs = [Degradation(1.0, 2.5, 0.01), Degradation(1.0, 1.0, 0.01)]
    old = PairSampler(np.zeros((30, 16, 16), np.float32), degs, np.repeat([0, 1], [20, 10]),
                      rng, transform=np.negative)
    new = P.retargeted(old, restored, [2.5, 1.0], rng)
    assert new.patches.shape == (30, 16, 16) and np.array_equal(new.source, old.source)
    assert new.degradations is degs and new.transform is np.negative and new.rng is rng
    first = set(new.patches[new.source == 0, 0, 0])
    assert first <= {0, 2, 5, 8, 10, 12, 15} and len(first) > 3  # round(k * 2.5), k = 0..6
    assert set(new.patches[new.source == 1, 0, 0]) <= {100, 101, 102, 103, 104}


def test_non_square_fields_give_axial_patches_from_both_families(tmp_path, stack):
    from isonb.io import read_stack, write_stack

    _, case = stack
    wide = read_stack(write_stack(tmp_path / "wide.tif", case.observed[:, 12:52, :],
                                  case.voxel_size))
    data = P.prepare([wide], patch=32, n_patches=120)
    assert data.axial.shape[1:] == (32, 32) and len(data.axial) == len(data.xy)


def test_axial_patches_are_drawn_as_from_the_resliced_volume_without_holding_it():
    from isonb.volume import reslice_isotropic, sample_patches, xz_planes, yz_planes

    x = np.random.default_rng(0).random((12, 70, 70)).astype(np.float32)
    iso = reslice_isotropic(x, 0.35, 0.1)  # 39 planes
    both = np.concatenate([xz_planes(iso), yz_planes(iso)])
    pool = P.PlanePool(P.AxialPlanes(x, 0.35, 0.1, "xz"), P.AxialPlanes(x, 0.35, 0.1, "yz"))
    assert pool.shape == both.shape
    np.testing.assert_array_equal(pool[75], both[75])  # a yz plane
    np.testing.assert_array_equal(pool[75, 3:9, 10:20], both[75, 3:9, 10:20])
    np.testing.assert_array_equal(
        P.axial_patches(x, 0.35, 0.1, 16, 50, np.random.default_rng(3)),
        sample_patches(both, (16, 16), 50, np.random.default_rng(3)))
    wide = x[:, :40]
    iso = reslice_isotropic(wide, 0.35, 0.1)
    n_xz = 50 * 40 // 110
    rng = np.random.default_rng(4)
    expected = np.concatenate([sample_patches(xz_planes(iso), (16, 16), n_xz, rng),
                               sample_patches(yz_planes(iso), (16, 16), 50 - n_xz, rng)])
    np.testing.assert_array_equal(P.axial_patches(wide, 0.35, 0.1, 16, 50,
                                                  np.random.default_rng(4)), expected)
    with pytest.raises(IndexError):
        pool[140]


def test_training_reads_exactly_what_was_prepared(tmp_path, stack, tiny_config):
    obs, _ = stack
    cfg = tiny_config(6)
    P.save(P.prepare([obs], cfg.patch, cfg.n_patches, cfg.seed), tmp_path / "set")
    loaded = P.load(tmp_path / "set")
    again = P.prepare([obs], cfg.patch, cfg.n_patches, cfg.seed)
    assert np.array_equal(loaded.xy, again.xy) and np.array_equal(loaded.axial, again.axial)
    assert loaded.degradations == again.degradations
    assert len(loaded.windows) == 1 and np.array_equal(loaded.windows[0], again.windows[0])
    assert loaded.rng.random() == again.rng.random()  # the generator where prepare left it
    train([obs], tmp_path / "direct", cfg, progress=False)
    train(P.load(tmp_path / "set"), tmp_path / "prepared", cfg, progress=False)
    direct, prepared = ((tmp_path / f / "weights.safetensors").read_bytes()
                        for f in ("direct", "prepared"))
    assert direct == prepared


def test_cli_prepare_then_train_on_the_prepared_set(tmp_path, stack, capsys):
    obs, _ = stack
    assert main(["prepare", str(obs.path), "--out", str(tmp_path / "set"), "--patch", "32",
                 "--patches", "100"]) == 0
    assert P.is_prepared(tmp_path / "set")
    assert main(["prepare", str(obs.path), "--out", str(tmp_path / "set")]) == 2  # exists
    assert "exists already" in capsys.readouterr().err
    assert main(["train", str(tmp_path / "set"), "--out", str(tmp_path / "w"), "--quick",
                 "--patch", "48"]) == 2
    assert "prepared set" in capsys.readouterr().err
    assert main(["train", str(tmp_path / "set"), str(obs.path), "--out",
                 str(tmp_path / "w")]) == 2  # a prepared set is trained on alone


def test_a_set_prepared_without_windows_trains_without_retargeting(tmp_path, stack, tiny_config,
                                                                    capsys):
    obs, _ = stack
    cfg = tiny_config(4)
    folder = P.save(P.prepare([obs], cfg.patch, cfg.n_patches, cfg.seed), tmp_path / "set")
    with np.load(folder / P.PATCHES) as f:  # as an isonb before retargeting wrote it
        np.savez(folder / P.PATCHES, **{k: f[k] for k in ("xy", "axial", "source")})
    assert P.load(folder).windows == []
    train(P.load(folder), tmp_path / "w", cfg, progress=False)
    assert "retarget: skipped" in capsys.readouterr().out
    assert json.loads((tmp_path / "w" / "model.json").read_text())["retarget"] is None
