"""CARE isotropic reconstruction (Weigert et al. 2018), re-implemented for comparison.

As in CSBDeep's isotropic example: a 2D UNet (depth 2, 32 first filters, 5x5 kernels, two
convolutions per level, ReLU, residual output, MAE loss, Adam 4e-4, batch 16) trained on xy
patches degraded into synthetic axial ones, then applied to every xz and yz slice of the
resliced stack and fused by averaging. The degradation is a Gaussian axial PSF, as CSBDeep
assumes: isonb's single-Gaussian estimate from the data (not the LDM's band-wise one), or,
for simulated cases, the true PSF's FWHMs.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..checkpoint import from_dict, load_model, save_model
from ..degrade import Degradation
from ..devices import device
from ..io import Stack
from ..loop import Stage, checkpoint_folder, deadline_after, descend, fit
from ..patches import prepare
from ..psf import FWHM_PER_SIGMA


@dataclass
class CAREConfig:
    """CARE's UNet, in CSBDeep's parameter names."""

    depth: int = 2  # CSBDeep unet_n_depth
    first: int = 32  # unet_n_first
    kernel: int = 5  # unet_kern_size for 2D

    @property
    def multiple(self) -> int:
        """Image sides must be multiples of this (one halving per level)."""
        return 2**self.depth


class CAREUNet(nn.Module):
    """CSBDeep's UNet: conv-conv per level, max-pool down, nearest up, residual linear output."""

    def __init__(self, cfg: CAREConfig):
        super().__init__()
        self.cfg = cfg
        k, p = cfg.kernel, cfg.kernel // 2

        def block(cin: int, cout: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(cin, cout, k, padding=p), nn.ReLU(),
                                 nn.Conv2d(cout, cout, k, padding=p), nn.ReLU())

        chs = [cfg.first * 2**i for i in range(cfg.depth + 1)]
        self.down = nn.ModuleList([block(1 if i == 0 else chs[i - 1], chs[i])
                                   for i in range(cfg.depth)])
        self.middle = block(chs[cfg.depth - 1], chs[cfg.depth])
        self.up = nn.ModuleList([block(chs[i + 1] + chs[i], chs[i])
                                 for i in reversed(range(cfg.depth))])
        self.out = nn.Conv2d(chs[0], 1, 1)

    @property
    def multiple(self) -> int:
        return self.cfg.multiple

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips, h = [], x
        for block in self.down:
            h = block(h)
            skips.append(h)
            h = F.max_pool2d(h, 2)
        h = self.middle(h)
        for block in self.up:
            h = block(torch.cat([F.interpolate(h, scale_factor=2.0), skips.pop()], 1))
        return x + self.out(h)


@dataclass
class CARETrainConfig:
    """CARE-iso's training: pairs of xy patches and their axially degraded copies."""

    seed: int = 0
    patch: int = 64
    n_patches: int = 3000
    batch: int = 16
    steps: int = 3000
    lr: float = 4e-4
    minutes: float = 0.0  # time cap (0: none)
    true_fwhm: tuple[float, float] | None = None  # (lateral, axial) µm: the known-PSF variant
    model: CAREConfig = field(default_factory=CAREConfig)


def true_psf_degradation(deg: Degradation, fwhm: tuple[float, float], dx: float) -> Degradation:
    """The estimated degradation with its axial blur replaced by the true PSF's (one Gaussian)."""
    lateral, axial = fwhm
    sigma = np.sqrt(max(axial**2 - lateral**2, 0.0)) / FWHM_PER_SIGMA / dx
    return replace(deg.single_gaussian(), sigma_axial=float(sigma))


def train_care(stacks: list[Stack], out: str | Path, cfg: CARETrainConfig | None = None,
               overwrite: bool = False, progress: bool = True) -> Path:
    """Train CARE-iso on synthetic (axial, xy) pairs of `stacks`; writes weights + card.
    Checkpointed and resumable as every isonb training is (`loop.fit`)."""
    cfg = cfg or CARETrainConfig()
    ckpt = checkpoint_folder(out, cfg, overwrite)
    torch.manual_seed(cfg.seed)
    data = prepare(stacks, cfg.patch, cfg.n_patches, cfg.seed)  # the LDM's patches too
    # as published: one Gaussian axial PSF for all lateral frequencies (estimated, or true)
    data.pairs.degradations = [d.single_gaussian() for d in data.degradations]
    if cfg.true_fwhm is not None:
        data.pairs.degradations = [true_psf_degradation(d, cfg.true_fwhm, s.voxel_size[2])
                                   for d, s in zip(data.degradations, stacks)]
    dev = device()
    model = CAREUNet(cfg.model).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)

    def step(i: int) -> float:
        x, y = (torch.from_numpy(a).to(dev) for a in data.pairs.draw(cfg.batch))
        return descend(torch.mean(torch.abs(model(x) - y)), opt)

    t0 = time.monotonic()
    losses = fit(Stage("CARE", {"model": model}, {"opt": opt}, step, cfg.steps, rng=data.rng),
                 ckpt / "care.pt", deadline_after(cfg.minutes), progress=progress)
    card = {"train_config": asdict(cfg), "seed": cfg.seed, "steps_done": len(losses),
            "train_minutes": (time.monotonic() - t0) / 60,
            "degradation": [asdict(d) for d in data.pairs.degradations],
            "training_data": [str(s.path) for s in stacks],
            "loss_first_10": float(np.mean(losses[:10])) if losses else None,
            "loss_last_10": float(np.mean(losses[-10:])) if losses else None}
    return save_model(model.eval(), out, "care", card, overwrite=True)


def load_care(folder: str | Path, dev: str | torch.device = "cpu") -> tuple[CAREUNet, dict]:
    """A trained CARE-iso network and its model card, from `folder`."""
    return load_model(folder, "care", lambda c: CAREUNet(from_dict(CAREConfig, c)), dev)
