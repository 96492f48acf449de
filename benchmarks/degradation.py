"""How well the degradation is learned without ground truth, on the public benchmark cases.

    python benchmarks/degradation.py

For each case: the extra axial blur (FWHM of the Gaussian that z has beyond the lateral
blur) estimated from the observed stack alone by `isonb.degrade`, as one Gaussian (the 1D
spectra; CARE-iso's degradation) and by band of lateral frequency (the 2D spectra; the LDM's),
next to the true value sqrt(axial FWHM^2 - lateral FWHM^2) of the simulated PSF (exact for
Gaussian PSFs; for the Debye ones, whose profiles are not Gaussian, it is that of the PSF's
central profile, which fine lateral detail sees), and the estimated noise standard deviation
next to the simulator's read noise (a lower bound: shot noise adds to it).

Then what the band-wise estimate gains: the LDM's regressor alone (as in targets.py: 300
steps, seed 0, recorrupted L1 pairs) is trained on each case's observed stack with pairs
degraded by one Gaussian or by band, and restores the central 128x128 lateral crop.
Writes benchmarks/results/degradation.md.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from ablation import CROP, mean_table
from targets import train_regressor

from isonb import metrics
from isonb.benchmark import CASES, describe
from isonb.degrade import estimate_degradation
from isonb.io import read_stack
from isonb.patches import prepare
from isonb.psf import FWHM_PER_SIGMA
from isonb.restore import restore_network
from isonb.simulate import simulate
from isonb.train import TrainConfig

HERE = Path(__file__).resolve().parent


def band_comparison() -> list[str]:
    """Mean and per-case scores of the regressor trained with each degradation model."""
    rows = []
    for name in CASES:
        obs = read_stack(HERE / "cache" / name / "observed.tif")
        gt = read_stack(HERE / "cache" / name / "gt.tif").data[CROP]
        quick = TrainConfig.quick()
        pairs = prepare([obs], quick.patch, quick.n_patches, 0).pairs
        by_band = pairs.degradations
        for label, degs in (("one Gaussian", [d.single_gaussian() for d in by_band]),
                            ("by band (default)", by_band)):
            pairs.degradations = degs
            model = train_regressor(pairs, TrainConfig.recorrupt, "l1")
            vol, _ = restore_network(obs.data[CROP], obs.voxel_size, model, samples=1,
                                     progress=False)
            rows.append((name, label, metrics.evaluate(vol, gt)))
            print(f"{name:34s} {label:18s} SSIM {rows[-1][2]['ssim']:.4f} "
                  f"PSNR {rows[-1][2]['psnr']:.2f}", flush=True)
    return [*mean_table("axial blur", rows), "", "| case | axial blur | SSIM | PSNR | xy-SSIM |",
            "|---|---|---|---|---|"] + [f"| {c} | {v} | {s['ssim']:.4f} | {s['psnr']:.2f} | "
                                        f"{s['ssim_xy']:.4f} |" for c, v, s in rows]


def main() -> None:
    lines = ["# Degradation estimated without ground truth", "",
             "Made by `python benchmarks/degradation.py` (see its docstring). Extra axial "
             "FWHM in µm; by band: coarse to fine lateral detail, the finest band's error "
             "against the truth.", "",
             "| case | true | one Gaussian | error | by band, coarse → fine | error (finest) | "
             "noise std, estimated | read noise (true) |", "|---|---|---|---|---|---|---|---|"]
    errors: dict[str, list[float]] = {"one": [], "band": []}
    for name, cfg in CASES.items():
        case = simulate(cfg)
        deg = estimate_degradation(case.observed, case.voxel_size)
        fa, fl = case.stats["psf_fwhm_axial_um"], case.stats["psf_fwhm_lateral_um"]
        truth = float(np.sqrt(fa**2 - fl**2))
        one = deg.fwhm_axial_extra(cfg.voxel_xy)
        bands = [s * FWHM_PER_SIGMA * cfg.voxel_xy for s in deg.band_sigmas] or [one]
        errors["one"].append(abs(one - truth) / truth)
        errors["band"].append(abs(bands[-1] - truth) / truth)
        lines.append(f"| {name} | {truth:.3f} | {one:.3f} | {100 * (one - truth) / truth:+.0f}% | "
                     f"{' → '.join(f'{b:.2f}' for b in bands)} | "
                     f"{100 * (bands[-1] - truth) / truth:+.0f}% | "
                     f"{deg.noise_std:.1f} | {case.stats['read_noise_std']:.1f} |")
        print(lines[-1], flush=True)
    mean_error = {k: 100 * np.mean(v) for k, v in errors.items()}
    lines += ["", f"Mean absolute relative error: one Gaussian {mean_error['one']:.0f}%, "
              f"finest band {mean_error['band']:.0f}%.", "",
              "## What the band-wise estimate gains", "",
              "The regressor alone, 300 steps, central 128x128 crop (see the docstring).", "",
              *band_comparison(), "", "Cases:", ""]
    lines += [f"- `{n}`: {describe(c)}" for n, c in CASES.items()]
    out = HERE / "results" / "degradation.md"
    out.write_text("\n".join(lines) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
