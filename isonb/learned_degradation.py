"""The learned degradation (optional): a CycleGAN making synthetic axial patches look real.

The PSF model of `isonb.degrade` blurs, samples and adds noise to xy patches along one
axis. What it cannot express (an aberrated or asymmetric PSF, scattering, detector
artefacts) a generator learns from unpaired patches, as Self-Net does (Ning et al. 2023):
G_A maps the PSF model's synthetic axial patches to the domain of the real xz/yz patches,
G_B maps back, with least-squares adversarial losses and cycle consistency (Zhu et al.
2017). Both generators are residual and start at the identity (their last convolution is
zero), so G_A starts as the PSF model and only moves it where a discriminator can tell
synthetic from real. G_A then makes the inputs of the LDM's training pairs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from .models.gan import GANConfig, ResnetGenerator, init_normal, lsgan, patch_discriminator


@dataclass
class DegraderConfig:
    """The CycleGAN that learns what the PSF model's synthetic axial patches lack."""

    # smaller than Self-Net's (64 filters, 6 blocks): G_A then runs on every training batch
    net: GANConfig = field(default_factory=lambda: GANConfig(ngf=16, blocks=3, ndf=32))
    cycle: float = 10.0  # weight of the cycle losses against the adversarial ones
    lr: float = 1e-3  # betas (0.5, 0.999) as CycleGAN; 5x its 2e-4, as budgets here are short


class CycleGAN(nn.Module):
    """a: synthetic axial patches (the PSF model's), b: real axial patches."""

    def __init__(self, cfg: DegraderConfig):
        super().__init__()
        self.cfg = cfg
        self.g_a, self.g_b = ResnetGenerator(cfg.net), ResnetGenerator(cfg.net)  # a->b, b->a
        self.d_a, self.d_b = patch_discriminator(cfg.net), patch_discriminator(cfg.net)
        init_normal(self.d_a)
        init_normal(self.d_b)
        for g in (self.g_a, self.g_b):  # PyTorch's default initialisation, output zero
            nn.init.zeros_(g.net[-1].weight)
            nn.init.zeros_(g.net[-1].bias)

    def degrade(self, a: torch.Tensor) -> torch.Tensor:
        """A synthetic axial patch made to look like a real one: (B, 1, H, W) -> same."""
        return a + self.g_a(a)

    def undo(self, b: torch.Tensor) -> torch.Tensor:
        """A real axial patch made to look like a synthetic one (the cycle's way back)."""
        return b + self.g_b(b)

    def loss(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Generators' and discriminators' losses, summed for one simultaneous update.

        The generators' adversarial terms pass through frozen discriminators and the
        discriminators see detached fakes, so each network gets only its own gradient.
        """
        fake_b, fake_a = self.degrade(a), self.undo(b)
        cycle = torch.mean(torch.abs(self.undo(fake_b) - a)) + torch.mean(
            torch.abs(self.degrade(fake_a) - b))
        discriminators = [*self.d_a.parameters(), *self.d_b.parameters()]
        for p in discriminators:
            p.requires_grad_(False)
        loss_g = lsgan(self.d_a(fake_b), True) + lsgan(self.d_b(fake_a), True)
        for p in discriminators:
            p.requires_grad_(True)
        loss_d = 0.5 * (lsgan(self.d_a(b), True) + lsgan(self.d_a(fake_b.detach()), False)
                        + lsgan(self.d_b(a), True) + lsgan(self.d_b(fake_a.detach()), False))
        return loss_g + self.cfg.cycle * cycle + loss_d


def as_transform(model: CycleGAN, dev: torch.device, batch: int = 64
                 ) -> Callable[[np.ndarray], np.ndarray]:
    """G_A as a function on numpy batches (n, p, p), for `degrade.PairSampler`."""

    @torch.no_grad()
    def transform(patches: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(patches, dtype=np.float32))[:, None]
        out = [model.degrade(xb.to(dev)).cpu() for xb in x.split(batch)]
        return torch.cat(out)[:, 0].numpy()

    return transform
