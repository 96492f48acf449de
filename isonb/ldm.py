"""The latent diffusion model that restores axial images, and how it is saved and loaded.

Restoring one axial image x (z first, normalised, on the isotropic grid):
  1. a regression UNet gives a first estimate   x_hat = x + R(x)
  2. in the autoencoder's latent space, diffusion samples the residual the estimate misses,
     conditioned on E(x_hat) and E(x):          r_k ~ p(r | E(x_hat), E(x))   (DDIM, few steps)
  3. each sample, decoded, is a restored image   x_k = D(E(x_hat) + r_k * residual_scale)
  4. the output is the estimate plus the samples' mean correction, measured in image space
     so that the autoencoder's own error cancels:
                                                 x_hat + w * (mean_k x_k - D(E(x_hat)))
The refine weight w is fitted after training on held-out synthetic pairs (least squares,
no ground truth): it is how much of the diffusion's correction helps on average. The
uncertainty map is the spread of further samples x_k, each slice with noise of its own
(`isonb.uncertainty`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .checkpoint import from_dict, load_model, save_model
from .diffusion import ddim_sample
from .errors import IsonbError
from .models.autoencoder import Autoencoder, AutoencoderConfig
from .models.unet import UNet, UNetConfig


@dataclass
class LDMConfig:
    """The architecture; saved in the model card so the weights rebuild without guessing."""

    autoencoder: AutoencoderConfig = field(default_factory=AutoencoderConfig)
    regressor: UNetConfig = field(default_factory=lambda: UNetConfig(1, 1, 16, (1, 2, 4)))
    denoiser: UNetConfig = field(
        default_factory=lambda: UNetConfig(3 * 16, 16, 48, (1, 2), time=True))


class LDM(torch.nn.Module):
    """Regression UNet, autoencoder and latent denoiser: the module docstring's steps 1-4."""

    def __init__(self, cfg: LDMConfig):
        super().__init__()
        if cfg.denoiser.in_ch != 3 * cfg.autoencoder.latent_ch or \
                cfg.denoiser.out_ch != cfg.autoencoder.latent_ch:
            raise IsonbError("denoiser channels must be 3x / 1x the latent channels")
        self.cfg = cfg
        self.autoencoder = Autoencoder(cfg.autoencoder)
        self.regressor = UNet(cfg.regressor)
        self.denoiser = UNet(cfg.denoiser)
        self.register_buffer("residual_scale", torch.ones(()))
        self.register_buffer("refine_weight", torch.ones(()))

    @property
    def multiple(self) -> int:
        """Image sides must be multiples of this (the regressor's and the latent UNet's)."""
        return int(np.lcm(self.cfg.regressor.multiple,
                          Autoencoder.factor * self.cfg.denoiser.multiple))

    def estimate(self, x: torch.Tensor) -> torch.Tensor:
        """The regression first estimate x_hat = x + R(x)."""
        return x + self.regressor(x)

    def condition(self, x: torch.Tensor, x_hat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(E(x_hat), conditioning latents [E(x_hat), E(x)])."""
        z_hat = self.autoencoder.encode(x_hat)
        return z_hat, torch.cat([z_hat, self.autoencoder.encode(x)], 1)

    def _decode_samples(self, z_hat: torch.Tensor, cond: torch.Tensor, noise: torch.Tensor,
                        steps: int) -> torch.Tensor:
        """Decoded samples (K, B, 1, H, W), one per noise in `noise` (K, [B,] C, h, w)."""
        out = []
        for eps in noise:
            r = ddim_sample(self.denoiser, cond, eps.expand(z_hat.shape[0], -1, -1, -1), steps)
            out.append(self.autoencoder.decode(z_hat + r * self.residual_scale))
        return torch.stack(out)

    @torch.no_grad()
    def samples(self, x: torch.Tensor, noise: torch.Tensor, steps: int
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(x_hat, D(E(x_hat)), decoded samples (K, B, 1, H, W)) for a batch (B, 1, H, W)."""
        x_hat = self.estimate(x)
        z_hat, cond = self.condition(x, x_hat)
        return x_hat, self.autoencoder.decode(z_hat), self._decode_samples(z_hat, cond, noise,
                                                                           steps)

    @torch.no_grad()
    def restore(self, x: torch.Tensor, noise: torch.Tensor, steps: int, refine: bool = True
                ) -> torch.Tensor:
        """Restore a batch (B, 1, H, W) once per noise sample: (K, B, 1, H, W).

        Their mean is x_hat + w * (mean_k x_k - D(E(x_hat))), their spread that of the x_k.
        `noise` is (K, C, H/4, W/4), shared by every image of the batch, so neighbouring
        slices restored with the same noise stay consistent (no stripes); (K, B, C, H/4, W/4)
        gives each image noise of its own. `refine=False`: see `restore_groups`.
        """
        return self.restore_groups(x, [noise], steps, refine)[0]

    @torch.no_grad()
    def restore_groups(self, x: torch.Tensor, noises: list[torch.Tensor], steps: int,
                       refine: bool = True) -> list[torch.Tensor]:
        """`restore` for several groups of noise, sharing x_hat and its latents: one
        (K_g, B, 1, H, W) per group, each group's mean refined by its own samples.

        With `refine=False` each output is a posterior sample as the diffusion draws it,
        x_hat + (x_k - D(E(x_hat))) (the autoencoder's own error cancelled, no shrinkage by
        w): the same spread, the texture of the xy planes it learned instead of the mean's.
        """
        x_hat = self.estimate(x)
        z_hat, cond = self.condition(x, x_hat)
        base = self.autoencoder.decode(z_hat)
        out = []
        for noise in noises:
            xk = self._decode_samples(z_hat, cond, noise, steps)
            if not refine:
                out.append(x_hat + (xk - base))
                continue
            mean = xk.mean(0)
            out.append(x_hat + self.refine_weight * (mean - base) + (xk - mean))
        return out


def pad_to(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """Reflect-pad (B, C, H, W) at the bottom/right to multiples of `multiple`."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph or pw:
        mode = "reflect" if ph < h and pw < w else "replicate"
        x = F.pad(x, (0, pw, 0, ph), mode=mode)
    return x, (h, w)


def save(model: LDM, folder: str | Path, card: dict, overwrite: bool = False) -> Path:
    """Write the LDM's weights and model card into `folder`."""
    return save_model(model, folder, "ldm", card, overwrite)


def load(folder: str | Path, dev: str | torch.device = "cpu") -> tuple[LDM, dict]:
    """Rebuild the LDM from its card and load its weights strictly."""
    return load_model(folder, "ldm", lambda c: LDM(from_dict(LDMConfig, c)), dev)
