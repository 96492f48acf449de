"""The chunked restoration on dask (a local cluster) gives the in-memory result."""

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from isonb import ldm as L
from isonb.restore import restore_network

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
zarr = pytest.importorskip("zarr")
from isonb.chunked import block_sizes, restore_dask  # noqa: E402


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as c:
        yield c


def wide_stack() -> np.ndarray:
    rng = np.random.default_rng(5)
    return (gaussian_filter(rng.random((5, 264, 272)), (0.5, 2, 2)) * 1000).astype(np.float32)


@pytest.mark.slow
@pytest.mark.parametrize("diffusion, fusion, output", [
    ("off", "average", "mean"), ("on", "average", "mean"), ("off", "orientation", "mean"),
    ("auto", "average", "sample")])
def test_dask_blocks_on_a_local_cluster_equal_the_in_memory_path(tiny_ldm, tmp_path, client,
                                                                  diffusion, fusion, output):
    L.save(tiny_ldm, tmp_path / "w", {"seed": 0})
    data = wide_stack()
    store = tmp_path / "stack.zarr"
    zarr.create_array(store, shape=data.shape, chunks=(5, 100, 100), dtype="float32")[:] = data
    voxel = (0.3, 0.1, 0.1)
    kw = dict(samples=1, steps=1, seed=3, diffusion=diffusion, fusion=fusion, output=output)
    lazy = restore_dask(da.from_zarr(str(store)), voxel, tmp_path / "w", chunk=128, **kw)
    assert lazy.numblocks[1:] == (2, 2)  # 264 = 128 + 136, 272 = 128 + 144: seams
    chunked = client.compute(lazy).result()
    memory, _ = restore_network(data, voxel, tiny_ldm, progress=False, uncertainty=False, **kw)
    assert chunked.shape == memory.shape == (13, 264, 272)
    assert np.abs(chunked - memory).max() <= 1e-4 * np.ptp(memory)


def test_block_sizes_keep_halos_inside_neighbours():
    assert block_sizes(200, 64, 128) == (64, 64, 72)
    assert block_sizes(1030, 512, 128) == (512, 518)
    assert block_sizes(100, 512, 64) == (100,)
