"""Restoring into files with bounded memory (`isonb.streaming`)."""

import numpy as np
import pytest

from isonb.baselines import interpolate
from isonb.errors import IsonbError
from isonb.io import Stack, read_stack
from isonb.streaming import restore_to_file


def test_interpolation_streamed_into_its_file_equals_the_volume_in_memory(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    data = rng.random((9, 20, 14)).astype(np.float32)
    stacks = [Stack(data, (0.3, 0.1, 0.1), tmp_path / "a.tif"),
              Stack(data[::-1].copy(), (0.3, 0.1, 0.1), tmp_path / "a.tif")]
    monkeypatch.setattr("isonb.volume.RESLICE_BLOCK", 25 * 14 * 3)  # 3 rows at a time
    for method, order in (("cubic", 3), ("linear", 1)):
        shape = restore_to_file(stacks[:1], tmp_path / f"{method}.tif", None, method)
        assert shape == (25, 20, 14)
        np.testing.assert_array_equal(read_stack(tmp_path / f"{method}.tif").data,
                                      interpolate(data, (0.3, 0.1, 0.1), order=order))
    assert restore_to_file(stacks, tmp_path / "two.tif", None, "cubic") == (25, 2, 20, 14)
    both = read_stack(tmp_path / "two.tif", channel=1).data
    np.testing.assert_array_equal(both, interpolate(data[::-1], (0.3, 0.1, 0.1)))


def test_a_map_asked_of_a_method_without_one_is_refused(tmp_path):
    stack = Stack(np.random.default_rng(1).random((5, 8, 8)).astype(np.float32),
                  (0.2, 0.1, 0.1), tmp_path / "a.tif")
    with pytest.raises(IsonbError, match="only the LDM"):
        restore_to_file([stack], tmp_path / "c.tif", None, "cubic", spread=tmp_path / "u.tif")


def test_richardson_lucy_that_memory_cannot_hold_is_refused_before_any_work(tmp_path,
                                                                            monkeypatch):
    from isonb.baselines.classic import rl_memory
    from isonb.psf import gaussian_psf

    stack = Stack(np.random.default_rng(2).random((6, 16, 16)).astype(np.float32),
                  (0.3, 0.1, 0.1), tmp_path / "in.tif")
    psf = gaussian_psf(0.25, 0.9, 0.1)
    need = rl_memory(stack.data.shape, stack.voxel_size, psf.shape)
    assert need == 64 * (16 + 46) * (16 + 16) ** 2  # 16 output planes, padded by half the PSF
    monkeypatch.setattr("isonb.streaming.available_memory", lambda: need - 1)
    with pytest.raises(IsonbError, match=r"in\.tif: Richardson-Lucy holds the whole isotropic "
                                         r"volume.*Fix: restore a crop"):
        restore_to_file([stack], tmp_path / "rl.tif", None, "rl", psf=psf)
    assert not (tmp_path / "rl.tif").exists()
    monkeypatch.setattr("isonb.streaming.available_memory", lambda: need)
    assert restore_to_file([stack], tmp_path / "rl.tif", None, "rl", psf=psf) == (16, 16, 16)
