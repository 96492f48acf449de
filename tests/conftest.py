"""Shared fixtures: small simulated cases, tiny models and the training tests' helpers."""

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from isonb import ldm as L
from isonb.io import read_stack, write_stack
from isonb.models.autoencoder import AutoencoderConfig
from isonb.models.unet import UNetConfig
from isonb.simulate import SimulationConfig, simulate
from isonb.train import TrainConfig, train


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


TINY = L.LDMConfig(AutoencoderConfig(ch=8, latent_ch=4), UNetConfig(1, 1, 8, (1, 2, 4)),
                   UNetConfig(12, 4, 16, (1, 2), time=True))


def make_tiny_config(steps: int = 20, **kw) -> TrainConfig:
    base = dict(patch=32, n_patches=120, batch=8, autoencoder_steps=steps,
                regressor_steps=steps, retarget_steps=steps, diffusion_steps=steps,
                checkpoint_every=10, model=TINY)
    return TrainConfig(**{**base, **kw})


def watch_optimizer_steps(monkeypatch, before_step=lambda n: None) -> list[int]:
    """Count AdamW steps (the list of their numbers), calling before_step(n) before each."""
    steps: list[int] = []
    real_step = torch.optim.AdamW.step

    def step(self, *a, **k):
        steps.append(len(steps) + 1)
        before_step(steps[-1])
        return real_step(self, *a, **k)

    monkeypatch.setattr(torch.optim.AdamW, "step", step)
    return steps


def interrupt_then_resume(stacks: list, out: Path, cfg: TrainConfig, monkeypatch,
                          at_step: int, checkpoint: str) -> None:
    """Train into `out`, interrupted before optimiser step `at_step` (after `checkpoint`'s
    stage has saved), then train again, which resumes."""

    def crash(n: int) -> None:
        if n == at_step:
            raise KeyboardInterrupt

    with monkeypatch.context() as m:
        watch_optimizer_steps(m, crash)
        with pytest.raises(KeyboardInterrupt):
            train(stacks, out, cfg, progress=False)
    assert (out / "checkpoints" / f"{checkpoint}.pt").exists()
    train(stacks, out, cfg, progress=False)


def assert_same_weights(a: Path, b: Path) -> dict:
    """The two folders hold bit-identical LDM weights; returns the first one's card."""
    model_a, card = L.load(a)
    model_b, _ = L.load(b)
    for (name, pa), pb in zip(model_a.state_dict().items(), model_b.state_dict().values()):
        assert torch.equal(pa, pb), name
    return card


@pytest.fixture
def tiny_config():
    """`make_tiny_config`: a TrainConfig of a tiny LDM on 32-px patches, `steps` per stage."""
    return make_tiny_config


@pytest.fixture
def training():
    """The training tests' helpers: counting optimiser steps, interrupting and resuming a
    run, comparing two runs' weights."""
    return SimpleNamespace(watch_optimizer_steps=watch_optimizer_steps,
                           interrupt_then_resume=interrupt_then_resume,
                           assert_same_weights=assert_same_weights)
