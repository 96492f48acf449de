"""A small convolutional autoencoder: images (B, 1, H, W) <-> latents (B, C, H/4, W/4).

As in latent diffusion, the latent scale is measured on data after training and stored
with the weights (`latent_scale`), so latents fed to the diffusion model have unit variance.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .layers import Down, ResBlock, Up, norm


@dataclass
class AutoencoderConfig:
    """Widths of the autoencoder."""

    ch: int = 16  # channels at full resolution (2*ch at the latent resolution)
    latent_ch: int = 16  # latent channels at 1/4 resolution: as many values as pixels


class Autoencoder(nn.Module):
    """Convolutional encoder and decoder, 4x down and up: the diffusion's latent space."""

    factor = 4  # spatial downsampling

    def __init__(self, cfg: AutoencoderConfig):
        super().__init__()
        self.cfg = cfg
        c, c2 = cfg.ch, 2 * cfg.ch
        self.encoder = nn.Sequential(
            nn.Conv2d(1, c, 3, padding=1), ResBlock(c, c), Down(c),
            ResBlock(c, c2), Down(c2), ResBlock(c2, c2),
            norm(c2), nn.SiLU(), nn.Conv2d(c2, cfg.latent_ch, 3, padding=1))
        self.decoder = nn.Sequential(
            nn.Conv2d(cfg.latent_ch, c2, 3, padding=1), ResBlock(c2, c2), Up(c2),
            ResBlock(c2, c), Up(c), ResBlock(c, c),
            norm(c), nn.SiLU(), nn.Conv2d(c, 1, 3, padding=1))
        self.register_buffer("latent_scale", torch.ones(()))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, H, W) -> scaled latents (B, C, H/4, W/4)."""
        return self.encoder(x) * self.latent_scale

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Scaled latents -> images (B, 1, H, W)."""
        return self.decoder(z / self.latent_scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))


def ssim_loss(x: torch.Tensor, y: torch.Tensor, win: int = 7) -> torch.Tensor:
    """1 - mean SSIM with a uniform window (data range 1), differentiable."""
    pool = lambda a: F.avg_pool2d(a, win, 1)  # noqa: E731
    mx, my = pool(x), pool(y)
    vx, vy, vxy = pool(x * x) - mx**2, pool(y * y) - my**2, pool(x * y) - mx * my
    c1, c2 = 0.01**2, 0.03**2
    s = ((2 * mx * my + c1) * (2 * vxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    return 1.0 - s.mean()
