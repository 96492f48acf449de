from isonb.data import DEFAULT_CONFIGS, default_dataset
from isonb.io import read_stack


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
