"""Reference methods that isonb is compared with."""

from __future__ import annotations

from pathlib import Path

from ..choices import check_choice
from ..errors import IsonbError
from ..io import Stack
from .classic import interpolate, richardson_lucy

REFERENCES = ("care", "selfnet")
LABELS = {"care": "CARE-iso", "selfnet": "Self-Net"}
MODES = ("full", "quick", "smoke")


def train_reference(method: str, stacks: list[Stack], out: str | Path, *, seed: int = 0,
                    minutes: float = 0.0, mode: str = "full", patch: int | None = None,
                    true_fwhm: tuple[float, float] | None = None, overwrite: bool = False,
                    progress: bool = True) -> Path:
    """Train CARE-iso ("care") or Self-Net ("selfnet") on `stacks`, as `isonb train` does.

    `minutes` caps training (give the LDM's training time for a same-budget comparison);
    `mode` sets the number of steps: "full" (published, capped by `minutes`), "quick" (a few
    minutes on a CPU) or "smoke" (seconds, with small networks: it only proves the path).
    """
    from .care import CAREConfig, CARETrainConfig, train_care
    from .selfnet import SelfNetConfig, SelfNetTrainConfig, train_selfnet

    check_choice("mode", mode, MODES)
    check_choice("reference method", method, REFERENCES)
    if true_fwhm is not None and method != "care":
        raise IsonbError("a known PSF (--psf-fwhm) is for CARE's variant. Fix: use --method care")
    kw = dict(seed=seed, minutes=minutes, **({"patch": patch} if patch else {}))
    if method == "care":
        cfg = CARETrainConfig(**kw, true_fwhm=tuple(true_fwhm) if true_fwhm else None)
        if mode == "smoke":
            cfg.model = CAREConfig(first=8)
        cfg.steps = {"full": cfg.steps, "quick": 600, "smoke": 30}[mode]
        print(f"CARE-iso: seed {cfg.seed}, {cfg.steps} steps"
              + (f", true PSF FWHM {cfg.true_fwhm} µm" if cfg.true_fwhm else ""))
        return train_care(stacks, out, cfg, overwrite=overwrite, progress=progress)
    cfg = SelfNetTrainConfig(**kw)
    if mode == "smoke":
        cfg.model = SelfNetConfig(ngf=16, blocks=2, ndf=16)
    cfg.steps = {"full": cfg.steps, "quick": 100, "smoke": 10}[mode]
    print(f"Self-Net: seed {cfg.seed}, {cfg.steps} iterations, {cfg.model}")
    return train_selfnet(stacks, out, cfg, overwrite=overwrite, progress=progress)


__all__ = ["interpolate", "richardson_lucy", "train_reference", "REFERENCES", "LABELS"]
