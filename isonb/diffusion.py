"""Gaussian diffusion in latent space: cosine schedule, v-prediction, deterministic DDIM sampling.

Continuous time t in [0, 1]: z_t = alpha(t) z_0 + sigma(t) eps with alpha = cos(pi/2 * t'),
sigma = sin(pi/2 * t') (t' slightly shifted so alpha(1) > 0). The denoiser predicts
v = alpha eps - sigma z_0 (Salimans & Ho 2022), from which z_0 = alpha z_t - sigma v.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

T_MAX = 0.995  # keep alpha(1) above zero so every step is well defined


def alpha_sigma(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Signal and noise levels at time t (cosine schedule, alpha^2 + sigma^2 = 1)."""
    angle = 0.5 * math.pi * t * T_MAX
    return torch.cos(angle), torch.sin(angle)


def _bc(a: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return a.reshape(-1, *([1] * (like.dim() - 1)))


def v_loss(denoiser: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], z0: torch.Tensor,
           cond: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Mean squared error of the v-prediction at uniformly drawn times (the training loss)."""
    t = torch.rand(z0.shape[0], generator=generator, device="cpu").to(z0.device)
    eps = torch.randn(z0.shape, generator=generator, device="cpu").to(z0.device)
    a, s = alpha_sigma(t)
    zt = _bc(a, z0) * z0 + _bc(s, z0) * eps
    v = _bc(a, z0) * eps - _bc(s, z0) * z0
    return torch.mean((denoiser(torch.cat([zt, cond], 1), t) - v) ** 2)


@torch.no_grad()
def ddim_sample(denoiser: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                cond: torch.Tensor, noise: torch.Tensor, steps: int = 4) -> torch.Tensor:
    """Deterministic DDIM from `noise` (z at t=1) to z_0 in `steps` steps, conditioned on `cond`.

    `noise` has the shape of z_0; the same noise gives the same sample.
    """
    z = noise
    times = torch.linspace(1.0, 0.0, steps + 1, device=noise.device)
    for t_now, t_next in zip(times[:-1], times[1:]):
        t = t_now.expand(z.shape[0])
        a, s = alpha_sigma(t_now)
        v = denoiser(torch.cat([z, cond], 1), t)
        z0 = a * z - s * v
        eps = s * z + a * v
        a2, s2 = alpha_sigma(t_next)
        z = a2 * z0 + s2 * eps
    return z
