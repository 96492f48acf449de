import json

import numpy as np
import pytest

from isonb.choices import STRUCTURES
from isonb.io import read_stack
from isonb.simulate import SimulationConfig, save_case, simulate


def test_same_seed_same_arrays_other_seed_other_arrays():
    cfg = SimulationConfig(structure="mixed", shape=(21, 48, 48), seed=5)
    a, b = simulate(cfg), simulate(SimulationConfig(**{**cfg.__dict__}))
    np.testing.assert_array_equal(a.observed, b.observed)
    np.testing.assert_array_equal(a.gt, b.gt)
    c = simulate(SimulationConfig(structure="mixed", shape=(21, 48, 48), seed=6))
    assert not np.array_equal(a.observed, c.observed)


@pytest.mark.parametrize("structure", STRUCTURES)
def test_every_structure_has_signal(structure):
    case = simulate(SimulationConfig(structure=structure, shape=(33, 64, 64), seed=1))
    g = case.gt
    assert np.percentile(g, 99.9) > 3 * np.percentile(g, 10)


@pytest.mark.parametrize("z_step, n_obs, n_gt", [(1, 30, 30), (3, 10, 28), (4, 8, 29)])
def test_grids_follow_the_aligned_corner_convention(z_step, n_obs, n_gt):
    case = simulate(SimulationConfig(shape=(30, 40, 40), z_step=z_step, seed=0))
    assert case.observed.shape == (n_obs, 40, 40) and case.gt.shape == (n_gt, 40, 40)
    assert case.voxel_size == pytest.approx((0.1 * z_step, 0.1, 0.1))


def test_noise_meets_target_snr_and_gt_is_sharper_along_z(small_case):
    assert small_case.stats["snr_measured"] == pytest.approx(10.0, rel=0.02)
    c = small_case
    # the ground truth holds no axial blur: its z-profiles vary far more than the observed ones
    obs_dz = np.abs(np.diff(c.observed, axis=0)).mean() / c.observed.std()
    gt_dz = np.abs(np.diff(c.gt[:: c.config.z_step], axis=0)).mean() / c.gt.std()
    assert gt_dz > obs_dz * 0.5  # observed diffs are inflated by noise; gt has none
    lateral_gt = np.abs(np.diff(c.gt, axis=2)).mean() / c.gt.std()
    axial_gt = np.abs(np.diff(c.gt, axis=0)).mean() / c.gt.std()
    assert axial_gt == pytest.approx(lateral_gt, rel=0.5)  # gt is isotropic in character


def test_save_case_writes_voxel_sizes_and_meta(tmp_path, small_case):
    save_case(small_case, tmp_path / "case")
    obs = read_stack(tmp_path / "case" / "observed.tif")
    gt = read_stack(tmp_path / "case" / "gt.tif")
    assert obs.voxel_size == pytest.approx((0.2, 0.1, 0.1))
    assert gt.voxel_size == pytest.approx((0.1, 0.1, 0.1))
    meta = json.loads((tmp_path / "case" / "meta.json").read_text())
    assert meta["config"]["seed"] == 7 and meta["gt_shape"] == list(small_case.gt.shape)
    with pytest.raises(Exception, match="exists"):
        save_case(small_case, tmp_path / "case")
