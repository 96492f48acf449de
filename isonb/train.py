"""Training the latent diffusion model on the stacks to restore: unpaired, no ground truth.

Three stages (four with a learned degradation), each checkpointed and resumable, then one
calibration:
  0. degrader     synthetic -> real axial patches (degradation="learned" only)   CycleGAN
  1. autoencoder  on xy and axial patches of the stacks          L1 + 0.2 (1 - SSIM)
  2. regressor    on recorrupted (synthetic axial, xy) pairs     L1
  3. diffusion    on (synthetic axial, xy) pairs: residual latents   v-prediction MSE, EMA
  4. refine weight: least-squares weight of the diffusion's correction, on held-out pairs
Synthetic axial patches come from real xy patches degraded with the degradation estimated
from each stack (`isonb.degrade`): the target domain is the xy planes, the source domain
the resliced xz/yz planes. With degradation="learned", a CycleGAN generator trained first
(`isonb.learned_degradation`) makes the synthetic patches look like the real ones.
Recorrupted pairs (R2R) have independent noise in input and target, so the regressor
learns noise-free images although no clean image is ever seen.
Every 10th xy patch is held out of all training, for the autoencoder's PSNR and step 4.
"""

from __future__ import annotations

import json
import platform
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from . import ldm as ldm_lib
from .checkpoint import WEIGHTS, device
from .degrade import Degradation, PairSampler, estimate_degradation
from .diffusion import v_loss
from .errors import IsonbError
from .io import Stack
from .ldm import LDM, LDMConfig
from .learned_degradation import CycleGAN, DegraderConfig, as_transform
from .models.autoencoder import Autoencoder, ssim_loss
from .psf import FWHM_PER_SIGMA
from .volume import (
    augment,
    normalize,
    percentile_range,
    reslice_isotropic,
    sample_patches,
    xz_planes,
    yz_planes,
)

STAGES = ("autoencoder", "regressor", "diffusion")
# each stage's share of a --minutes budget, normalised over the stages that run
SHARE = {"degrader": 0.2, "autoencoder": 0.15, "regressor": 0.6, "diffusion": 0.25}
SEED_INDEX = {"autoencoder": 0, "regressor": 1, "diffusion": 2, "calibration": 3, "degrader": 4}
DEGRADATIONS = ("psf", "learned")
HOLD_OUT = 10  # every HOLD_OUT-th xy patch is held out of training


@dataclass
class TrainConfig:
    """One training run; saved in the model card next to the weights it produced."""

    seed: int = 0
    degradation: str = "psf"  # "psf": the estimated PSF model; "learned": + a CycleGAN on it
    patch: int = 64  # square patch side (px); a multiple of 8
    n_patches: int = 3000  # xy patches drawn from the stacks (and as many axial ones)
    batch: int = 16
    autoencoder_steps: int = 2000
    regressor_steps: int = 3000
    diffusion_steps: int = 3000
    degrader_steps: int = 1500  # with degradation="learned"
    lr: float = 5e-4  # AdamW, cosine decay to 10% over each stage
    recorrupt: float = 0.5  # R2R strength a of the regressor's pairs (0: plain noisy targets)
    ema: float = 0.999  # EMA decay of the denoiser's weights
    checkpoint_every: int = 250
    minutes: float = 0.0  # time cap of the stages, shared by SHARE (0: none)
    model: LDMConfig = field(default_factory=LDMConfig)
    degrader: DegraderConfig = field(default_factory=DegraderConfig)

    @classmethod
    def quick(cls, **overrides) -> TrainConfig:
        """Few steps on small pools: a per-stack run of a few minutes on a laptop CPU."""
        base = dict(n_patches=800, autoencoder_steps=300, regressor_steps=900,
                    diffusion_steps=400, degrader_steps=300, checkpoint_every=100)
        return cls(**{**base, **overrides})

    @classmethod
    def smoke(cls, **overrides) -> TrainConfig:
        """A minute-long run that only proves the pipeline works (notebooks in CI)."""
        base = dict(n_patches=200, autoencoder_steps=40, regressor_steps=60,
                    diffusion_steps=40, degrader_steps=20, checkpoint_every=20)
        return cls(**{**base, **overrides})

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        degrader = DegraderConfig.from_dict(d["degrader"]) if "degrader" in d else DegraderConfig()
        return cls(**{**d, "model": LDMConfig.from_dict(d["model"]), "degrader": degrader})


@dataclass
class TrainingData:
    pairs: PairSampler  # (synthetic axial, xy) pairs
    xy: np.ndarray  # (n, p, p) xy patches, normalised
    axial: np.ndarray  # (m, p, p) patches of the resliced xz/yz planes
    degradations: list[Degradation]


def prepare(stacks: list[Stack], cfg: TrainConfig, rng: np.random.Generator) -> TrainingData:
    """Normalise each stack, estimate its degradation, and draw xy and axial patch pools."""
    p = cfg.patch
    xy, axial, source, degradations = [], [], [], []
    per_stack = int(np.ceil(cfg.n_patches / len(stacks)))
    for i, stack in enumerate(stacks):
        if stack.voxel_size is None:
            raise IsonbError(f"{stack.path}: no voxel size. Fix: pass --voxel-size DZ DY DX")
        if min(stack.data.shape[1:]) < p:
            raise IsonbError(f"{stack.path}: xy planes {stack.data.shape[1:]} are smaller than "
                             f"the {p}x{p} training patch. Fix: pass a smaller --patch")
        dz, _, dx = stack.voxel_size
        x = normalize(stack.data, *percentile_range(stack.data))
        degradations.append(estimate_degradation(x, stack.voxel_size))
        xy.append(sample_patches(x, (p, p), per_stack, rng))
        source += [i] * per_stack
        iso = reslice_isotropic(x, dz, dx, order=3)
        if iso.shape[0] >= p:
            axial.append(axial_patches(iso, p, per_stack, rng))
    xy_all = np.concatenate(xy)
    axial_all = np.concatenate(axial) if axial else np.empty((0, p, p), np.float32)
    pairs = PairSampler(xy_all, degradations, np.array(source), rng)
    return TrainingData(pairs, xy_all, axial_all, degradations)


def axial_patches(iso: np.ndarray, p: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """`n` (p, p) patches of the xz and yz planes of an isotropic volume, one pool when the
    field is square; otherwise (xz and yz planes differ in width) from each family in
    proportion to its number of planes."""
    if iso.shape[1] == iso.shape[2]:
        return sample_patches(np.concatenate([xz_planes(iso), yz_planes(iso)]), (p, p), n, rng)
    n_xz = n * iso.shape[1] // (iso.shape[1] + iso.shape[2])
    return np.concatenate([sample_patches(xz_planes(iso), (p, p), n_xz, rng),
                           sample_patches(yz_planes(iso), (p, p), n - n_xz, rng)])


def _cosine_lr(step: int, steps: int, lr: float) -> float:
    return float(lr * (0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * min(step / max(steps, 1), 1.0)))))


def _run_stage(name: str, module: torch.nn.Module, loss_fn: Callable[[], torch.Tensor],
               steps: int, cfg: TrainConfig, ckpt: Path, rng: np.random.Generator,
               gen: torch.Generator, deadline: float, ema: torch.nn.Module | None = None,
               progress: bool = True, lr: float | None = None,
               betas: tuple[float, float] = (0.9, 0.999), clip: float | None = 1.0
               ) -> list[float]:
    """Optimise `module` for `steps` steps, checkpointing (and resuming) at `ckpt`."""
    lr = lr or cfg.lr
    opt = torch.optim.AdamW(module.parameters(), lr=lr, betas=betas, weight_decay=1e-4)
    losses: list[float] = []
    start = 0
    if ckpt.exists():
        state = torch.load(ckpt, weights_only=True)
        module.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        if ema is not None:
            ema.load_state_dict(state["ema"])
        rng.bit_generator.state = json.loads(state["np_rng"])
        gen.set_state(state["torch_rng"])
        losses, start = list(state["losses"]), int(state["step"])
        if state["done"]:
            return losses

    def checkpoint(step: int, done: bool) -> None:
        torch.save({"model": module.state_dict(), "opt": opt.state_dict(),
                    "ema": ema.state_dict() if ema is not None else None,
                    "np_rng": json.dumps(rng.bit_generator.state), "torch_rng": gen.get_state(),
                    "losses": losses, "step": step, "done": done}, ckpt)

    module.train()
    bar = tqdm(range(start, steps), desc=name, disable=not progress, initial=start, total=steps)
    step = start
    for step in bar:
        if time.monotonic() > deadline:
            print(f"{name}: time budget reached at step {step}/{steps}")
            break
        for group in opt.param_groups:
            group["lr"] = _cosine_lr(step, steps, lr)
        loss = loss_fn()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if clip is not None:
            torch.nn.utils.clip_grad_norm_(module.parameters(), clip)
        opt.step()
        if ema is not None:
            with torch.no_grad():
                for pe, pm in zip(ema.parameters(), module.parameters()):
                    pe.lerp_(pm, 1.0 - cfg.ema)
        losses.append(loss.item())
        if step % 20 == 0:
            bar.set_postfix(loss=f"{np.mean(losses[-20:]):.4g}")
        if (step + 1) % cfg.checkpoint_every == 0:
            checkpoint(step + 1, False)
    else:
        step = steps
    checkpoint(step, True)
    module.eval()
    return losses


def train(stacks: list[Stack], out: str | Path, cfg: TrainConfig | None = None,
          overwrite: bool = False, progress: bool = True) -> Path:
    """Train the LDM on `stacks` and write weights.safetensors + model.json into `out`.

    Re-running an interrupted training with the same `out` and configuration resumes from
    the stage checkpoints in out/checkpoints; `overwrite` retrains a finished one afresh.
    """
    cfg = cfg or TrainConfig()
    if cfg.degradation not in DEGRADATIONS:
        raise IsonbError(f"unknown degradation {cfg.degradation!r}. Fix: choose one of "
                         f"{', '.join(DEGRADATIONS)}")
    out = Path(out)
    if (out / WEIGHTS).exists():
        if not overwrite:
            raise IsonbError(f"{out}: holds trained weights already. Fix: choose another --out "
                             "or pass --overwrite")
        shutil.rmtree(out / "checkpoints", ignore_errors=True)  # finished: nothing to resume
    cfg_path = out / "checkpoints" / "train_config.json"
    if cfg_path.exists() and json.loads(cfg_path.read_text()) != json.loads(
            json.dumps(asdict(cfg))):
        if not overwrite:
            raise IsonbError(f"{out}: has checkpoints of a different configuration. Fix: "
                             "choose another --out, or pass --overwrite to start afresh")
        shutil.rmtree(out / "checkpoints")  # asked to overwrite: stale checkpoints go too
    (out / "checkpoints").mkdir(parents=True, exist_ok=True)
    cfg_path.write_text(json.dumps(asdict(cfg), indent=2))
    dev = device()
    print(f"isonb train: seed {cfg.seed}, device {dev}, {len(stacks)} stack(s)")
    t0 = time.monotonic()
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    data = prepare(stacks, cfg, rng)
    for stack, deg in zip(stacks, data.degradations):
        dx = stack.voxel_size[2]
        bands = " -> ".join(f"{s * FWHM_PER_SIGMA * dx:.2f}" for s in deg.band_sigmas)
        print(f"  {stack.path.name}: estimated extra axial blur FWHM "
              f"{deg.fwhm_axial_extra(dx):.3f} µm (by band, coarse to fine: {bands} µm), "
              f"z_step {deg.z_step:.2f}, noise {deg.noise_std:.4f} (normalised)")
    model = LDM(cfg.model).to(dev)
    budget = cfg.minutes * 60 if cfg.minutes > 0 else float("inf")
    losses: dict[str, list[float]] = {}
    held, pairs = data.pairs.split(HOLD_OUT)  # xy patches (and their pairs): held out, training
    ae_pool = np.concatenate([pairs.patches, data.axial])
    t_stages = time.monotonic()

    def tensor(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).to(dev)

    stages = (("degrader",) if cfg.degradation == "learned" else ()) + STAGES

    def stage_args(stage: str) -> dict:
        """A stage's arguments; its deadline is its share of the budget still left."""
        k = SEED_INDEX[stage]
        rng_k = np.random.default_rng([cfg.seed, k])
        pairs.rng = held.rng = rng_k
        left = budget - (time.monotonic() - t_stages)
        share = SHARE[stage] / sum(SHARE[s] for s in stages[stages.index(stage):])
        return dict(name=stage, steps=getattr(cfg, f"{stage}_steps"), cfg=cfg,
                    ckpt=out / "checkpoints" / f"{stage}.pt", rng=rng_k,
                    gen=torch.Generator().manual_seed(cfg.seed * 1000 + k),
                    deadline=time.monotonic() + share * left, progress=progress)

    # 0. the learned degradation (optional): synthetic axial patches made to look real
    if cfg.degradation == "learned":
        if len(data.axial) == 0:
            names = ", ".join(str(s.path) for s in stacks)
            raise IsonbError(f"{names}: resliced, thinner than the {cfg.patch}-px patch, so "
                             "there are no real axial patches to "
                             "learn the degradation from. Fix: pass a smaller --patch, or "
                             "--degradation psf")
        args = stage_args("degrader")
        gan = CycleGAN(cfg.degrader).to(dev)

        def degrader_loss() -> torch.Tensor:
            a = tensor(pairs.draw(cfg.batch)[0])
            idx = args["rng"].integers(0, len(data.axial), cfg.batch)
            b = np.stack([augment(data.axial[i], args["rng"], lateral=False) for i in idx])
            return gan.loss(a, tensor(b[:, None]))

        losses["degrader"] = _run_stage(module=gan, loss_fn=degrader_loss, lr=cfg.degrader.lr,
                                        betas=(0.5, 0.999), clip=None, **args)
        pairs.transform = held.transform = as_transform(gan, dev)

    # 1. autoencoder on xy and axial patches
    args = stage_args("autoencoder")
    ae = model.autoencoder

    def ae_loss() -> torch.Tensor:
        x = tensor(ae_pool[args["rng"].integers(0, len(ae_pool), cfg.batch)][:, None])
        y = ae(x)
        return torch.mean(torch.abs(y - x)) + 0.2 * ssim_loss(y, x)

    losses["autoencoder"] = _run_stage(module=ae, loss_fn=ae_loss, **args)
    with torch.no_grad():  # unit-variance latents, measured on data
        ae.latent_scale.fill_(1.0 / float(ae.encoder(tensor(pairs.patches[:256, None])).std()))

    # 2. regressor on recorrupted (synthetic axial, xy) pairs: it learns noise-free images
    def regressor_loss() -> torch.Tensor:
        x, y = (tensor(a) for a in pairs.draw(cfg.batch, cfg.recorrupt))
        return torch.mean(torch.abs(model.estimate(x) - y))

    losses["regressor"] = _run_stage(module=model.regressor, loss_fn=regressor_loss,
                                     **stage_args("regressor"))

    # 3. diffusion on the residual latents the regressor misses
    args = stage_args("diffusion")
    with torch.no_grad():
        x, y = (tensor(a) for a in pairs.draw(64))
        z_hat, _ = model.condition(x, model.estimate(x))
        model.residual_scale.fill_(float((model.autoencoder.encode(y) - z_hat).std()))
    ema = LDM(cfg.model).denoiser.to(dev)
    ema.load_state_dict(model.denoiser.state_dict())

    def diffusion_loss() -> torch.Tensor:
        x, y = (tensor(a) for a in pairs.draw(cfg.batch))
        with torch.no_grad():
            z_hat, cond = model.condition(x, model.estimate(x))
            z0 = (model.autoencoder.encode(y) - z_hat) / model.residual_scale
        return v_loss(model.denoiser, z0, cond, args["gen"])

    losses["diffusion"] = _run_stage(module=model.denoiser, loss_fn=diffusion_loss, ema=ema,
                                     **args)
    model.denoiser.load_state_dict(ema.state_dict())
    model.eval()

    # 4. how much of the diffusion's correction to keep, measured on held-out pairs
    held.rng = np.random.default_rng([cfg.seed, SEED_INDEX["calibration"]])
    refine = calibrate_refine_weight(model, held, cfg, torch.Generator().manual_seed(cfg.seed))
    model.refine_weight.fill_(refine["refine_weight"])
    minutes = (time.monotonic() - t0) / 60
    ae_psnr = autoencoder_psnr(model, tensor(held.patches[:, None]))
    card = {
        "description": "isonb latent diffusion (unpaired, self-supervised)",
        "train_config": asdict(cfg),
        "seed": cfg.seed,
        "training_data": [{"file": str(s.path), "shape": list(s.data.shape),
                           "voxel_size_um": list(s.voxel_size)} for s in stacks],
        "degradation": [asdict(d) for d in data.degradations],
        "metrics": {"autoencoder_psnr_heldout_xy_db": ae_psnr, **refine,
                    "final_losses": {k: float(np.mean(v[-50:])) for k, v in losses.items() if v}},
        "train_minutes": minutes,
        "hardware": f"{platform.machine()}, {torch.get_num_threads()} threads, {dev}",
        "torch": torch.__version__,
    }
    ldm_lib.save(model, out, card, overwrite=True)
    save_loss_curves(losses, out / "loss_curves.png")
    print(f"trained in {minutes:.1f} min; autoencoder held-out xy PSNR {ae_psnr:.1f} dB; "
          f"refine weight {refine['refine_weight']:.2f} -> {out}")
    return out


@torch.no_grad()
def calibrate_refine_weight(model: LDM, held: PairSampler, cfg: TrainConfig,
                            gen: torch.Generator, n: int = 64, samples: int = 2,
                            steps: int = 4) -> dict[str, float]:
    """Least-squares weight w in [0, 1] of the diffusion's correction, on held-out pairs.

    With d = mean_k x_k - D(E(x_hat)), w minimises |x_hat + w d - y|^2 over recorrupted
    held-out pairs (targets with noise independent of the inputs, so w is not fitted to
    noise). Uses the restoration defaults (K=2 samples, 4 DDIM steps). Also returns the
    held-out MSE of x_hat and of the refined output, the gain the weight buys.
    """
    dev = next(model.parameters()).device
    x, y = (torch.from_numpy(a).to(dev) for a in held.draw(n, cfg.recorrupt))
    h = w = cfg.patch // Autoencoder.factor
    noise = torch.randn((samples, cfg.model.autoencoder.latent_ch, h, w), generator=gen).to(dev)
    x_hat, d = [], []
    for xb in x.split(cfg.batch):
        xh, base, xk = model.samples(xb, noise, steps)
        x_hat.append(xh)
        d.append(xk.mean(0) - base)
    x_hat, d = torch.cat(x_hat), torch.cat(d)
    weight = float(torch.clamp(torch.sum(d * (y - x_hat)) / torch.sum(d * d).clamp_min(1e-12),
                               0.0, 1.0))
    return {"refine_weight": weight,
            "heldout_mse_estimate": float(torch.mean((x_hat - y) ** 2)),
            "heldout_mse_refined": float(torch.mean((x_hat + weight * d - y) ** 2))}


@torch.no_grad()
def autoencoder_psnr(model: LDM, x: torch.Tensor) -> float:
    """PSNR (dB, data range 1) of the autoencoder's reconstruction of held-out patches."""
    mse = float(torch.mean((model.autoencoder(x) - x) ** 2))
    return 10 * np.log10(1.0 / max(mse, 1e-12))


def save_loss_curves(losses: dict[str, list[float]], path: Path) -> Path:
    """One panel per stage: raw loss and its running mean, log scale."""
    from matplotlib.figure import Figure  # no pyplot: the notebook's backend stays as it is

    fig = Figure(figsize=(4 * len(losses), 3))
    axes = fig.subplots(1, len(losses), squeeze=False)
    for ax, (name, values) in zip(axes[0], losses.items()):
        if values:
            v = np.asarray(values)
            k = max(1, len(v) // 50)
            ax.plot(v, alpha=0.3, lw=0.5)
            ax.plot(np.convolve(v, np.ones(k) / k, mode="valid"), lw=1.5)
            ax.set_yscale("log")
        ax.set_title(name)
        ax.set_xlabel("step")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    return path
