from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

import isonb
from isonb import ldm as L
from isonb import metrics
from isonb import train as T
from isonb.baselines import interpolate
from isonb.checkpoint import (
    CARD_SCHEMA,
    WEIGHTS,
    from_dict,
    lineage,
    shipped_weights,
    training_minutes,
)
from isonb.cli import main
from isonb.degrade import Degradation, refocus
from isonb.errors import IsonbError
from isonb.io import read_stack, write_stack
from isonb.restore import restore_network
from isonb.simulate import SimulationConfig, simulate
from isonb.train import TrainConfig, calibrate_refine_weight, train
from isonb.volume import normalize, percentile_range


@pytest.mark.parametrize("at_step, stage", [(35, "regressor"), (75, "retarget-2")])
def test_resume_after_an_interruption_gives_the_same_weights(tmp_path, stack, monkeypatch,
                                                             tiny_config, training, at_step,
                                                             stage):
    obs, _ = stack
    cfg = tiny_config(20, retarget_steps=40)
    train([obs], tmp_path / "straight", cfg, progress=False)
    # 20 steps a stage (the retargeting's two rounds): step 35 is the regressor's 15th, 75
    # the second retargeting round's, whose windows are restored by the first round's
    # regressor; each after the stage's checkpoint at its 10th
    training.interrupt_then_resume([obs], tmp_path / "resumed", cfg, monkeypatch, at_step, stage)
    training.assert_same_weights(tmp_path / "straight", tmp_path / "resumed")
    assert (tmp_path / "resumed" / "loss_curves.png").stat().st_size > 1000


def test_other_config_in_the_same_folder_is_refused(tmp_path, stack, tiny_config):
    obs, _ = stack
    train([obs], tmp_path / "w", tiny_config(10), progress=False)
    with pytest.raises(IsonbError, match="exists|holds trained weights"):
        train([obs], tmp_path / "w", tiny_config(10), progress=False)
    (tmp_path / "w" / WEIGHTS).unlink()
    with pytest.raises(IsonbError, match="different configuration"):
        train([obs], tmp_path / "w", tiny_config(12), progress=False)
    train([obs], tmp_path / "w", tiny_config(12), overwrite=True, progress=False)
    assert L.load(tmp_path / "w")[1]["train_config"]["regressor_steps"] == 12


def test_overwrite_retrains_a_finished_model_rather_than_resuming_it(
        tmp_path, stack, monkeypatch, tiny_config, training):
    obs, _ = stack
    cfg = tiny_config(10)
    train([obs], tmp_path / "w", cfg, progress=False)
    steps = training.watch_optimizer_steps(monkeypatch)
    train([obs], tmp_path / "w", cfg, overwrite=True, progress=False)  # same configuration
    assert len(steps) == (cfg.autoencoder_steps + cfg.regressor_steps + cfg.retarget_steps
                          + cfg.diffusion_steps)


@pytest.mark.slow
def test_training_improves_a_simulated_stack_over_cubic(tmp_path, stack, monkeypatch,
                                                        tiny_config):
    obs, case = stack
    train([obs], tmp_path / "w", tiny_config(150, lr=1e-3), progress=False)
    model, card = L.load(tmp_path / "w")
    losses = card["metrics"]["final_losses"]
    assert set(losses) == {"autoencoder", "regressor", "retarget", "retarget-2", "diffusion"}
    assert card["steps_done"] == {"autoencoder": 150, "regressor": 150, "retarget": 75,
                                  "retarget-2": 75, "diffusion": 150}
    assert card["retarget"]["windows"] == [list(case.gt.shape)]  # the whole small stack
    assert card["retarget"]["rounds"] == 2
    assert card["schema"] == CARD_SCHEMA and card["isonb"] == isonb.__version__
    assert from_dict(TrainConfig, card["train_config"]) == tiny_config(150, lr=1e-3)
    assert float(model.refine_weight) == pytest.approx(card["metrics"]["refine_weight"])
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


def test_cli_train_then_restore_with_uncertainty_and_axial_slices(tmp_path, stack, monkeypatch,
                                                                  tiny_config):
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


def test_training_takes_a_non_square_field_and_keeps_the_plot_backend(tmp_path, stack,
                                                                       tiny_config):
    import matplotlib

    _, case = stack
    st = read_stack(write_stack(tmp_path / "wide.tif", case.observed[:, 12:52, :],
                                case.voxel_size))
    matplotlib.use("svg")  # as a notebook's inline backend: training must not switch it
    train([st], tmp_path / "w", tiny_config(4), progress=False)
    assert matplotlib.get_backend() == "svg"
    assert (tmp_path / "w" / "loss_curves.png").stat().st_size > 0


class _KnownCorrection(torch.nn.Module):
    """Stands in for an LDM whose estimate is its input and whose diffusion corrects by `d`."""

    def __init__(self, d: torch.Tensor):
        super().__init__()
        self.d, self.anchor = d, torch.nn.Parameter(torch.zeros(()))

    def samples(self, x, noise, steps):
        d = self.d[: len(x)]
        return x, x, torch.stack([x + d - 0.1, x + d + 0.1])  # x_hat, D(E(x_hat)), x_k


@pytest.mark.parametrize("true_weight, fitted", [(0.3, 0.3), (2.0, 1.0), (-1.0, 0.0)])
def test_refine_weight_is_the_least_squares_weight_clamped_to_0_1(true_weight, fitted):
    rng = np.random.default_rng(0)
    x = rng.random((64, 1, 8, 8)).astype(np.float32)
    d = rng.standard_normal((64, 1, 8, 8)).astype(np.float32)
    y = x + true_weight * d + 0.01 * rng.standard_normal(x.shape).astype(np.float32)

    class Held:
        def draw(self, n, recorrupt):
            return x[:n], y[:n]

    cfg = TrainConfig(patch=32, batch=64)
    model = _KnownCorrection(torch.from_numpy(d))
    out = calibrate_refine_weight(model, Held(), cfg, torch.Generator().manual_seed(0))
    assert out["refine_weight"] == pytest.approx(fitted, abs=0.01)
    assert out["heldout_mse_estimate"] == pytest.approx(np.mean((x - y) ** 2), rel=1e-5)


def test_fine_tuning_starts_from_the_given_weights(tmp_path, stack, tiny_config):
    obs, _ = stack
    train([obs], tmp_path / "base", tiny_config(10), progress=False)
    # at learning rate 0 nothing moves: what comes out is what training started from
    train([obs], tmp_path / "tuned", tiny_config(5, lr=0.0, init=str(tmp_path / "base")),
          progress=False)
    train([obs], tmp_path / "fresh", tiny_config(5, lr=0.0), progress=False)
    base, tuned, fresh = (L.load(tmp_path / n) for n in ("base", "tuned", "fresh"))
    for part in ("regressor", "denoiser", "autoencoder"):
        for (name, p), q in zip(getattr(base[0], part).state_dict().items(),
                                getattr(tuned[0], part).state_dict().values()):
            if name != "latent_scale":  # measured again on the stack
                assert torch.equal(p, q), (part, name)
    assert not torch.equal(base[0].regressor.state_dict()["stem.weight"],
                           fresh[0].regressor.state_dict()["stem.weight"])
    assert tuned[1]["fine_tuned_from"]["weights"] == str(tmp_path / "base")
    assert tuned[1]["fine_tuned_from"]["sha256"] == base[1]["sha256"]
    assert tuned[1]["fine_tuned_from"]["fine_tuned_from"] is None  # base: from random weights
    assert fresh[1]["fine_tuned_from"] is None
    # a further stage keeps the whole lineage: what it started from, and what that started from
    train([obs], tmp_path / "again", tiny_config(5, lr=0.0, init=str(tmp_path / "tuned")),
          progress=False)
    again = L.load(tmp_path / "again")[1]
    assert again["fine_tuned_from"]["weights"] == str(tmp_path / "tuned")
    assert again["fine_tuned_from"]["fine_tuned_from"]["sha256"] == base[1]["sha256"]
    runs = lineage(again)  # newest first: again, tuned, base
    assert [r["sha256"] for r in runs[1:]] == [tuned[1]["sha256"], base[1]["sha256"]]
    assert all(r["train_minutes"] > 0 for r in runs)
    assert training_minutes(again) == pytest.approx(sum(r["train_minutes"] for r in runs))


def test_quick_training_fine_tunes_the_shipped_model_whose_network_it_builds(
        tmp_path, stack, tiny_config):
    from isonb.checkpoint import read_card, shipped_weights

    quick = TrainConfig.quick()
    assert quick.init == "shipped" and TrainConfig().init == ""
    assert from_dict(L.LDMConfig, read_card(shipped_weights())["config"]) == quick.model
    obs, _ = stack
    with pytest.raises(IsonbError, match="another network.*--from-scratch"):
        train([obs], tmp_path / "w", tiny_config(5, init="shipped"), progress=False)


def test_quick_training_takes_more_regressor_steps_on_a_cuda_gpu(monkeypatch):
    from isonb.train import GPU_REGRESSOR_STEPS

    cpu, gpu = TrainConfig.quick(gpu=False), TrainConfig.quick(gpu=True)
    assert (cpu.regressor_steps, gpu.regressor_steps) == (600, GPU_REGRESSOR_STEPS)
    assert replace(gpu, regressor_steps=600) == cpu  # nothing else differs
    assert TrainConfig.quick(gpu=True, regressor_steps=50).regressor_steps == 50
    monkeypatch.setattr("isonb.train.device", lambda: torch.device("cuda"))
    assert TrainConfig.quick().regressor_steps == GPU_REGRESSOR_STEPS  # decided by the device
    monkeypatch.setattr("isonb.train.device", lambda: torch.device("cpu"))
    assert TrainConfig.quick().regressor_steps == 600


def test_cli_init_and_from_scratch(tmp_path, stack, monkeypatch, tiny_config):
    obs, _ = stack
    monkeypatch.setattr("isonb.train.TrainConfig.quick",
                        classmethod(lambda cls, **kw: tiny_config(5, **kw)))
    base = tmp_path / "base"
    assert main(["train", str(obs.path), "--out", str(base), "--quick"]) == 0
    assert main(["train", str(obs.path), "--out", str(tmp_path / "t"), "--quick",
                 "--init", str(base)]) == 0
    card = L.load(tmp_path / "t")[1]
    assert card["fine_tuned_from"]["weights"] == str(base) and card["retarget"]["windows"]
    assert main(["train", str(obs.path), "--out", str(tmp_path / "s"), "--quick",
                 "--from-scratch", "--no-retarget"]) == 0
    card = L.load(tmp_path / "s")[1]
    assert card["fine_tuned_from"] is None and card["retarget"] is None
    assert "retarget" not in card["steps_done"]
    for bad in (["--init", str(base), "--from-scratch"], ["--method", "care", "--init",
                                                          str(base)], ["--method", "care",
                                                                       "--no-retarget"],
                ["--init", str(tmp_path / "nothing")]):
        assert main(["train", str(obs.path), "--out", str(tmp_path / "x"), "--quick",
                     *bad]) == 2


def test_retargeting_targets_are_closer_to_the_truth_than_even_noise_free_observed_planes():
    # an oblique membrane is blurred along z in the observed xy planes; the planes of the
    # regressor's restoration at the same depths (retargeting's targets) are less so
    case = simulate(SimulationConfig(structure="membranes", shape=(48, 96, 96), psf="confocal",
                                     na=1.0, z_step=2, snr=10, seed=5))
    lo, hi = percentile_range(case.observed)
    model = L.load(shipped_weights())[0]
    vol, _ = restore_network(normalize(case.observed, lo, hi), case.voxel_size, model,
                             diffusion="off", refocus=False, uncertainty=False, progress=False)
    truth = case.gt[::2]

    def mse(planes: np.ndarray) -> float:  # after the protocol's scaling and affine fit
        g = metrics.scale_gt(truth)
        return float(np.mean((metrics.affine_fit(planes, g) - g) ** 2))

    targets = mse(vol[::2])
    assert targets < 0.75 * mse(case.clean) and targets < 0.25 * mse(case.observed)


@pytest.mark.parametrize("rounds", [1, 2])
def test_each_retargeting_round_restores_the_windows_with_the_regressor_the_last_one_left(
        tmp_path, stack, monkeypatch, tiny_config, rounds):
    obs, _ = stack
    seen = []
    real = T.restore_network

    def spy(window, voxel_size, model, **kw):
        seen.append({k: v.clone() for k, v in model.regressor.state_dict().items()})
        return real(window, voxel_size, model, **kw)

    monkeypatch.setattr(T, "restore_network", spy)
    out = tmp_path / "w"
    train([obs], out, tiny_config(10, retarget_steps=21, retarget_rounds=rounds), progress=False)
    names = T.retarget_stages(rounds)
    card = L.load(out)[1]
    assert len(seen) == rounds == card["retarget"]["rounds"]
    assert [card["steps_done"][n] for n in names] == ([21] if rounds == 1 else [11, 10])
    before = ["regressor", *names[:-1]]  # what trained the regressor before each round
    for weights, stage in zip(seen, before):
        saved = torch.load(out / "checkpoints" / f"{stage}.pt", weights_only=True)
        for k, v in saved["modules"]["model"].items():
            assert torch.equal(weights[k], v), (stage, k)
    if rounds == 2:
        assert any(not torch.equal(seen[0][k], seen[1][k]) for k in seen[0])


def test_a_retargeting_round_that_its_time_budget_cannot_pay_for_is_skipped(
        tmp_path, stack, monkeypatch, tiny_config, capsys):
    # A clock that moves only while windows are restored, by 1000 s each: with a 25-min
    # budget, the second round's share of the 500 s left is below one restoration, so it is
    # skipped, and the diffusion still trains every step.
    obs, _ = stack
    start = T.time.monotonic()  # the run's start is read from the real clock
    clock = [start]
    real = T.restore_network

    def slow(*a, **kw):
        clock[0] += 1000.0
        return real(*a, **kw)

    monkeypatch.setattr(T, "restore_network", slow)
    monkeypatch.setattr(T.time, "monotonic", lambda: clock[0])
    out = tmp_path / "w"
    cfg = tiny_config(10, retarget_steps=20, retarget_rounds=2, minutes=25)
    train([obs], out, cfg, progress=False)
    card = L.load(out)[1]
    assert card["retarget"]["rounds"] == 1 and clock[0] == start + 1000.0
    assert card["steps_done"]["retarget"] == 10 and "retarget-2" not in card["steps_done"]
    assert card["steps_done"]["diffusion"] == cfg.diffusion_steps
    assert "retarget-2: skipped" in capsys.readouterr().out
