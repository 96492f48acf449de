"""What each part of the LDM gains, at the quick and at the generalist budget.

    python benchmarks/ablation.py    # after `python benchmarks/run.py --methods ldm-quick`

Two budgets: the per-stack quick model that run.py fine-tuned from the shipped weights
(benchmarks/cache/<case>/ldm-quick, the default `train --quick`) and the shipped generalist
itself, no training on the stack. To keep it to minutes, the central 128x128 lateral crop of
each case (all planes). Variants:
  cubic                  the input, cubic-resliced
  regressor only         x_hat = x + R(x): `--diffusion off`
  regressor + AE         D(E(x_hat)): what passing through the latent space alone costs
  LDM, full correction   x_hat + (mean_k x_k - D(E(x_hat))): the refine weight set to 1, K=2
  LDM, K=2               the calibrated refine weight w, mean of K=2 DDIM samples (4 steps)
  LDM, K=8               the same with 8 samples
  LDM, K=2 + refocus     the default: K=2, then each lateral band given its in-focus weight
                         (degrade.refocus); the rows above are not refocused
  sample output          `--output sample`: one posterior sample, unshrunk, refocused
Scored as BENCHMARK.md fixes (SSIM, PSNR, MSE, CoC), on texture (the z power spectrum's
distance to the ground truth's, `metrics.spectrum_to_truth`, dB: 0 is the truth's texture)
and by restoration time (this CPU, the crop). The uncertainty map's calibration is
uncertainty.md's. The widefield case is there for the refocusing. Writes
benchmarks/results/ablation.md.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from run import hardware, write_result

from isonb import ldm as ldm_lib
from isonb import metrics
from isonb.baselines import interpolate
from isonb.checkpoint import shipped_weights
from isonb.io import read_stack
from isonb.restore import restore_network

HERE = Path(__file__).resolve().parent

CASES = ["canaliculi-confocal0.8-z4-snr5", "membranes-confocal1.0-z2-snr10",
         "mixed-gauss9-z2-snr8", "mixed-widefield1.0-z2-snr12"]
CROP = (slice(None), slice(64, 192), slice(64, 192))


class RegressorAE(ldm_lib.LDM):
    @torch.no_grad()
    def restore(self, x, noise, steps, refine=True):
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


def variants(model: ldm_lib.LDM) -> list[tuple[str, ldm_lib.LDM, dict]]:
    """(label, network, restore_network options) of each ablation variant of `model`."""
    off = dict(refocus=False)
    return [("regressor only", model, dict(diffusion="off", **off)),
            ("regressor + AE", variant(model, RegressorAE), dict(samples=1, **off)),
            ("LDM, full correction", variant(model, weight=1.0), dict(samples=2, **off)),
            ("LDM, K=2", model, dict(samples=2, **off)),
            ("LDM, K=8", model, dict(samples=8, **off)),
            ("LDM, K=2 + refocus (default)", model, dict(samples=2)),
            ("sample output", model, dict(output="sample"))]


def main() -> None:
    shipped, _ = ldm_lib.load(shipped_weights())
    rows = []
    for name in CASES:
        folder = HERE / "cache" / name
        obs = read_stack(folder / "observed.tif")
        gt = read_stack(folder / "gt.tif").data[CROP]
        data = obs.data[CROP]
        quick, _ = ldm_lib.load(folder / "ldm-quick")
        t = time.perf_counter()
        results = [("-", "cubic", interpolate(data, obs.voxel_size), time.perf_counter() - t,
                    float("nan"))]
        for budget, model in (("quick", quick), ("generalist", shipped)):
            for label, m, kw in variants(model):
                t = time.perf_counter()
                vol, _ = restore_network(data, obs.voxel_size, m, progress=False,
                                         uncertainty=False, **kw)
                results.append((budget, label, vol, time.perf_counter() - t,
                                float(model.refine_weight)))
        for budget, label, vol, seconds, w in results:
            s = metrics.evaluate(vol, gt[: len(vol)])
            s["z_gap"] = metrics.spectrum_to_truth(vol, gt[: len(vol)], axis=0)[1]
            s["seconds"] = seconds
            rows.append((name, label if budget == "-" else f"{budget}: {label}", s, w))
            print(f"{name:32s} {rows[-1][1]:40s} (w {w:.2f}) SSIM {s['ssim']:.4f} "
                  f"PSNR {s['psnr']:.2f} z {s['z_gap']:.1f} dB {seconds:.0f} s", flush=True)
    write(rows)


def write(rows: list[tuple]) -> None:
    """ablation.md: the mean over cases per variant, then each case."""
    lines = ["# LDM ablation", "", "Made by `python benchmarks/ablation.py` (see its docstring): "
             "`quick`: the per-stack quick model fine-tuned from the shipped weights (the "
             "default); `generalist`: the shipped weights, no training on the stack. Central "
             "128x128 lateral crop of each case, all planes. `z texture`: the z power "
             "spectrum's distance to the ground truth's (dB, 0 = the truth's texture); time: "
             f"restoring the crop. Hardware: {hardware()}.", "",
             "| variant | mean w | SSIM | PSNR | MSE | CoC | xy-SSIM | z texture (dB) | "
             "time (s) |", "|---|---|---|---|---|---|---|---|---|"]
    for label in dict.fromkeys(r[1] for r in rows):
        sel = [r for r in rows if r[1] == label]
        m = {k: np.mean([r[2][k] for r in sel]) for k in sel[0][2]}
        w = np.mean([r[3] for r in sel])
        lines.append(f"| {label} | {'-' if np.isnan(w) else f'{w:.2f}'} | {m['ssim']:.4f} | "
                     f"{m['psnr']:.2f} | {m['mse']:.5f} | {m['coc']:.4f} | "
                     f"{m['ssim_xy']:.4f} | {m['z_gap']:.1f} | {m['seconds']:.1f} |")
    lines += ["", "Per case (w: the model's calibrated refine weight):", "",
              "| case | w | variant | SSIM | PSNR | xy-SSIM | z texture (dB) | time (s) |",
              "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {c} | {'-' if np.isnan(w) else f'{w:.2f}'} | {v} | {s['ssim']:.4f} | "
              f"{s['psnr']:.2f} | {s['ssim_xy']:.4f} | {s['z_gap']:.1f} | {s['seconds']:.1f} |"
              for c, v, s, w in rows]
    write_result("ablation.md", lines)


if __name__ == "__main__":
    main()
