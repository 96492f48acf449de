"""Shared fixtures: small simulated cases, reused across tests."""

import numpy as np
import pytest
import torch

from isonb.io import read_stack, write_stack
from isonb.simulate import SimulationConfig, simulate


@pytest.fixture(scope="session")
def small_case():
    """A 33x64x64 mixed case, z_step 2, SNR 10, confocal NA 0.8 (axial/lateral FWHM ~5)."""
    return simulate(SimulationConfig(structure="mixed", shape=(33, 64, 64), psf="confocal",
                                     na=0.8, z_step=2, snr=10, seed=7))


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    """A 41x64x64 mixed case written as observed.tif (+ gt.tif): (Stack, the simulation)."""
    case = simulate(SimulationConfig(structure="mixed", shape=(41, 64, 64), psf="confocal",
                                     na=0.8, z_step=2, snr=10, seed=21))
    path = tmp_path_factory.mktemp("stack") / "observed.tif"
    write_stack(path, case.observed, case.voxel_size)
    write_stack(path.with_name("gt.tif"), case.gt, case.gt_voxel_size)
    return read_stack(path), case


@pytest.fixture
def tiny_ldm():
    """A small LDM with random weights (seed 0) that keeps the diffusion's whole correction."""
    from isonb import ldm as L
    from isonb.models.autoencoder import AutoencoderConfig
    from isonb.models.unet import UNetConfig

    torch.manual_seed(0)
    model = L.LDM(L.LDMConfig(AutoencoderConfig(ch=8, latent_ch=4), UNetConfig(1, 1, 8, (1, 2, 4)),
                              UNetConfig(12, 4, 16, (1, 2), time=True))).eval()
    model.refine_weight.fill_(1.0)
    return model
