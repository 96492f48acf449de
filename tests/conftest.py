"""Shared fixtures: one small simulated case, reused across tests."""

import numpy as np
import pytest

from isonb.simulate import SimulationConfig, simulate


@pytest.fixture(scope="session")
def small_case():
    """A 33x64x64 mixed case, z_step 2, SNR 10, confocal NA 0.8 (axial/lateral FWHM ~5)."""
    return simulate(SimulationConfig(structure="mixed", shape=(33, 64, 64), psf="confocal",
                                     na=0.8, z_step=2, snr=10, seed=7))


@pytest.fixture
def rng():
    return np.random.default_rng(0)
