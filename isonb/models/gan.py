"""CycleGAN's networks, in the sizes Self-Net uses: a ResNet generator and a PatchGAN.

Shared by the learned degradation (`isonb.learned_degradation`) and the Self-Net reference
(`isonb.baselines.selfnet`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class GANConfig:
    """Widths and depths of a ResNet generator and its PatchGAN discriminator."""

    ngf: int = 64  # generator filters
    blocks: int = 6  # ResNet blocks of the generator
    ndf: int = 64  # discriminator filters
    d_layers: int = 2  # PatchGAN layers


class ResnetGenerator(nn.Module):
    """Self-Net's Deblur_Net: 7x7 in, 2 convs, ResNet blocks, 2 convs, 7x7 out; LeakyReLU."""

    multiple = 1

    def __init__(self, cfg: GANConfig):
        super().__init__()
        self.cfg = cfg
        c = cfg.ngf
        act = lambda: nn.LeakyReLU(0.2)  # noqa: E731
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(1, c, 7), act()]
        layers += [m for _ in range(2) for m in (nn.Conv2d(c, c, 3, padding=1), act())]
        layers += [ResBlock(c) for _ in range(cfg.blocks)]
        layers += [m for _ in range(2) for m in (nn.Conv2d(c, c, 3, padding=1), act())]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(c, 1, 7)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class ResBlock(nn.Module):
    """Two reflection-padded 3x3 convolutions and a skip connection."""

    def __init__(self, c: int):
        super().__init__()
        self.body = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(c, c, 3), nn.LeakyReLU(0.2),
                                  nn.ReflectionPad2d(1), nn.Conv2d(c, c, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def patch_discriminator(cfg: GANConfig) -> nn.Sequential:
    """PatchGAN with `d_layers` strided 4x4 convolutions and instance norm."""
    c, layers = cfg.ndf, [nn.Conv2d(1, cfg.ndf, 4, 2, 1), nn.LeakyReLU(0.2)]
    mult = 1
    for n in range(1, cfg.d_layers):
        prev, mult = mult, min(2**n, 8)
        layers += [nn.Conv2d(c * prev, c * mult, 4, 2, 1), nn.InstanceNorm2d(c * mult),
                   nn.LeakyReLU(0.2)]
    prev, mult = mult, min(2**cfg.d_layers, 8)
    layers += [nn.Conv2d(c * prev, c * mult, 4, 1, 1), nn.InstanceNorm2d(c * mult),
               nn.LeakyReLU(0.2), nn.Conv2d(c * mult, 1, 4, 1, 1)]
    return nn.Sequential(*layers)


def init_normal(module: nn.Module) -> None:
    """CycleGAN's initialisation: conv weights ~ N(0, 0.02), biases 0."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.normal_(m.weight, 0.0, 0.02)
            nn.init.zeros_(m.bias)


def lsgan(pred: torch.Tensor, real: bool) -> torch.Tensor:
    """Least-squares GAN loss (Mao et al. 2017), as CycleGAN and Self-Net use."""
    return torch.mean((pred - float(real)) ** 2)
