from pathlib import Path

import numpy as np
import pytest
import torch

from isonb import ldm as L
from isonb import metrics
from isonb.baselines import interpolate
from isonb.checkpoint import WEIGHTS
from isonb.cli import main
from isonb.degrade import Degradation, refocus
from isonb.errors import IsonbError
from isonb.io import read_stack, write_stack
from isonb.models.autoencoder import AutoencoderConfig
from isonb.models.unet import UNetConfig
from isonb.restore import restore_network
from isonb.train import TrainConfig, prepare, train

TINY = L.LDMConfig(AutoencoderConfig(ch=8, latent_ch=4), UNetConfig(1, 1, 8, (1, 2, 4)),
                   UNetConfig(12, 4, 16, (1, 2), time=True))


def tiny_config(steps: int = 20, **kw) -> TrainConfig:
    return TrainConfig(patch=32, n_patches=120, batch=8, autoencoder_steps=steps,
                       regressor_steps=steps, diffusion_steps=steps, checkpoint_every=10,
                       model=TINY, **kw)


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


def test_resume_after_an_interruption_gives_the_same_weights(tmp_path, stack, monkeypatch):
    obs, _ = stack
    cfg = tiny_config(20)
    train([obs], tmp_path / "straight", cfg, progress=False)
    # step 35: in the regressor stage, after its checkpoint at step 10
    interrupt_then_resume([obs], tmp_path / "resumed", cfg, monkeypatch, 35, "regressor")
    assert_same_weights(tmp_path / "straight", tmp_path / "resumed")
    assert (tmp_path / "resumed" / "loss_curves.png").stat().st_size > 1000


def test_other_config_in_the_same_folder_is_refused(tmp_path, stack):
    obs, _ = stack
    train([obs], tmp_path / "w", tiny_config(10), progress=False)
    with pytest.raises(IsonbError, match="exists|holds trained weights"):
        train([obs], tmp_path / "w", tiny_config(10), progress=False)
    (tmp_path / "w" / WEIGHTS).unlink()
    with pytest.raises(IsonbError, match="different configuration"):
        train([obs], tmp_path / "w", tiny_config(12), progress=False)
    train([obs], tmp_path / "w", tiny_config(12), overwrite=True, progress=False)
    assert L.load(tmp_path / "w")[1]["train_config"]["regressor_steps"] == 12


def test_overwrite_retrains_a_finished_model_rather_than_resuming_it(tmp_path, stack,
                                                                     monkeypatch):
    obs, _ = stack
    cfg = tiny_config(10)
    train([obs], tmp_path / "w", cfg, progress=False)
    steps = watch_optimizer_steps(monkeypatch)
    train([obs], tmp_path / "w", cfg, overwrite=True, progress=False)  # same configuration
    assert len(steps) == cfg.autoencoder_steps + cfg.regressor_steps + cfg.diffusion_steps


def test_training_improves_a_simulated_stack_over_cubic(tmp_path, stack, monkeypatch):
    obs, case = stack
    train([obs], tmp_path / "w", tiny_config(150, lr=1e-3), progress=False)
    model, card = L.load(tmp_path / "w")
    losses = card["metrics"]["final_losses"]
    assert set(losses) == {"autoencoder", "regressor", "diffusion"}
    m = card["metrics"]  # the refine weight is a least-squares fit: never worse than w = 0
    assert 0.0 <= m["refine_weight"] <= 1.0
    assert m["heldout_mse_refined"] <= m["heldout_mse_estimate"] + 1e-9
    assert float(model.refine_weight) == pytest.approx(m["refine_weight"])
    restored, spread = restore_network(obs.data, obs.voxel_size, model, samples=2, steps=2,
                                   progress=False)
    assert restored.shape == case.gt.shape and spread.shape == case.gt.shape
    ours = metrics.evaluate(restored, case.gt)
    cubic = metrics.evaluate(interpolate(obs.data, obs.voxel_size), case.gt)
    assert ours["ssim"] > cubic["ssim"] + 0.05
    again, _ = restore_network(obs.data, obs.voxel_size, model, samples=2, steps=2, progress=False)
    assert np.array_equal(restored, again)  # same seed, same volume
    # refocusing is the last step: with a stack whose bands fall (as a widefield one's do)
    cone = Degradation(4.0, 2.0, 0.01, band_freqs=(0.01, 0.05, 0.1), band_sigmas=(10, 5, 2.5))
    monkeypatch.setattr("isonb.degrade.estimate_degradation", lambda *args: cone)
    kw = dict(samples=2, steps=2, progress=False)
    plain, _ = restore_network(obs.data, obs.voxel_size, model, refocus=False, **kw)
    sharp, _ = restore_network(obs.data, obs.voxel_size, model, **kw)
    assert np.abs(sharp - plain).max() > 0.05 * np.ptp(plain)
    assert np.allclose(sharp, refocus(plain, cone), atol=1e-4 * np.ptp(plain))


def test_cli_train_then_restore_with_uncertainty_and_axial_slices(tmp_path, stack, monkeypatch):
    obs, case = stack
    monkeypatch.setattr("isonb.train.TrainConfig.quick",
                        classmethod(lambda cls, **kw: tiny_config(10, **kw)))
    assert main(["train", str(obs.path), "--out", str(tmp_path / "w"), "--quick"]) == 0
    out, unc = tmp_path / "r.tif", tmp_path / "u.tif"
    assert main(["restore", str(obs.path), str(out), "--method", "ldm", "--weights",
                 str(tmp_path / "w"), "--uncertainty", str(unc), "--steps", "2"]) == 0
    assert read_stack(out).data.shape == case.gt.shape
    assert read_stack(unc).voxel_size == pytest.approx((0.1, 0.1, 0.1))
    xz = tmp_path / "xz.tif"
    import tifffile

    tifffile.imwrite(xz, case.gt[:, 10, :])
    assert main(["restore", str(xz), str(tmp_path / "xz_r.tif"), "--method", "ldm",
                 "--weights", str(tmp_path / "w"), "--axial-slices"]) == 0
    assert tifffile.imread(tmp_path / "xz_r.tif").shape == case.gt[:, 10, :].shape
    assert main(["restore", str(xz), str(tmp_path / "xz_2.tif"), "--method", "ldm",
                 "--weights", str(tmp_path / "w")]) == 2  # 2D without --axial-slices
    assert main(["restore", str(obs.path), str(tmp_path / "x.tif"), "--method", "ldm",
                 "--weights", str(Path(tmp_path / "none"))]) == 2


def test_training_takes_a_non_square_field_and_keeps_the_plot_backend(tmp_path, stack):
    import matplotlib

    _, case = stack
    wide = write_stack(tmp_path / "wide.tif", case.observed[:, 12:52, :], case.voxel_size)
    st = read_stack(wide)
    data = prepare([st], tiny_config(), np.random.default_rng(0))
    assert data.axial.shape[1:] == (32, 32) and len(data.axial) == len(data.xy)
    matplotlib.use("svg")  # as a notebook's inline backend: training must not switch it
    train([st], tmp_path / "w", tiny_config(4), progress=False)
    assert matplotlib.get_backend() == "svg"
    assert (tmp_path / "w" / "loss_curves.png").stat().st_size > 0
