"""Is the restoration still blurred along z by the lateral PSF? An oracle check, not a method.

    python benchmarks/axial_blur.py      # after `python benchmarks/run.py --methods ldm-quick`

BENCHMARK.md's ground truth is the structures blurred by the lateral PSF in each xy plane
only: it has no axial blur at all. isonb learns from pairs whose "z" is a lateral axis of
the xy planes, so its z axis keeps the lateral PSF's blur. Two questions, on the cached
per-stack restorations of the public suite (`restored_ldm-quick.tif`), scored as BENCHMARK.md
says:
1. How much would any linear filter gain? The oracle: a gain per (axial, lateral) frequency
   bin (16 x 16 bins of 1/32 cycles/px) fitted against the ground truth, cross / power.
2. How much of it does an axial Wiener deconvolution by a Gaussian of the lateral PSF's width
   take? H / (H^2 + eps) (unit gain at 0) along z, the stack mirrored along z; sigma the
   simulator's true lateral FWHM / 2.355 (x0.75, x1, x1.25), or 1 px for every case.
Both use knowledge a user's stack does not give (the truth, the true PSF): this table says
whether finding the lateral PSF's width from the data would pay, not what isonb does.
Writes benchmarks/results/axial_blur.md.
"""

from __future__ import annotations

import json

import numpy as np
from run import HERE, hardware, write_result

from isonb import metrics
from isonb.benchmark import CASES
from isonb.degrade import AXIAL_WIENER_EPS, deblur_axial
from isonb.io import read_stack
from isonb.psf import FWHM_PER_SIGMA

SCALES = (0.75, 1.0, 1.25)  # multiples of the true lateral sigma
BINS = 16  # per axis, of 1/32 cycles/px (the last bin takes every higher frequency)


def axial_wiener(vol: np.ndarray, sigma: float) -> np.ndarray:
    """A (z, y, x) volume deconvolved along z as `restore --lateral-fwhm` does."""
    return deblur_axial(vol.transpose(1, 0, 2), sigma).transpose(1, 0, 2)


def oracle_filter(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """`pred` (fitted to the scaled truth) filtered by the least-squares gain of each
    (axial, lateral) frequency bin against the truth."""
    nz, ny, nx = gt.shape
    P = np.fft.rfftn(pred, axes=(1, 2, 0))  # (nz // 2 + 1, ny, nx): z is the halved axis
    G = np.fft.rfftn(gt, axes=(1, 2, 0))
    kz = np.fft.rfftfreq(nz)[:, None, None]
    kl = np.hypot(np.fft.fftfreq(ny)[None, :, None], np.fft.fftfreq(nx)[None, None, :])
    key = (np.minimum((kz * 2 * BINS).astype(int), BINS - 1) * BINS
           + np.minimum((kl * 2 * BINS).astype(int), BINS - 1))
    key = np.broadcast_to(key, P.shape).ravel()
    cross = np.bincount(key, np.real(np.conj(P) * G).ravel(), BINS**2)
    power = np.bincount(key, (np.abs(P) ** 2).ravel(), BINS**2)
    gain = np.where(power > 0, cross / np.maximum(power, 1e-30), 1.0)
    return np.fft.irfftn(P * gain[key].reshape(P.shape), s=(ny, nx, nz), axes=(1, 2, 0))


def main() -> None:
    rows = []
    for case in CASES:
        folder = HERE / "cache" / case
        if not (folder / "restored_ldm-quick.tif").exists():
            print(f"{case}: no cached restoration (run.py --methods ldm-quick first); skipped")
            continue
        meta = json.loads((folder / "meta.json").read_text())
        sigma = meta["stats"]["psf_fwhm_lateral_um"] / meta["config"]["voxel_xy"] / FWHM_PER_SIGMA
        gt = read_stack(folder / "gt.tif").data
        pred = read_stack(folder / "restored_ldm-quick.tif").data
        g = metrics.scale_gt(gt)
        oracle = oracle_filter(metrics.affine_fit(pred, g), g)
        row = {"case": case, "sigma": sigma, "restored": metrics.evaluate(pred, gt),
               "oracle": {"psnr": float(10 * np.log10(1 / np.mean((oracle - g) ** 2)))}}
        for scale in SCALES:
            row[f"x{scale}"] = metrics.evaluate(axial_wiener(pred, scale * sigma), gt)
        row["1 px"] = metrics.evaluate(axial_wiener(pred, 1.0), gt)
        rows.append(row)
        print(case, {k: (round(v["ssim"], 4), round(v["psnr"], 2)) if "ssim" in v else v
                     for k, v in row.items() if isinstance(v, dict)}, flush=True)
    columns = ["restored", *(f"x{s}" for s in SCALES), "1 px"]
    lines = ["# Axial blur left by the lateral PSF (an oracle check)", "",
             "Made by `python benchmarks/axial_blur.py` (see its docstring) on the cached "
             "per-stack restorations (`run.py`'s `ldm-quick` row). SSIM / PSNR (dB) as "
             "BENCHMARK.md fixes them; `oracle`: PSNR after the least-squares gain per "
             f"(axial, lateral) frequency bin fitted against the truth; `xS`: axial Wiener "
             f"deconvolution (eps {AXIAL_WIENER_EPS}) by a Gaussian of S times the true "
             "lateral PSF's sigma; `1 px`: sigma 1 px on every case. Hardware: "
             + hardware() + ".", "",
             "| case | lateral sigma (px) | " + " | ".join(columns) + " | oracle PSNR |",
             "|---|---|" + "---|" * (len(columns) + 1)]
    for r in rows:
        cells = [f"{r[c]['ssim']:.4f} / {r[c]['psnr']:.2f}" for c in columns]
        lines.append(f"| {r['case']} | {r['sigma']:.2f} | " + " | ".join(cells)
                     + f" | {r['oracle']['psnr']:.2f} |")
    mean = [f"{np.mean([r[c]['ssim'] for r in rows]):.4f} / "
            f"{np.mean([r[c]['psnr'] for r in rows]):.2f}" for c in columns]
    lines.append("| mean | - | " + " | ".join(mean)
                 + f" | {np.mean([r['oracle']['psnr'] for r in rows]):.2f} |")
    write_result("axial_blur.md", lines)


if __name__ == "__main__":
    main()
