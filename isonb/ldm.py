"""The latent diffusion model that restores axial images, and how it is saved and loaded.

Restoring one axial image x (z first, normalised, on the isotropic grid):
  1. a regression UNet gives a first estimate   x_hat = x + R(x)
  2. in the autoencoder's latent space, diffusion samples the residual the estimate misses,
     conditioned on E(x_hat) and E(x):          r ~ p(r | E(x_hat), E(x))   (DDIM, few steps)
  3. the restored image is                       D(E(x_hat) + r * residual_scale)
The mean of K samples is the output (an MMSE estimate), their spread the uncertainty.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from .diffusion import ddim_sample
from .errors import IsonbError
from .models.autoencoder import Autoencoder, AutoencoderConfig
from .models.unet import UNet, UNetConfig

WEIGHTS = "weights.safetensors"
CARD = "model.json"


@dataclass
class LDMConfig:
    """The architecture; saved in the model card so the weights rebuild without guessing."""

    autoencoder: AutoencoderConfig = field(default_factory=AutoencoderConfig)
    regressor: UNetConfig = field(default_factory=lambda: UNetConfig(1, 1, 16, (1, 2, 4)))
    denoiser: UNetConfig = field(
        default_factory=lambda: UNetConfig(3 * 16, 16, 48, (1, 2), time=True))

    @classmethod
    def from_dict(cls, d: dict) -> LDMConfig:
        def unet(u: dict) -> UNetConfig:
            return UNetConfig(**{**u, "mults": tuple(u["mults"])})

        return cls(AutoencoderConfig(**d["autoencoder"]), unet(d["regressor"]),
                   unet(d["denoiser"]))


class LDM(torch.nn.Module):
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

    @torch.no_grad()
    def restore(self, x: torch.Tensor, noise: torch.Tensor, steps: int) -> torch.Tensor:
        """Restore a batch (B, 1, H, W) once per noise sample: (K, B, 1, H, W).

        `noise` is (K, C, H/4, W/4), shared by every image of the batch, so neighbouring
        slices restored with the same noise stay consistent (no stripes).
        """
        x_hat = self.estimate(x)
        z_hat, cond = self.condition(x, x_hat)
        out = []
        for eps in noise:
            r = ddim_sample(self.denoiser, cond, eps.expand(x.shape[0], -1, -1, -1), steps)
            out.append(self.autoencoder.decode(z_hat + r * self.residual_scale))
        return torch.stack(out)


def pad_to(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """Reflect-pad (B, C, H, W) at the bottom/right to multiples of `multiple`."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph or pw:
        mode = "reflect" if ph < h and pw < w else "replicate"
        x = F.pad(x, (0, pw, 0, ph), mode=mode)
    return x, (h, w)


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def save(model: LDM, folder: str | Path, card: dict, overwrite: bool = False) -> Path:
    """Write weights.safetensors and model.json (config, checksum and the caller's card)."""
    folder = Path(folder)
    path = folder / WEIGHTS
    if path.exists() and not overwrite:
        raise IsonbError(f"{path}: exists already. Fix: choose another --out or pass --overwrite")
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(tensors, str(path))
    full = {"config": asdict(model.cfg), **card, "weights": WEIGHTS, "sha256": sha256(path)}
    (folder / CARD).write_text(json.dumps(full, indent=2))
    return folder


def load(folder: str | Path, device: str | torch.device = "cpu") -> tuple[LDM, dict]:
    """Rebuild the model from model.json and load its weights strictly; clear errors if not."""
    folder = Path(folder)
    card_path, path = folder / CARD, folder / WEIGHTS
    if not card_path.exists() or not path.exists():
        raise IsonbError(f"{folder}: no {CARD} and {WEIGHTS} there. Fix: point --weights at a "
                         "folder written by `python -m isonb train`")
    card = json.loads(card_path.read_text())
    if card.get("sha256") and card["sha256"] != sha256(path):
        raise IsonbError(f"{path}: checksum differs from {CARD}. Fix: re-copy the weights")
    try:
        model = LDM(LDMConfig.from_dict(card["config"]))
        model.load_state_dict(load_file(str(path)), strict=True)
    except (RuntimeError, KeyError, TypeError) as err:
        first = str(err).strip().splitlines()[0][:300]
        raise IsonbError(f"{folder}: the weights do not match the config in {CARD} ({first}). "
                         "Fix: use the model.json written with these weights") from None
    return model.to(device).eval(), card


def device() -> torch.device:
    """The GPU when there is one, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def to_numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().float().cpu().numpy()
