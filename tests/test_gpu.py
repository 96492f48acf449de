"""On a CUDA GPU (skipped without one): the same restoration as on the CPU, in fp32 and in the
fp16 mixed precision that `--precision auto` picks there."""

import numpy as np
import pytest
import torch

from isonb import restore as R
from isonb.checkpoint import shipped_weights

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU")]


def _slices() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.random((4, 61, 700)).astype(np.float32)


@pytest.mark.parametrize("precision, bound", [("fp32", 1e-4), ("auto", 5e-3)])
def test_the_gpu_restores_as_the_cpu_does(precision, bound):
    images = _slices()
    cpu, cpu_std = R.restore_slices(R.load_network(shipped_weights(), "ldm", "cpu"), images,
                                    progress=False, precision="fp32")
    gpu, gpu_std = R.restore_slices(R.load_network(shipped_weights(), "ldm", "cuda"), images,
                                    progress=False, precision=precision)
    span = cpu.max() - cpu.min()
    assert np.abs(gpu - cpu).max() <= bound * span
    assert np.abs(gpu_std - cpu_std).max() <= bound * span


def test_the_batch_fits_the_gpu_and_tiles_agree():
    model = R.load_network(shipped_weights(), "ldm", "cuda")
    images = np.random.default_rng(1).random((20, 400, 1024)).astype(np.float32)
    whole, _ = R.restore_slices(model, images, progress=False, diffusion="off")
    tiled, _ = R.restore_slices(model, images, progress=False, diffusion="off", tile=256)
    assert np.abs(whole - tiled).max() <= 1e-2 * (whole.max() - whole.min())
    assert R.batch_size(model, (400, 1024), None) >= 2
