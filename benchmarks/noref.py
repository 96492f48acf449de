"""Do the no-reference figures rank methods as the ground truth does? Checked on the public suite.

    python benchmarks/noref.py        # writes benchmarks/results/noref.md

On real data a user has no ground truth, only figures measured on the restored volume
itself. Three are checked: the axial / lateral FWHM ratio of small bright structures
(`metrics.fwhm_ratio`), the axial / lateral share of high-frequency energy that BENCHMARK.md
asks for (`metrics.spectral_ratio`), both 1 when isotropic, and a candidate defined here, the
axial excess blur (`axial_excess_fwhm`: the Gaussian FWHM that z has beyond x and y, fitted
to the volume's own power spectra as `degrade` fits the degradation; 0 when isotropic).
The decorrelation analysis (`isonb.resolution`: Descloux et al. 2019, per direction) gives
two more: the ratio of the axial to the lateral resolution (1 when isotropic) and the axial
resolution itself (px; lower is sharper, a blurry volume can be isotropic too); `refined`:
the same with the paper's high-pass refinement (`resolution.cutoff(refine=True)`).
Each public case is restored by the methods that need no training (linear and cubic
interpolation, Richardson-Lucy with the true PSF, the shipped LDM at default settings) and by
every per-stack model `benchmarks/run.py` left in the cache; the table gives each figure
next to the ground-truth SSIM and, per case, how often the figure's distance from isotropy
orders a pair of methods as SSIM does (pairwise agreement: 1 always, 0.5 chance).
Restorations are cached in benchmarks/cache/<case>/restored_<method>.tif.
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import numpy as np

from isonb import metrics
from isonb.benchmark import CASES
from isonb.degrade import axial_variance
from isonb.io import read_stack
from isonb.psf import FWHM_PER_SIGMA
from isonb.resolution import axial_lateral

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from run import METHODS, case_dir, hardware, run_cli, write_result  # noqa: E402

UNTRAINED = ("linear", "cubic", "rl")
SHIPPED = ("ldm-shipped-default", lambda d: ["--method", "ldm"])  # the command line's defaults
TRAINED = ("ldm-quick", "care", "selfnet")  # used when run.py has trained them in the cache


def log_distance(ratio: float) -> float:
    """A ratio's distance from isotropy (1): |log ratio|."""
    return abs(np.log(ratio))


FIGURES = {"excess": abs,  # figure -> its distance from isotropy (or, for a resolution, itself)
           "fwhm_ratio": log_distance, "spectral_ratio": log_distance,
           "decorrelation_ratio": log_distance, "axial_px": lambda v: v,
           "refined_ratio": log_distance, "refined_axial_px": lambda v: v}


def axial_excess_fwhm(vol: np.ndarray) -> float:
    """The candidate: the blur z has beyond x and y, as a Gaussian FWHM in px (negative when z
    is the sharper axis), from the ratio of the power spectra along z and along x and y."""
    s2 = axial_variance(np.asarray(vol), 1.0, 1.0)
    return float(np.sign(s2) * np.sqrt(abs(s2)) * FWHM_PER_SIGMA)


def restorations(folder: Path) -> dict[str, Path]:
    """method -> restored stack of the case, restoring what is missing (untrained methods and
    the shipped LDM; per-stack models only where their weights are in the cache)."""
    plan = {m: METHODS[m][1] for m in UNTRAINED}
    plan[SHIPPED[0]] = SHIPPED[1]
    plan.update({m: METHODS[m][1] for m in TRAINED if (folder / m / "model.json").exists()})
    out = {}
    for method, args in plan.items():
        path = folder / f"restored_{method}.tif"
        if not path.exists():
            run_cli(["restore", str(folder / "observed.tif"), str(path), *args(folder)])
        out[method] = path
    return out


def pairwise_agreement(truth: list[float], distance: list[float]) -> float:
    """Share of method pairs that `distance` (lower is better) orders as `truth` (higher is
    better); ties in either count half."""
    pairs = list(itertools.combinations(range(len(truth)), 2))
    score = 0.0
    for i, j in pairs:
        t, f = np.sign(truth[i] - truth[j]), np.sign(distance[j] - distance[i])
        score += 0.5 if t == 0 or f == 0 else float(t == f)
    return score / len(pairs)


def figures(vol: np.ndarray) -> dict[str, float]:
    """The candidates and `metrics.no_reference`'s figures (whose decorrelation is refined)."""
    shipped = metrics.no_reference(vol)
    return {"excess": axial_excess_fwhm(vol), **shipped, **axial_lateral(vol),
            "refined_ratio": shipped["decorrelation_ratio"],
            "refined_axial_px": shipped["axial_px"]}


def main() -> None:
    rows, agreement = [], []
    for name in CASES:
        folder = case_dir(name, HERE / "cache")
        gt = read_stack(folder / "gt.tif").data
        case_rows = []
        for method, path in restorations(folder).items():
            vol = read_stack(path).data
            case_rows.append({"case": name, "method": method, **metrics.evaluate(vol, gt),
                              **figures(vol)})
            print(case_rows[-1], flush=True)
        rows += case_rows + [{"case": name, "method": "ground truth", "ssim": 1.0,
                              "psnr": np.inf, **figures(gt)}]
        ssim = [r["ssim"] for r in case_rows]
        found = {k: [r[k] for r in case_rows] for k in FIGURES}
        agreement.append({"case": name, "methods": len(case_rows), **{
            k: pairwise_agreement(ssim, [FIGURES[k](v) for v in values])
            if np.all(np.isfinite(values)) else np.nan for k, values in found.items()}})
    write(rows, agreement)


def write(rows: list[dict], agreement: list[dict]) -> None:
    lines = ["# No-reference figures against the ground truth", "",
             "Made by `python benchmarks/noref.py` (see its docstring). `excess`: the candidate "
             "axial excess blur, FWHM in px of the isotropic grid (0 = isotropic, negative = z "
             "sharper than x and y, as in the ground truth, which is not blurred along z); "
             "`FWHM ratio`: axial / lateral FWHM of small bright structures; `spectral ratio`: "
             "axial / lateral share of high-frequency energy; `decorr. ratio`: axial / lateral "
             "resolution by decorrelation analysis (all three 1 = isotropic; nan: no "
             "structure found); `decorr. axial`: the axial resolution by decorrelation, px "
             "(lower is sharper); `refined`: the same with the paper's high-pass refinement "
             f"(what `evaluate` reports). Hardware: {hardware()}.", "",
             "## How often a figure orders two methods as the ground-truth SSIM does", "",
             "Distance from isotropy: |excess|, |log FWHM ratio|, |log spectral ratio|, |log "
             "decorr. ratio|; the axial resolution as it is; 1 = always as SSIM, 0.5 = "
             "chance.", "",
             "| case | methods | excess | FWHM ratio | spectral ratio | decorr. ratio | "
             "decorr. axial | refined ratio | refined axial |", "|---" * 9 + "|"]
    for a in [*agreement, {"case": "mean", "methods": "", **{
            k: np.nanmean([a[k] for a in agreement]) for k in FIGURES}}]:
        lines.append(f"| {a['case']} | {a['methods']} | " + " | ".join(
            f"{a[k]:.2f}" for k in FIGURES) + " |")
    lines += ["", "## Per case and method", "",
              "| case | method | SSIM | PSNR | excess (px) | FWHM ratio | spectral ratio | "
              "decorr. ratio | decorr. axial (px) | decorr. lateral (px) |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['case']} | {r['method']} | {r['ssim']:.4f} | {r['psnr']:.2f} | "
              f"{r['excess']:+.2f} | {r['fwhm_ratio']:.2f} | {r['spectral_ratio']:.3f} | "
              f"{r['decorrelation_ratio']:.2f} | {r['axial_px']:.2f} | "
              f"{r['lateral_px']:.2f} |" for r in rows]
    write_result("noref.md", lines)


if __name__ == "__main__":
    main()
