"""Self-Net (Ning et al. 2023, Light Sci Appl), re-implemented for comparison.

Following the authors' code (MOSTYuan/Self-Net): xy patches are made "xy_lr" by simulating
the coarse z-sampling along one lateral axis; a CycleGAN (ResNet generators with 6 blocks and
64 filters, 2-layer PatchGAN discriminators with instance norm, LSGAN, image pools of 50)
learns xy_lr -> xz from unpaired xz patches, with cycle losses Charbonnier + 0.1 (1 - SSIM);
a deblurring network of the generators' architecture learns fake xz -> xy at the same time,
and feeds back into the generators (weight 0.1 after the first epoch). lambda_GAN 0.1,
Adam 1e-4 (0.5, 0.999), batch 8, 64x64 patches, discriminators updated every second
iteration, learning rate halved every quarter of the run (every 15 of the published 60
epochs). Only the number of iterations is scaled, to the time budget. At inference the
deblurring network restores every xz and yz slice of the resliced stack; the two are averaged.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..checkpoint import from_dict, load_model, save_model
from ..degrade import Degradation, synthesize_axial
from ..devices import device
from ..errors import IsonbError
from ..io import Stack
from ..loop import Stage, checkpoint_folder, deadline_after, descend, fit
from ..models.gan import GANConfig as SelfNetConfig
from ..models.gan import ResnetGenerator, init_normal, lsgan, patch_discriminator
from ..patches import TrainingData, prepare


def charbonnier(x: torch.Tensor, y: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """The Charbonnier loss, a smooth L1: with SSIM, Self-Net's cycle and deblurring loss."""
    return torch.mean(torch.sqrt((x - y) ** 2 + eps))


def ssim(x: torch.Tensor, y: torch.Tensor, win: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """Mean SSIM with an 11x11 Gaussian window (sigma 1.5), data range 1, as Self-Net uses."""
    g = torch.exp(-((torch.arange(win, device=x.device) - win // 2) ** 2) / (2 * sigma**2))
    g = (g / g.sum()).float()
    kx, ky = g.view(1, 1, 1, win), g.view(1, 1, win, 1)

    def blur(a: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.conv2d(a, kx), ky)

    mx, my = blur(x), blur(y)
    vx, vy, vxy = blur(x * x) - mx**2, blur(y * y) - my**2, blur(x * y) - mx * my
    c1, c2 = 0.01**2, 0.03**2
    return (((2 * mx * my + c1) * (2 * vxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))).mean()


class ImagePool:
    """CycleGAN's history of 50 generated images: half the time a stored one is returned."""

    def __init__(self, size: int, rng: np.random.Generator):
        self.size, self.rng, self.images = size, rng, []

    def query(self, images: torch.Tensor) -> torch.Tensor:
        out = []
        for img in images.detach():
            img = img[None]
            if len(self.images) < self.size:
                self.images.append(img)
                out.append(img)
            elif self.rng.random() > 0.5:
                i = int(self.rng.integers(0, self.size))
                out.append(self.images[i].clone())
                self.images[i] = img
            else:
                out.append(img)
        return torch.cat(out)

    def state_dict(self) -> dict:
        return {"images": list(self.images)}

    def load_state_dict(self, state: dict) -> None:
        self.images = list(state["images"])


@dataclass
class SelfNetTrainConfig:
    """Self-Net's training (its CycleGAN and deblurring network together): patches, steps, rate."""

    seed: int = 0
    patch: int = 64
    n_patches: int = 3000
    batch: int = 8
    steps: int = 3000
    lr: float = 1e-4
    minutes: float = 0.0  # time cap (0: none)
    model: SelfNetConfig = field(default_factory=SelfNetConfig)


def train_selfnet(stacks: list[Stack], out: str | Path, cfg: SelfNetTrainConfig | None = None,
                  overwrite: bool = False, progress: bool = True) -> Path:
    """Train Self-Net on `stacks` (unpaired xy and xz patches); writes the deblurring net.
    Checkpointed and resumable as every isonb training is (`loop.fit`)."""
    cfg = cfg or SelfNetTrainConfig()
    ckpt = checkpoint_folder(out, cfg, overwrite)
    torch.manual_seed(cfg.seed)
    data = prepare(stacks, cfg.patch, cfg.n_patches, cfg.seed)
    if len(data.axial) == 0:
        raise IsonbError("Self-Net needs axial patches: the resliced stacks are thinner than "
                         f"the {cfg.patch}-px patch. Fix: pass a smaller --patch")
    dev = device()
    nets = dict(g_a=ResnetGenerator(cfg.model), g_b=ResnetGenerator(cfg.model),
                deblur=ResnetGenerator(cfg.model), d_a=patch_discriminator(cfg.model),
                d_b=patch_discriminator(cfg.model))
    for net in nets.values():
        init_normal(net.to(dev))
    stage = selfnet_stage(nets, data, cfg, dev)
    t0 = time.monotonic()
    losses = fit(stage, ckpt / "selfnet.pt", deadline_after(cfg.minutes), progress=progress)
    card = {"train_config": asdict(cfg), "seed": cfg.seed, "steps_done": len(losses),
            "train_minutes": (time.monotonic() - t0) / 60,
            "training_data": [str(s.path) for s in stacks],
            "deblur_loss_first_10": float(np.mean(losses[:10])) if losses else None,
            "deblur_loss_last_10": float(np.mean(losses[-10:])) if losses else None}
    return save_model(nets["deblur"].eval(), out, "selfnet", card, overwrite=True)


def selfnet_stage(nets: dict[str, torch.nn.Module], data: TrainingData,
                  cfg: SelfNetTrainConfig, dev: torch.device) -> Stage:
    """Self-Net's iteration as the authors schedule it: the CycleGAN's generators with the
    deblurring net's feedback, the discriminators every second iteration (from image pools),
    then the deblurring net; the learning rate halves every 15 of 60 scaled epochs."""
    rng, betas = data.rng, (0.5, 0.999)
    g_a, g_b, deblur, d_a, d_b = (nets[k] for k in ("g_a", "g_b", "deblur", "d_a", "d_b"))
    opts = {"g": torch.optim.Adam([*g_a.parameters(), *g_b.parameters()], cfg.lr, betas=betas),
            "d": torch.optim.Adam([*d_a.parameters(), *d_b.parameters()], cfg.lr, betas=betas),
            "deblur": torch.optim.Adam(deblur.parameters(), cfg.lr, betas=betas)}
    pools = {"a": ImagePool(50, rng), "b": ImagePool(50, rng)}
    draw = _selfnet_batches(data, cfg.batch, dev)
    epoch_len = max(1, cfg.steps // 60)  # the published 60 epochs, scaled to the budget
    frozen = [*d_a.parameters(), *d_b.parameters(), *deblur.parameters()]

    def step(it: int) -> float:
        a, b, c = draw()
        # degradation modelling: CycleGAN xy_lr <-> xz, plus feedback from the deblurring net
        fake_b, fake_a = g_a(a), g_b(b)
        rec_a, rec_b = g_b(fake_b), g_a(fake_a)
        for p in frozen:
            p.requires_grad_(False)
        fake_c = deblur(fake_b)
        feedback = 0.1 if it >= epoch_len else 0.0
        descend(0.1 * lsgan(d_a(fake_b), True) + 0.1 * lsgan(d_b(fake_a), True)
                + similarity(rec_a, a) + similarity(rec_b, b)
                + feedback * similarity(fake_c, c), opts["g"])
        for p in frozen:
            p.requires_grad_(True)
        if (it + 1) % 2 == 0:
            fb, fa = pools["b"].query(fake_b), pools["a"].query(fake_a)
            descend(0.1 * 0.5 * (lsgan(d_a(b), True) + lsgan(d_a(fb), False)
                                 + lsgan(d_b(a), True) + lsgan(d_b(fa), False)), opts["d"])
        # deblurring: fake xz -> xy
        return descend(similarity(deblur(g_a(a).detach()), c), opts["deblur"])

    return Stage("Self-Net", nets, opts, step, cfg.steps,
                 lr=lambda it: cfg.lr * 0.5 ** ((it // epoch_len + 1) // 15), rng=rng,
                 state=pools)


def similarity(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Self-Net's image loss: Charbonnier + 0.1 (1 - SSIM)."""
    return charbonnier(x, y) + 0.1 * (1 - ssim(x, y))


def _selfnet_batches(data: TrainingData, batch: int, dev: torch.device):
    """A function drawing (xy_lr, xz, xy) batches: xy patches (flipped along one axis at
    random), the same made "xy_lr" by the z-sampling alone, and unpaired xz patches."""
    rng = data.rng
    sampling = [Degradation(0.0, d.z_step, 0.0) for d in data.degradations]  # z-sampling only

    def draw() -> tuple[torch.Tensor, ...]:
        idx = rng.integers(0, len(data.xy), batch)
        xy = np.stack([np.ascontiguousarray(data.xy[i][::-1] if rng.random() < 0.5
                                            else data.xy[i]) for i in idx])
        xy_lr = np.stack([synthesize_axial(p, sampling[data.pairs.source[i]], rng)
                          for p, i in zip(xy, idx)])
        xz = data.axial[rng.integers(0, len(data.axial), batch)]
        return tuple(torch.from_numpy(np.ascontiguousarray(a[:, None], np.float32)).to(dev)
                     for a in (xy_lr, xz, xy))

    return draw


def load_selfnet(folder: str | Path, dev: str | torch.device = "cpu"
                 ) -> tuple[ResnetGenerator, dict]:
    """A trained Self-Net deblurring network and its model card, from `folder`."""
    return load_model(folder, "selfnet",
                      lambda c: ResnetGenerator(from_dict(SelfNetConfig, c)), dev)
