"""What each part of the LDM gains: restorations of the same cases with parts switched off.

    python benchmarks/ablation.py            # after `python benchmarks/run.py --methods ldm-quick`

Uses the per-stack models that run.py trained (benchmarks/cache/<case>/ldm-quick) and, to
keep it to minutes, the central 128x128 lateral crop of each case (all planes). Variants:
  cubic                  the input, cubic-resliced
  regressor only         x_hat = x + R(x), no autoencoder, no diffusion
  regressor + AE         D(E(x_hat)): what the latent space alone costs
  LDM, K=1 / 2 / 4       the full model, mean of K DDIM samples (4 steps; K=2 is the default)
Writes benchmarks/results/ablation.md.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from isonb import ldm as ldm_lib
from isonb import metrics
from isonb.baselines import interpolate
from isonb.io import read_stack
from isonb.restore import restore_network

HERE = Path(__file__).resolve().parent
CASES = ["membranes-confocal1.0-z2-snr10", "mixed-gauss9-z2-snr8"]
CROP = (slice(None), slice(64, 192), slice(64, 192))


class RegressorOnly(ldm_lib.LDM):
    @torch.no_grad()
    def restore(self, x, noise, steps):
        return self.estimate(x)[None]


class RegressorAE(ldm_lib.LDM):
    @torch.no_grad()
    def restore(self, x, noise, steps):
        return self.autoencoder.decode(self.autoencoder.encode(self.estimate(x)))[None]


def variant(model: ldm_lib.LDM, cls: type) -> ldm_lib.LDM:
    other = cls(model.cfg)
    other.load_state_dict(model.state_dict())
    return other.eval()


def main() -> None:
    rows = []
    for name in CASES:
        folder = HERE / "cache" / name
        obs = read_stack(folder / "observed.tif")
        gt = read_stack(folder / "gt.tif").data[CROP]
        data = obs.data[CROP]
        model, _ = ldm_lib.load(folder / "ldm-quick")
        results = {"cubic": interpolate(data, obs.voxel_size)}
        for label, m, k in [("regressor only", variant(model, RegressorOnly), 1),
                            ("regressor + AE", variant(model, RegressorAE), 1),
                            ("LDM, K=1", model, 1), ("LDM, K=2 (default)", model, 2),
                            ("LDM, K=4", model, 4)]:
            results[label], _ = restore_network(data, obs.voxel_size, m, samples=k, progress=False)
        for label, vol in results.items():
            s = metrics.evaluate(vol, gt)
            rows.append((name, label, s))
            print(f"{name:32s} {label:20s} SSIM {s['ssim']:.4f} PSNR {s['psnr']:.2f} "
                  f"xy-SSIM {s['ssim_xy']:.4f}", flush=True)
    labels = list(dict.fromkeys(r[1] for r in rows))
    lines = ["# LDM ablation", "", "Made by `python benchmarks/ablation.py` (see its docstring): "
             "per-stack quick models, central 128x128 lateral crop of each case, all planes.",
             "", "| variant | SSIM | PSNR | MSE | CoC | xy-SSIM |", "|---|---|---|---|---|---|"]
    for label in labels:
        sel = [r[2] for r in rows if r[1] == label]
        m = {k: np.mean([s[k] for s in sel]) for k in sel[0]}
        lines.append(f"| {label} | {m['ssim']:.4f} | {m['psnr']:.2f} | {m['mse']:.5f} | "
                     f"{m['coc']:.4f} | {m['ssim_xy']:.4f} |")
    lines += ["", "Per case:", "", "| case | variant | SSIM | PSNR | xy-SSIM |",
              "|---|---|---|---|---|"]
    lines += [f"| {c} | {v} | {s['ssim']:.4f} | {s['psnr']:.2f} | {s['ssim_xy']:.4f} |"
              for c, v, s in rows]
    (HERE / "results" / "ablation.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
