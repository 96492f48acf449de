"""isonb on the real stacks of ../shared/data (no ground truth): pictures and no-reference figures.

    python benchmarks/real_data.py       # writes benchmarks/results/real_data.md, docs/real/*.png

Each stack is restored as a user would, each step its own `isonb` process: cubic
interpolation, the shipped LDM, and an LDM trained on the stack itself (`isonb train STACK
--quick --minutes 2`). Reported per restoration: the share of the xy planes' power on the
two frequency axes (a grid left by restoring slices one by one shows there; cubic
interpolation is the reference), the no-reference isotropy figures (`metrics.no_reference`:
the axial/lateral FWHM ratio of small bright structures and the axial/lateral high-frequency
energy ratio, 1 when isotropic), time and peak memory. The axis share also rises when the
planes are only smoother (less noise power off the axes, where most frequencies are), so
two controls add no grid by construction, the cubic volume smoothed in xy by a Gaussian of
sigma 0.5 and 1 px, and `metrics.stripe_score` (the axes' power against that of the same
radius: about 1 without a grid, whatever the spectrum's slope) is reported beside it. The
pictures show an xy plane and an xz plane of each. Stacks are not committed; without
../shared/data the script stops.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from scipy.ndimage import gaussian_filter

from isonb import metrics
from isonb.io import read_stack
from isonb.viewer import save_comparison

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "data"
sys.path.insert(0, str(HERE))
from run import hardware, run_cli, write_result  # noqa: E402

# name -> (file, extra stack options)
STACKS = {
    "brain_cells": ("brain_cells.tif", []),
    "spots": ("spots.tif", []),
    "dna_confocal": ("dna_confocal_widefield.tif", ["--channel", "0"]),
    "dna_widefield": ("dna_confocal_widefield.tif", ["--channel", "1"]),
    "golgi_airyscan": ("golgi_airyscan.tif", []),
}
OUT = HERE / "cache" / "real"
MINUTES = 2.0  # per-stack training budget (`train --quick --minutes 2`)
PER_STACK = f"isonb, per-stack LDM (--quick, {MINUTES:g} min)"
CONTROLS = (0.5, 1.0)  # sigma (px) of the xy smoothing of the cubic volume: no grid, smoother


def smoothed_controls(cubic: np.ndarray) -> dict[str, np.ndarray]:
    """label -> the cubic volume smoothed in xy: what smoothing alone does to the figures."""
    return {f"control: cubic smoothed in xy (sigma {s:g} px)":
            gaussian_filter(cubic, (0, s, s)) for s in CONTROLS}


def restorations(name: str, path: Path, options: list[str]) -> dict[str, tuple[Path, dict]]:
    """label -> (restored .tif, {seconds, peak_mib}) for cubic, shipped and per-stack LDM."""
    folder = OUT / name
    folder.mkdir(parents=True, exist_ok=True)
    done = folder / "runs.json"
    if done.exists():  # restored by an earlier run of this script (cached, not committed)
        return {label: (Path(f), info) for label, (f, info) in json.loads(done.read_text()).items()}
    train_s, _ = run_cli(["train", str(path), "--out", str(folder / "ldm"), "--quick",
                          "--minutes", str(MINUTES), "--overwrite", "--seed", "0", *options])
    runs = {"input (cubic)": ["--method", "cubic"],
            "isonb, shipped LDM": [],
            PER_STACK: ["--weights", str(folder / "ldm")]}
    out = {}
    for i, (label, args) in enumerate(runs.items()):
        target = folder / f"restored_{i}.tif"
        seconds, peak = run_cli(["restore", str(path), str(target), "--overwrite", *options,
                                 *args])
        out[label] = (target, {"seconds": seconds, "peak_mib": peak})
    out[PER_STACK][1]["train_seconds"] = train_s
    done.write_text(json.dumps({label: (str(f), info) for label, (f, info) in out.items()}))
    return out


def main() -> None:
    if not DATA.is_dir():
        raise SystemExit(f"{DATA}: not found. Fix: run from a checkout beside shared/data")
    lines = ["# isonb on real stacks (no ground truth)", "",
             "Made by `python benchmarks/real_data.py` (see its docstring). `grid`: share of the "
             "xy planes' 2D power on the two frequency axes (the issue's target: at most cubic "
             "interpolation's + 0.02; smoothing alone raises it, see the controls); `stripe`: "
             "the axes' power against that of the same radius (`metrics.stripe_score`, about 1 "
             "without a grid); `FWHM ratio`: axial / lateral FWHM of small "
             "bright structures; `spectral ratio`: axial / lateral share of high-frequency "
             "energy; `decorr. ratio`: axial / lateral resolution by decorrelation analysis "
             "(`isonb.resolution`; all three 1 when isotropic), `axial (px)` the axial one; "
             "`benchmarks/results/noref.md` says how far each "
             f"can be trusted. Hardware: {hardware()}.", "",
             "| stack | method | grid | grid - cubic | stripe | FWHM ratio | spectral ratio | "
             "decorr. ratio | axial (px) | restore (s) | peak mem (MiB) | training (s) |",
             "|---" * 12 + "|"]
    for name, (file, options) in STACKS.items():
        runs = restorations(name, DATA / file, options)
        vols = {label: read_stack(p).data for label, (p, _) in runs.items()}
        cubic_grid = metrics.axis_power_share(vols["input (cubic)"])
        controls = smoothed_controls(vols["input (cubic)"])
        for label, vol in {**vols, **controls}.items():
            grid = metrics.axis_power_share(vol)
            figures = metrics.no_reference(vol)
            info = runs[label][1] if label in runs else {}
            cost = (f"{info['seconds']:.0f} | {info['peak_mib']:.0f} | "
                    f"{info.get('train_seconds', 0):.0f}") if info else "- | - | -"
            lines.append(
                f"| {name} | {label} | {grid:.3f} | {grid - cubic_grid:+.3f} | "
                f"{metrics.stripe_score(vol):.2f} | {figures['fwhm_ratio']:.2f} | "
                f"{figures['spectral_ratio']:.3f} | {figures['decorrelation_ratio']:.2f} | "
                f"{figures['axial_px']:.1f} | {cost} |")
            print(lines[-1], flush=True)
        save_comparison(vols, HERE.parent / "docs" / "real" / f"{name}.png")
    write_result("real_data.md", lines)


if __name__ == "__main__":
    main()
