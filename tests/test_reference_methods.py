import pytest

from isonb.baselines import train_reference
from isonb.baselines.care import CAREConfig, CARETrainConfig, load_care, train_care
from isonb.baselines.selfnet import (
    SelfNetConfig,
    SelfNetTrainConfig,
    load_selfnet,
    ssim,
    train_selfnet,
)
from isonb.cli import main
from isonb.errors import IsonbError
from isonb.io import Stack, read_stack, write_stack
from isonb.restore import restore_network


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    from isonb.simulate import SimulationConfig, simulate

    c = simulate(SimulationConfig(structure="mixed", shape=(41, 64, 64), psf="confocal",
                                  na=0.8, z_step=2, snr=10, seed=31))
    path = write_stack(tmp_path_factory.mktemp("ref") / "observed.tif", c.observed,
                       c.voxel_size)
    return c, path


def test_care_loss_falls_and_restores_onto_the_isotropic_grid(tmp_path, case):
    c, _ = case
    stack = Stack(c.observed, c.voxel_size, tmp_path / "s.tif")
    cfg = CARETrainConfig(patch=32, n_patches=200, steps=120, model=CAREConfig(first=8))
    train_care([stack], tmp_path / "care", cfg, progress=False)
    model, card = load_care(tmp_path / "care")
    assert card["method"] == "care" and card["steps_done"] == 120
    assert card["loss_last_10"] < card["loss_first_10"]
    restored, spread = restore_network(c.observed, c.voxel_size, model, progress=False)
    assert restored.shape == c.gt.shape and spread is None  # deterministic: nothing sampled


def test_care_known_psf_variant_uses_the_given_blur(tmp_path, case):
    c, _ = case
    stack = Stack(c.observed, c.voxel_size, tmp_path / "s.tif")
    cfg = CARETrainConfig(patch=32, n_patches=100, steps=5, true_fwhm=(0.25, 1.25),
                          model=CAREConfig(first=8))
    train_care([stack], tmp_path / "care", cfg, progress=False)
    _, card = load_care(tmp_path / "care")
    assert card["degradation"][0]["sigma_axial"] == pytest.approx(
        (1.25**2 - 0.25**2) ** 0.5 / 2.3548 / 0.1, rel=1e-3)


def test_selfnet_deblur_loss_falls_and_restores_onto_the_grid(tmp_path, case):
    c, _ = case
    stack = Stack(c.observed, c.voxel_size, tmp_path / "s.tif")
    cfg = SelfNetTrainConfig(patch=32, n_patches=200, steps=40,
                             model=SelfNetConfig(ngf=8, ndf=8, blocks=2))
    train_selfnet([stack], tmp_path / "sn", cfg, progress=False)
    model, card = load_selfnet(tmp_path / "sn")
    assert card["method"] == "selfnet" and card["steps_done"] == 40
    assert card["deblur_loss_last_10"] < card["deblur_loss_first_10"]
    restored, _ = restore_network(c.observed, c.voxel_size, model, progress=False)
    assert restored.shape == c.gt.shape


def test_ssim_loss_term_is_one_for_identical_images():
    import torch

    x = torch.rand(2, 1, 32, 32)
    assert float(ssim(x, x)) == pytest.approx(1.0, abs=1e-5)
    assert float(ssim(x, torch.rand(2, 1, 32, 32))) < 0.5


def test_weights_of_another_method_are_refused(tmp_path, case):
    c, path = case
    stack = Stack(c.observed, c.voxel_size, tmp_path / "s.tif")
    train_care([stack], tmp_path / "care", CARETrainConfig(
        patch=32, n_patches=50, steps=2, model=CAREConfig(first=8)), progress=False)
    with pytest.raises(IsonbError, match="holds a 'care' model.*--method care"):
        load_selfnet(tmp_path / "care")
    assert main(["restore", str(path), str(tmp_path / "r.tif"), "--method", "care",
                 "--weights", str(tmp_path / "care")]) == 0
    assert read_stack(tmp_path / "r.tif").data.shape == c.gt.shape
    assert main(["restore", str(path), str(tmp_path / "r2.tif"), "--method", "selfnet"]) == 2


def test_train_reference_smoke_mode_trains_a_small_selfnet_and_checks_its_arguments(tmp_path,
                                                                                     case):
    c, _ = case
    stack = Stack(c.observed, c.voxel_size, tmp_path / "s.tif")
    train_reference("selfnet", [stack], tmp_path / "sn", mode="smoke", patch=32, progress=False)
    model, card = load_selfnet(tmp_path / "sn")
    assert card["steps_done"] == 10 and card["train_config"]["model"]["ngf"] == 16
    assert model.cfg.blocks == 2
    with pytest.raises(ValueError, match="--method care"):
        train_reference("selfnet", [stack], tmp_path / "x", true_fwhm=(0.2, 0.8))
    with pytest.raises(ValueError, match="choose one of care, selfnet"):
        train_reference("ldm", [stack], tmp_path / "x")
    with pytest.raises(ValueError, match="choose one of full, quick, smoke"):
        train_reference("care", [stack], tmp_path / "x", mode="fast")
