"""The learned degradation: a CycleGAN that makes the PSF model's axial patches look real."""

from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter1d

from isonb.checkpoint import from_dict
from isonb.cli import main
from isonb.errors import IsonbError
from isonb.learned_degradation import CycleGAN, DegraderConfig, as_transform
from isonb.loop import Stage, descend, fit
from isonb.models.gan import GANConfig
from isonb.train import TrainConfig, adamw, train

SMALL = DegraderConfig(net=GANConfig(ngf=8, blocks=2, ndf=8))


def axial_roughness(p: np.ndarray) -> float:
    """Power of the differences along z (axis 1 of (n, z, x)) over that along x."""
    return float(np.mean(np.diff(p, axis=1) ** 2) / np.mean(np.diff(p, axis=2) ** 2))


def test_generator_starts_as_the_identity():
    a = torch.rand(2, 1, 32, 32)
    assert torch.equal(CycleGAN(SMALL).degrade(a), a)


@pytest.mark.slow
def test_cyclegan_learns_an_axial_blur_the_synthetic_patches_lack(tmp_path, stack):
    """Synthetic patches are sharp, the unpaired real ones blurred along z: G_A learns to blur."""
    _, case = stack
    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    gt = case.gt / case.gt.max()
    planes = gt[rng.integers(0, len(gt), 600)]
    starts = rng.integers(0, gt.shape[1] - 32, (600, 2))
    p = np.stack([pl[y:y + 32, x:x + 32] for pl, (y, x) in zip(planes, starts)])
    synthetic, real = p[:300], gaussian_filter1d(p[300:], 3.0, axis=1)
    gan = CycleGAN(SMALL)

    def tensor(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(a[:, None], dtype=np.float32))

    opt = adamw(gan, SMALL.lr, (0.5, 0.999))

    def step(i: int) -> float:
        return descend(gan.loss(tensor(synthetic[rng.integers(0, 300, 8)]),
                                tensor(real[rng.integers(0, 300, 8)])), opt)

    fit(Stage("degrader", {"gan": gan}, {"opt": opt}, step, 250, rng=rng),
        tmp_path / "gan.pt", progress=False)
    with torch.no_grad():
        made = gan.degrade(tensor(synthetic[:100]))[:, 0].numpy()
    before, after, target = (axial_roughness(x) for x in (synthetic[:100], made, real))
    assert target < 0.6 * before  # the toy's premise
    assert after < 0.85 * before, (before, after, target)


def test_learned_degradation_trains_first_resumes_and_makes_the_pairs(
        tmp_path, stack, monkeypatch, tiny_config, training):
    obs, _ = stack
    cfg = tiny_config(20, degradation="learned", degrader_steps=20, degrader=SMALL)
    calls: list[int] = []

    def spy(model, dev):
        real = as_transform(model, dev)
        return lambda patches: calls.append(len(patches)) or real(patches)

    monkeypatch.setattr("isonb.train.as_transform", spy)
    train([obs], tmp_path / "straight", cfg, progress=False)
    assert calls  # the regressor's, diffusion's and calibration's inputs went through G_A

    # step 35: in the autoencoder stage, after the degrader finished
    training.interrupt_then_resume([obs], tmp_path / "resumed", cfg, monkeypatch, 35, "degrader")
    card = training.assert_same_weights(tmp_path / "straight", tmp_path / "resumed")
    assert card["train_config"]["degradation"] == "learned"
    assert "degrader" in card["metrics"]["final_losses"]
    assert from_dict(TrainConfig, card["train_config"]) == cfg


def test_bad_degradation_choices_are_refused(tmp_path, stack, tiny_config):
    obs, _ = stack
    with pytest.raises(IsonbError, match="unknown degradation 'gan'.*psf, learned"):
        train([obs], tmp_path / "w", tiny_config(1, degradation="gan"), progress=False)
    assert not (tmp_path / "w").exists()
    thin = type(obs)(obs.data[:12], obs.voxel_size, Path("thin.tif"))  # 23 planes resliced
    with pytest.raises(IsonbError, match="thin.tif.*no real axial patches.*--degradation psf"):
        train([thin], tmp_path / "t", tiny_config(1, degradation="learned"), progress=False)
    code = main(["train", str(obs.path), "--method", "care", "--degradation", "learned",
                 "--out", str(tmp_path / "c")])
    assert code == 2
