"""What the regressor's training targets gain: plain noisy xy targets against recorrupted ones.

    python benchmarks/targets.py

The LDM's regressor (x_hat = x + R(x), its default UNet) is trained alone, 300 steps, seed 0,
on each case's own observed stack, with the LDM's synthetic (axial, xy) pairs, in three ways:
  plain, MSE        the target is the observed xy patch (the earlier design)
  plain, L1         the same with CARE's L1 loss
  recorrupted, L1   R2R pairs (input from y + a z, target y - z / a, a = 0.5): the default
It then restores the central 128x128 lateral crop (all planes) of the case. Same seed, same
pair sampler, same number of steps in each row. Writes benchmarks/results/targets.md.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import torch
from ablation import CASES, CROP, mean_table  # the same cases and crop as the ablation

from isonb import metrics
from isonb.io import read_stack
from isonb.ldm import LDMConfig
from isonb.models.unet import UNet
from isonb.patches import prepare
from isonb.restore import restore_network
from isonb.train import TrainConfig

HERE = Path(__file__).resolve().parent
STEPS = 300
VARIANTS = {"plain, MSE": (0.0, "mse"), "plain, L1": (0.0, "l1"),
            "recorrupted, L1 (default)": (0.5, "l1")}


class Estimate(torch.nn.Module):
    """x + R(x), with the attributes restore_network expects of a network."""

    def __init__(self, regressor: UNet):
        super().__init__()
        self.regressor, self.multiple = regressor, regressor.cfg.multiple

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.regressor(x)


def train_regressor(pairs, recorrupt: float, loss: str, seed: int = 0,
                    steps: int = STEPS, init: UNet | None = None) -> Estimate:
    """The LDM's regressor alone, trained on `pairs` with a fixed seed, from random weights
    or from a copy of `init` (a trained regressor, left unchanged)."""
    torch.manual_seed(seed)
    pairs.rng = np.random.default_rng(seed)
    model = Estimate(copy.deepcopy(init) if init is not None else UNet(LDMConfig().regressor))
    opt = torch.optim.AdamW(model.parameters(), lr=TrainConfig.lr, weight_decay=1e-4)
    for _ in range(steps):
        x, y = (torch.from_numpy(a) for a in pairs.draw(TrainConfig.batch, recorrupt))
        err = model(x) - y
        value = torch.mean(err**2) if loss == "mse" else torch.mean(torch.abs(err))
        opt.zero_grad(set_to_none=True)
        value.backward()
        opt.step()
    return model.eval()


def main() -> None:
    rows = []
    for name in CASES:
        obs = read_stack(HERE / "cache" / name / "observed.tif")
        gt = read_stack(HERE / "cache" / name / "gt.tif").data[CROP]
        quick = TrainConfig.quick()
        pairs = prepare([obs], quick.patch, quick.n_patches, 0).pairs
        for label, (recorrupt, loss) in VARIANTS.items():
            model = train_regressor(pairs, recorrupt, loss)
            vol, _ = restore_network(obs.data[CROP], obs.voxel_size, model, samples=1,
                                     progress=False)
            s = metrics.evaluate(vol, gt)
            rows.append((name, label, s))
            print(f"{name:32s} {label:26s} SSIM {s['ssim']:.4f} PSNR {s['psnr']:.2f}", flush=True)
    lines = ["# Regressor targets", "", "Made by `python benchmarks/targets.py` (see its "
             f"docstring): the regressor alone, {STEPS} steps, central 128x128 crop.", "",
             *mean_table("targets, loss", rows)]
    lines += ["", "| case | targets, loss | SSIM | PSNR | xy-SSIM |", "|---|---|---|---|---|"]
    lines += [f"| {c} | {v} | {s['ssim']:.4f} | {s['psnr']:.2f} | {s['ssim_xy']:.4f} |"
              for c, v, s in rows]
    (HERE / "results" / "targets.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
