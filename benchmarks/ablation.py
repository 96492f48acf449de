"""What each part of the LDM gains: restorations of the same cases with parts switched off.

    python benchmarks/ablation.py    # after `python benchmarks/run.py --methods ldm-quick-scratch`

Uses the per-stack models that run.py trained from random weights
(benchmarks/cache/<case>/ldm-quick-scratch, as when this table was made) and, to
keep it to minutes, the central 128x128 lateral crop of each case (all planes). Variants:
  cubic                  the input, cubic-resliced
  regressor only         x_hat = x + R(x): the refine weight set to 0
  regressor + AE         D(E(x_hat)): what passing through the latent space alone costs
  LDM, full correction   x_hat + (mean_k x_k - D(E(x_hat))): the refine weight set to 1, K=2
  LDM, K=2               the calibrated refine weight, mean of K=2 DDIM samples (4 steps)
  LDM, K=4               the same with 4 samples
  LDM, K=2 + refocus     the default: K=2, then each lateral band given its in-focus weight
                         (degrade.refocus); the rows above are not refocused
The widefield case is there for the refocusing, which leaves the others nearly unchanged.
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
CASES = ["canaliculi-confocal0.8-z4-snr5", "membranes-confocal1.0-z2-snr10",
         "mixed-gauss9-z2-snr8", "mixed-widefield1.0-z2-snr12"]
CROP = (slice(None), slice(64, 192), slice(64, 192))


class RegressorAE(ldm_lib.LDM):
    @torch.no_grad()
    def restore(self, x, noise, steps):
        return self.autoencoder.decode(self.autoencoder.encode(self.estimate(x)))[None]


def variant(model: ldm_lib.LDM, cls: type = ldm_lib.LDM, weight: float | None = None
            ) -> ldm_lib.LDM:
    other = cls(model.cfg)
    other.load_state_dict(model.state_dict())
    if weight is not None:
        other.refine_weight.fill_(weight)
    return other.eval()


def mean_table(heading: str, rows: list[tuple]) -> list[str]:
    """Markdown table of the mean scores per label, rows being (case, label, scores, ...)."""
    lines = [f"| {heading} | SSIM | PSNR | MSE | CoC | xy-SSIM |", "|---|---|---|---|---|---|"]
    for label in dict.fromkeys(r[1] for r in rows):
        sel = [r[2] for r in rows if r[1] == label]
        m = {k: np.mean([s[k] for s in sel]) for k in sel[0]}
        lines.append(f"| {label} | {m['ssim']:.4f} | {m['psnr']:.2f} | {m['mse']:.5f} | "
                     f"{m['coc']:.4f} | {m['ssim_xy']:.4f} |")
    return lines


def main() -> None:
    rows = []
    for name in CASES:
        folder = HERE / "cache" / name
        obs = read_stack(folder / "observed.tif")
        gt = read_stack(folder / "gt.tif").data[CROP]
        data = obs.data[CROP]
        model, _ = ldm_lib.load(folder / "ldm-quick-scratch")
        results = {"cubic": interpolate(data, obs.voxel_size)}
        w = float(model.refine_weight)
        for label, m, k, refocus in [
                ("regressor only", variant(model, weight=0.0), 1, False),
                ("regressor + AE", variant(model, RegressorAE), 1, False),
                ("LDM, full correction", variant(model, weight=1.0), 2, False),
                ("LDM, K=2", model, 2, False), ("LDM, K=4", model, 4, False),
                ("LDM, K=2 + refocus (default)", model, 2, True)]:
            results[label], _ = restore_network(data, obs.voxel_size, m, samples=k,
                                                progress=False, refocus=refocus)
        for label, vol in results.items():
            s = metrics.evaluate(vol, gt)
            rows.append((name, label, s, w))
            print(f"{name:32s} {label:28s} (w {w:.2f}) SSIM {s['ssim']:.4f} PSNR {s['psnr']:.2f} "
                  f"xy-SSIM {s['ssim_xy']:.4f}", flush=True)
    lines = ["# LDM ablation", "", "Made by `python benchmarks/ablation.py` (see its docstring): "
             "per-stack quick models, central 128x128 lateral crop of each case, all planes.",
             "", *mean_table("variant", rows)]
    lines += ["", "Per case (w: the model's calibrated refine weight):", "",
              "| case | w | variant | SSIM | PSNR | xy-SSIM |", "|---|---|---|---|---|---|"]
    lines += [f"| {c} | {w:.2f} | {v} | {s['ssim']:.4f} | {s['psnr']:.2f} | {s['ssim_xy']:.4f} |"
              for c, v, s, w in rows]
    (HERE / "results" / "ablation.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
