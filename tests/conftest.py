"""Shared fixtures: small simulated cases, reused across tests."""

import numpy as np
import pytest

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
