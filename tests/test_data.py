import pytest

from isonb.data import DEFAULT_CONFIGS, default_dataset
from isonb.io import read_stack


@pytest.mark.slow
def test_default_dataset_is_made_once_and_cached(tmp_path):
    ds = default_dataset(tmp_path / "default", verbose=False)
    assert len(ds.train) == 2 and all(p.exists() for p in ds.train)
    obs, gt = read_stack(ds.test), read_stack(ds.test_gt)
    cfg = DEFAULT_CONFIGS["test"]
    assert obs.voxel_size[0] == cfg.z_step * obs.voxel_size[2]
    assert gt.data.shape == ((obs.data.shape[0] - 1) * cfg.z_step + 1, *obs.data.shape[1:])
    stamp = ds.test.stat().st_mtime_ns
    again = default_dataset(tmp_path / "default", verbose=False)
    assert again.test.stat().st_mtime_ns == stamp


def test_generalist_cases_span_the_benchmark_ranges():
    from isonb.data import GENERALIST_STRUCTURES, generalist_configs

    cfgs = generalist_configs(40)
    assert {c.psf for c in cfgs} == {"gaussian", "widefield", "confocal"}
    assert {c.z_step for c in cfgs} == {1, 2, 3, 4}
    assert all(5 <= c.snr <= 20 for c in cfgs)
    assert not {c.seed for c in cfgs} & {11, 12, 13, 14, 15, 16, 17, 18, 1001, 1002, 2001}
    every = GENERALIST_STRUCTURES + ("beads",)
    balanced = generalist_configs(len(every), 6000, structures=every, balanced=True)
    assert sorted(c.structure for c in balanced) == sorted(every)  # each structure, in turn
    assert generalist_configs(12) == generalist_configs(12, structures=GENERALIST_STRUCTURES)


def test_quick_mode_makes_the_same_stacks_on_a_smaller_field(tmp_path):
    from isonb.data import QUICK_CONFIGS

    ds = default_dataset(tmp_path / "quick", verbose=False, quick=True)
    assert read_stack(ds.test).data.shape[1:] == (128, 128)
    assert QUICK_CONFIGS["test"].seed == DEFAULT_CONFIGS["test"].seed
