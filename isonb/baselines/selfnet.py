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
from tqdm.auto import tqdm

from ..checkpoint import device, load_model, save_model
from ..degrade import Degradation, synthesize_axial
from ..io import Stack
from ..models.gan import GANConfig as SelfNetConfig
from ..models.gan import ResnetGenerator, init_normal, lsgan, patch_discriminator


def charbonnier(x: torch.Tensor, y: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
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


@dataclass
class SelfNetTrainConfig:
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
    """Train Self-Net on `stacks` (unpaired xy and xz patches); writes the deblurring net."""
    from ..train import prepare

    cfg = cfg or SelfNetTrainConfig()
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    data = prepare(stacks, cfg, rng)
    if len(data.axial) == 0:
        raise ValueError("Self-Net needs axial patches: the resliced stacks are thinner than "
                         f"the {cfg.patch}-px patch. Fix: pass a smaller --patch")
    sampling = [Degradation(0.0, d.z_step, 0.0) for d in data.degradations]  # z-sampling only
    dev = device()
    g_a, g_b, deblur = (ResnetGenerator(cfg.model).to(dev) for _ in range(3))
    d_a, d_b = (patch_discriminator(cfg.model).to(dev) for _ in range(2))
    for net in (g_a, g_b, deblur, d_a, d_b):
        init_normal(net)
    betas = (0.5, 0.999)
    opt_g = torch.optim.Adam([*g_a.parameters(), *g_b.parameters()], cfg.lr, betas=betas)
    opt_d = torch.optim.Adam([*d_a.parameters(), *d_b.parameters()], cfg.lr, betas=betas)
    opt_deblur = torch.optim.Adam(deblur.parameters(), cfg.lr, betas=betas)
    pool_a, pool_b = ImagePool(50, rng), ImagePool(50, rng)

    def draw() -> tuple[torch.Tensor, ...]:
        idx = rng.integers(0, len(data.xy), cfg.batch)
        xy = np.stack([np.ascontiguousarray(data.xy[i][::-1] if rng.random() < 0.5
                                            else data.xy[i]) for i in idx])
        xy_lr = np.stack([synthesize_axial(p, sampling[data.pairs.source[i]], rng)
                          for p, i in zip(xy, idx)])
        xz = data.axial[rng.integers(0, len(data.axial), cfg.batch)]
        return tuple(torch.from_numpy(np.ascontiguousarray(a[:, None], np.float32)).to(dev)
                     for a in (xy_lr, xz, xy))

    epoch_len = max(1, cfg.steps // 60)  # the published 60 epochs, scaled to the budget
    deadline = time.monotonic() + (cfg.minutes * 60 if cfg.minutes > 0 else float("inf"))
    t0, losses = time.monotonic(), []
    for it in tqdm(range(cfg.steps), desc="Self-Net", disable=not progress):
        if time.monotonic() > deadline:
            break
        lr = cfg.lr * 0.5 ** ((it // epoch_len + 1) // 15)
        for opt in (opt_g, opt_d, opt_deblur):
            for group in opt.param_groups:
                group["lr"] = lr
        lambda_feedback = 0.1 if it >= epoch_len else 0.0
        a, b, c = draw()
        # degradation modelling: CycleGAN xy_lr <-> xz, plus feedback from the deblurring net
        fake_b, fake_a = g_a(a), g_b(b)
        rec_a, rec_b = g_b(fake_b), g_a(fake_a)
        for p in [*d_a.parameters(), *d_b.parameters(), *deblur.parameters()]:
            p.requires_grad_(False)
        fake_c = deblur(fake_b)
        loss_g = (0.1 * lsgan(d_a(fake_b), True) + 0.1 * lsgan(d_b(fake_a), True)
                  + charbonnier(rec_a, a) + 0.1 * (1 - ssim(rec_a, a))
                  + charbonnier(rec_b, b) + 0.1 * (1 - ssim(rec_b, b))
                  + lambda_feedback * (charbonnier(fake_c, c) + 0.1 * (1 - ssim(fake_c, c))))
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        for p in [*d_a.parameters(), *d_b.parameters(), *deblur.parameters()]:
            p.requires_grad_(True)
        if (it + 1) % 2 == 0:
            fb, fa = pool_b.query(fake_b), pool_a.query(fake_a)
            loss_d = 0.1 * 0.5 * (lsgan(d_a(b), True) + lsgan(d_a(fb), False)
                                  + lsgan(d_b(a), True) + lsgan(d_b(fa), False))
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()
        # deblurring: fake xz -> xy
        deblurred = deblur(g_a(a).detach())
        loss_deblur = charbonnier(deblurred, c) + 0.1 * (1 - ssim(deblurred, c))
        opt_deblur.zero_grad(set_to_none=True)
        loss_deblur.backward()
        opt_deblur.step()
        losses.append(loss_deblur.item())
    card = {"train_config": asdict(cfg), "seed": cfg.seed, "steps_done": len(losses),
            "train_minutes": (time.monotonic() - t0) / 60,
            "training_data": [str(s.path) for s in stacks],
            "deblur_loss_first_10": float(np.mean(losses[:10])) if losses else None,
            "deblur_loss_last_10": float(np.mean(losses[-10:])) if losses else None}
    return save_model(deblur.eval(), out, "selfnet", card, overwrite)


def load_selfnet(folder: str | Path, dev: str | torch.device = "cpu"
                 ) -> tuple[ResnetGenerator, dict]:
    return load_model(folder, "selfnet", lambda c: ResnetGenerator(SelfNetConfig(**c)), dev)
