"""Can the uncertainty map be trusted? Its grid, and how well it predicts the actual error.

    python benchmarks/uncertainty.py                     # writes results/uncertainty.md
    python benchmarks/uncertainty.py --before /tmp/old   # + rows from an older checkout

Each public case is restored with the shipped LDM and `--uncertainty`, in its own
`isonb restore` process (`--diffusion on`, as `run.py`'s ldm-shipped row), and the map is
scored against the actual error: the error is that of the restoration after the protocol's
affine fit to the scaled ground truth (BENCHMARK.md), and the spread is scaled by the same
fit. Reported per case: the rank (Spearman) correlation between spread and |error| (and,
as its ceiling, that of the true error itself smoothed as the map is: no smooth map does
much better, since |error| varies from voxel to voxel as noise does), the
share of voxels within 1, 2 and 3 spreads (a calibrated Gaussian spread: 68 / 95 / 99.7 %),
the map's grid against the restored volume's (`metrics.stripe_score`: power on the xy
planes' frequency axes against the lines beside them, about 1 without a grid; and the
issue's `metrics.axis_power_share`) and against an ideal map's (the true |error| smoothed
as for the ceiling: what a map that knew the error would score; it has no slicing), the
restoration's SSIM/PSNR and the time. Restored files are cached in benchmarks/cache
(delete `unc_*` there to rerun them).
`--before DIR` also runs the package of another checkout (for example `git worktree add
/tmp/old REV`), to report the map as it was.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np
from scipy.ndimage import gaussian_filter

from isonb import metrics
from isonb.benchmark import CASES
from isonb.choices import UNCERTAINTY_SAMPLES
from isonb.io import read_stack
from isonb.uncertainty import (
    SMOOTH,
    calibrate_scale,
    pair_coverage,
    rank_correlation,
    reliability,
)

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from run import case_dir, hardware, run_cli, write_result  # noqa: E402

SHIPPED = ["--method", "ldm", "--weights", str(HERE.parent / "weights"), "--diffusion", "on"]


def score_map(vol: np.ndarray, spread: np.ndarray, gt: np.ndarray) -> dict[str, float]:
    """The map's figures against the restoration's actual error (after the affine fit)."""
    g = metrics.scale_gt(gt)
    p = metrics.affine_fit(vol, g)
    a = np.std(p) / max(np.std(vol.astype(np.float64)), 1e-12)  # the fit's |slope|
    error, s = p - g, a * spread.astype(np.float64)
    within = reliability(s, error)
    ceiling = np.sqrt(gaussian_filter(error**2, SMOOTH))  # the error itself, as smooth
    return {"rho": rank_correlation(s, error), "rho_ceiling": rank_correlation(ceiling, error),
            "within1": within[0], "within2": within[1],
            "within3": within[2], "grid_map": metrics.axis_power_share(spread),
            "grid_vol": metrics.axis_power_share(vol),
            "stripes_map": metrics.stripe_score(spread), "stripes_vol": metrics.stripe_score(vol),
            "stripes_ideal": metrics.stripe_score(ceiling),
            **{k: v for k, v in metrics.evaluate(vol, gt).items() if k in ("ssim", "psnr")}}


def restore_with(package: Path | None, args: list[str]) -> float:
    """Seconds of one `isonb` process, importing isonb from `package` when given (the child
    runs there: `python -c` puts its working folder first on the import path)."""
    saved, cwd = os.environ.get("PYTHONPATH"), Path.cwd()
    if package:
        os.environ["PYTHONPATH"] = str(package)
        os.chdir(package)
    try:
        return run_cli(args)[0]
    finally:
        os.chdir(cwd)
        if saved is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved


def case_row(name: str, label: str, package: Path | None) -> dict:
    folder = case_dir(name, HERE / "cache")
    out, spread = folder / f"unc_{label}.tif", folder / f"unc_{label}_spread.tif"
    timing = out.with_suffix(".json")
    if timing.exists():  # restored by an earlier run of this script (cached, not committed)
        seconds = json.loads(timing.read_text())["seconds"]
    else:
        seconds = restore_with(package, ["restore", str(folder / "observed.tif"), str(out),
                                         "--overwrite", "--uncertainty", str(spread), *SHIPPED])
        timing.write_text(json.dumps({"seconds": seconds}))
    row = {"case": name, "map": label, "seconds": seconds,
           **score_map(read_stack(out).data, read_stack(spread).data,
                       read_stack(folder / "gt.tif").data),
           **(heldout_pairs(name) if package is None else {})}
    print(row, flush=True)
    return row


def heldout_pairs(name: str) -> dict[str, float]:
    """The calibration checked on synthetic pairs of the case's own planes that it did not
    see (seed 1; it is fitted on seed 0's, as `restore` does): shares within 1 / 2 / 3."""
    from isonb.degrade import estimate_degradation
    from isonb.restore import load_network, pair_restorer
    from isonb.volume import percentile_range

    st = read_stack(case_dir(name, HERE / "cache") / "observed.tif")
    model = load_network(HERE.parent / "weights", "ldm")
    limits, deg = percentile_range(st.data), estimate_degradation(st.data, st.voxel_size)
    restore_images = pair_restorer(model, dict(samples=2, steps=4, seed=0, progress=False,
                                               spread_samples=UNCERTAINTY_SAMPLES))
    patch = min(64, *st.data.shape[1:])
    scale = calibrate_scale(restore_images, st.data, limits, deg, patch, seed=0) or 1.0
    shares = pair_coverage(restore_images, st.data, limits, deg, patch, scale, seed=1)
    return {"scale": scale, **{f"pairs{k}": v for k, v in zip((1, 2, 3), shares)}}


def table(rows: list[dict]) -> list[str]:
    head = ("| case | map | rank corr. (ceiling) | within 1 / 2 / 3 spreads | stripe score: map / "
            "volume / ideal map | axis share: map / volume | SSIM | PSNR | restore (s) |")
    lines = [head, "|" + "---|" * 9]
    for r in rows:
        lines.append(
            f"| {r['case']} | {r['map']} | {r['rho']:.3f} ({r['rho_ceiling']:.2f}) | "
            f"{100 * r['within1']:.0f} / "
            f"{100 * r['within2']:.0f} / {100 * r['within3']:.0f} % | {r['stripes_map']:.2f} / "
            f"{r['stripes_vol']:.2f} / {r['stripes_ideal']:.2f} | {r['grid_map']:.3f} / "
            f"{r['grid_vol']:.3f} | "
            f"{r['ssim']:.4f} | {r['psnr']:.2f} | {r['seconds']:.0f} |")
    return lines


def means(rows: list[dict]) -> list[dict]:
    out = []
    for label in dict.fromkeys(r["map"] for r in rows):
        sel = [r for r in rows if r["map"] == label]
        out.append({"case": f"mean of {len(sel)}", "map": label,
                    **{k: float(np.mean([r[k] for r in sel])) for k in sel[0]
                       if k not in ("case", "map")}})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", type=Path, help="a checkout whose package made the old map")
    a = ap.parse_args()
    runs = ([("before", a.before)] if a.before else []) + [("now", None)]
    rows = [case_row(name, label, package) for name in CASES for label, package in runs]
    lines = ["# The uncertainty map against the actual error", "",
             "Made by `python benchmarks/uncertainty.py"
             + (" --before CHECKOUT" if a.before else "") + "` (see its docstring): the "
             "shipped LDM, `--diffusion on --uncertainty`, public suite. "
             + ("`before`: the map as it was (the biased spread of the K = 2 samples that make "
                "the output, their noise shared by every slice); " if a.before else "")
             + "`now`: `isonb.uncertainty` (4 samples per slice with "
             "noise of their own, unbiased variance of each view, fused by orientation, "
             "smoothed, calibrated on the stack's own synthetic pairs, plus the views' "
             "disagreement off the frequency axes). Targets: rank correlation "
             ">= 0.5, >= 85 % within 2 spreads, the map's stripe score not above the "
             "volume's. The ideal map is the true |error| smoothed as for the ceiling: "
             "what a map that knew the error would score. "
             f"Hardware: {hardware()}.", "", *table(means(rows)), "", *table(rows), "",
             "The calibration on synthetic pairs of each case's own planes that it was not "
             "fitted on (`heldout_pairs`; the targets' noise allowed for):", "",
             "| case | scale | held-out pairs within 1 / 2 / 3 spreads |", "|---|---|---|",
             *[f"| {r['case']} | {r['scale']:.2f} | {100 * r['pairs1']:.0f} / "
               f"{100 * r['pairs2']:.0f} / {100 * r['pairs3']:.0f} % |"
               for r in [*rows, *means(rows)] if "scale" in r]]
    write_result("uncertainty.md", lines)


if __name__ == "__main__":
    main()
