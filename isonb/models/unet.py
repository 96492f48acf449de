"""A small UNet: the regression network (image space) and the diffusion denoiser (latent space)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .layers import Down, ResBlock, Up, norm, timestep_embedding


@dataclass
class UNetConfig:
    """Channels and levels of a UNet; `time` makes it a diffusion denoiser."""

    in_ch: int = 1  # input channels (the denoiser: noisy latent + conditioning latents)
    out_ch: int = 1  # output channels
    ch: int = 32  # channels at full resolution
    mults: tuple[int, ...] = (1, 2, 4)  # channel multiplier per level; len-1 downsamplings
    time: bool = False  # condition on a diffusion time t in [0, 1]

    @property
    def multiple(self) -> int:
        """Input height and width must be multiples of this."""
        return 2 ** (len(self.mults) - 1)


class UNet(nn.Module):
    """Encoder-decoder with skip connections; one ResBlock per level keeps it CPU-friendly."""

    def __init__(self, cfg: UNetConfig):
        super().__init__()
        self.cfg = cfg
        temb = 4 * cfg.ch if cfg.time else 0
        self.time_mlp = (nn.Sequential(nn.Linear(cfg.ch, temb), nn.SiLU(), nn.Linear(temb, temb))
                         if cfg.time else None)
        chs = [cfg.ch * m for m in cfg.mults]
        self.stem = nn.Conv2d(cfg.in_ch, chs[0], 3, padding=1)
        self.down = nn.ModuleList()
        self.pool = nn.ModuleList()
        for i, c in enumerate(chs):
            self.down.append(ResBlock(chs[max(i - 1, 0)], c, temb))
            self.pool.append(Down(c) if i < len(chs) - 1 else nn.Identity())
        self.mid = ResBlock(chs[-1], chs[-1], temb)
        self.up = nn.ModuleList()
        self.unpool = nn.ModuleList()
        for i in reversed(range(len(chs))):
            c_in = chs[i + 1] if i < len(chs) - 1 else chs[-1]
            self.unpool.append(Up(c_in) if i < len(chs) - 1 else nn.Identity())
            self.up.append(ResBlock(c_in + chs[i], chs[i], temb))
        self.head = nn.Sequential(norm(chs[0]), nn.SiLU(),
                                  nn.Conv2d(chs[0], cfg.out_ch, 3, padding=1))

    def forward(self, x: torch.Tensor, t: torch.Tensor | None = None) -> torch.Tensor:
        emb = self.time_mlp(timestep_embedding(t, self.cfg.ch)) if self.time_mlp else None
        h = self.stem(x)
        skips = []
        for block, pool in zip(self.down, self.pool):
            h = block(h, emb)
            skips.append(h)
            h = pool(h)
        h = self.mid(h, emb)
        for unpool, block in zip(self.unpool, self.up):
            h = block(torch.cat([unpool(h), skips.pop()], dim=1), emb)
        return self.head(h)
