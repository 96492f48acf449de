"""How well the degradation is learned without ground truth, on the public benchmark cases.

    python benchmarks/degradation.py

For each case: the extra axial blur (FWHM of the Gaussian that z has beyond the lateral
blur) estimated from the observed stack alone by `isonb.degrade`, next to the true value
sqrt(axial FWHM^2 - lateral FWHM^2) of the simulated PSF (exact for Gaussian PSFs, an
approximation for the Debye ones, whose profiles are not Gaussian), and the estimated noise
standard deviation next to the simulator's read noise (a lower bound: shot noise adds to it).
Writes benchmarks/results/degradation.md.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from isonb.benchmark import CASES, describe
from isonb.degrade import estimate_degradation
from isonb.simulate import simulate

HERE = Path(__file__).resolve().parent


def main() -> None:
    lines = ["# Degradation estimated without ground truth", "",
             "Made by `python benchmarks/degradation.py`.", "",
             "| case | extra axial FWHM, estimated (µm) | true (µm) | error | "
             "noise std, estimated | read noise (true) |", "|---|---|---|---|---|---|"]
    errors = []
    for name, cfg in CASES.items():
        case = simulate(cfg)
        deg = estimate_degradation(case.observed, case.voxel_size)
        fa, fl = case.stats["psf_fwhm_axial_um"], case.stats["psf_fwhm_lateral_um"]
        truth = float(np.sqrt(fa**2 - fl**2))
        est = deg.fwhm_axial_extra(cfg.voxel_xy)
        errors.append(abs(est - truth) / truth)
        lines.append(f"| {name} | {est:.3f} | {truth:.3f} | {100 * (est - truth) / truth:+.0f}% | "
                     f"{deg.noise_std:.1f} | {case.stats['read_noise_std']:.1f} |")
        print(lines[-1], flush=True)
    lines += ["", f"Mean absolute relative error: {100 * np.mean(errors):.0f}%.", "",
              "Cases:", ""] + [f"- `{n}`: {describe(c)}" for n, c in CASES.items()]
    out = HERE / "results" / "degradation.md"
    out.write_text("\n".join(lines) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
