"""Data consistency: does the restoration explain the observed stack, and would enforcing it help?

    python benchmarks/run.py --methods ldm-quick ldm-shipped     # restorations in the cache
    python benchmarks/consistency.py

A physics (data-consistency) loss in the manner of ZS-DeconvNet asks that the output,
degraded again, match the input. Here the restored volume V is degraded again with the
stack's own estimated degradation (blur along z by the one-Gaussian estimate, planes read
every dz/dx: `degrade.axial_forward_matrix` A) and compared with the observed stack y:
`residual` = mean (A V - y)^2 / noise variance (`degrade.data_residual`, about 1 when V
explains the data to within its noise). Then V is made consistent, column by column,
V' = argmin |A V' - y|^2 + lam |V' - V|^2, at lam 1, 0.3 and 0.1 (A's rows have unit
gain; smaller lam trusts the data more), and V' is scored against the ground truth as
BENCHMARK.md says. Writes benchmarks/results/consistency.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from run import METHODS, write_result

from isonb import metrics
from isonb.benchmark import CASES
from isonb.degrade import axial_forward_matrix, data_residual, estimate_degradation
from isonb.io import read_stack

HERE = Path(__file__).resolve().parent
LAMBDAS = (1.0, 0.3, 0.1)


def consistent(vol: np.ndarray, observed: np.ndarray, a: np.ndarray, lam: float) -> np.ndarray:
    """argmin_V' |A V' - y|^2 + lam |V' - V|^2 for every (y, x) column (closed form)."""
    n = vol.shape[0]
    cols = vol.reshape(n, -1).astype(np.float64)
    m = np.linalg.inv(a.T @ a + lam * np.eye(n))
    fixed = cols + m @ (a.T @ (observed.reshape(len(observed), -1) - a @ cols))
    return fixed.reshape(vol.shape).astype(np.float32)


def case_rows(folder: Path, method: str) -> dict:
    obs = read_stack(folder / "observed.tif")
    gt = read_stack(folder / "gt.tif").data
    vol = read_stack(folder / f"restored_{method}.tif").data
    deg = estimate_degradation(obs.data, obs.voxel_size)
    a = axial_forward_matrix(len(obs.data), len(vol), deg.z_step, deg.sigma_axial)
    row = {"case": folder.name, "method": method, "residual": data_residual(vol, obs.data, deg),
           **{k: v for k, v in metrics.evaluate(vol, gt).items() if k in ("ssim", "psnr")}}
    for lam in LAMBDAS:
        fixed = consistent(vol, obs.data, a, lam)
        s = metrics.evaluate(fixed, gt)
        row[f"l{lam}"] = (s["ssim"], s["psnr"], data_residual(fixed, obs.data, deg))
    return row


def main() -> None:
    methods = sys.argv[1:] or ["ldm-quick", "ldm-shipped"]
    rows = []
    for method in methods:
        for name in CASES:
            folder = HERE / "cache" / name
            if not (folder / f"restored_{method}.tif").exists():
                raise SystemExit(f"{folder}: no restored_{method}.tif; Fix: python "
                                 f"benchmarks/run.py --methods {method}")
            rows.append(case_rows(folder, method))
            r = rows[-1]
            print(f"{name:34s} {method:12s} residual {r['residual']:.2f} "
                  f"SSIM {r['ssim']:.4f} PSNR {r['psnr']:.2f}", flush=True)
    head = "| method | case | residual / noise var. | as restored | " + " | ".join(
        f"consistent, lam {lam}" for lam in LAMBDAS) + " |"
    lines = ["# Data consistency: the restoration degraded again against the observed stack",
             "", f"Made by `python benchmarks/consistency.py {' '.join(methods)}` (see its "
             "docstring). SSIM / PSNR (dB) against the ground truth; for each lam also the "
             "residual the consistent volume leaves.", "", head,
             "|" + "---|" * (4 + len(LAMBDAS))]
    for r in rows:
        cells = [f"{r[f'l{lam}'][0]:.4f} / {r[f'l{lam}'][1]:.2f} (res. {r[f'l{lam}'][2]:.2f})"
                 for lam in LAMBDAS]
        lines.append(f"| {METHODS[r['method']][0]} | {r['case']} | {r['residual']:.2f} | "
                     f"{r['ssim']:.4f} / {r['psnr']:.2f} | " + " | ".join(cells) + " |")
    for method in methods:
        sel = [r for r in rows if r["method"] == method]
        cells = [f"{np.mean([r[f'l{lam}'][0] for r in sel]):.4f} / "
                 f"{np.mean([r[f'l{lam}'][1] for r in sel]):.2f}" for lam in LAMBDAS]
        lines.append(f"| {METHODS[method][0]} | **mean** | "
                     f"{np.mean([r['residual'] for r in sel]):.2f} | "
                     f"{np.mean([r['ssim'] for r in sel]):.4f} / "
                     f"{np.mean([r['psnr'] for r in sel]):.2f} | " + " | ".join(cells) + " |")
    print(write_result("consistency.md", lines))


if __name__ == "__main__":
    main()
