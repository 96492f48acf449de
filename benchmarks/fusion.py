"""How the xz and yz restorations are combined: averaged, or by orientation.

    python benchmarks/fusion.py         # writes benchmarks/results/fusion.md

Each slice is restored on its own, so the xz-restored volume is consistent along x and not
across y, the yz-restored one the other way round. `--fusion orientation` takes each lateral
frequency mostly from the view whose slices run along it (`volume.fuse_views`);
`--fusion average` is their mean (`auto`, the default, is orientation for the LDM's
mean). Each public case is restored with the
shipped LDM both ways, as `benchmarks/run.py`'s ldm-shipped row is (`--diffusion on`, its
own `isonb restore` process), and scored against its ground truth; with ../shared/data, each
real stack of `real_data.py` too, reporting the grid measure (`metrics.axis_power_share`)
against cubic interpolation's.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from isonb import metrics
from isonb.benchmark import CASES
from isonb.io import read_stack

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from real_data import DATA, STACKS  # noqa: E402
from run import case_dir, hardware, rows_table, run_cli, write_result  # noqa: E402

FUSIONS = ("average", "orientation")
SHIPPED = ["--method", "ldm", "--weights", str(HERE.parent / "weights"), "--diffusion", "on"]


def restored(source: Path, target: Path, args: list[str]) -> tuple[np.ndarray, float]:
    """(restored volume, seconds) of one `isonb restore` process."""
    seconds, _ = run_cli(["restore", str(source), str(target), "--overwrite", *args])
    return read_stack(target).data, seconds


def public_rows() -> list[dict]:
    rows = []
    for name in CASES:
        folder = case_dir(name, HERE / "cache")
        gt = read_stack(folder / "gt.tif").data
        for fusion in FUSIONS:
            vol, seconds = restored(folder / "observed.tif", folder / f"fusion_{fusion}.tif",
                                    [*SHIPPED, "--fusion", fusion])
            rows.append({"case": name, "fusion": fusion, "seconds": seconds,
                         "grid": metrics.axis_power_share(vol), **metrics.evaluate(vol, gt)})
            print(rows[-1], flush=True)
    return rows


def real_rows() -> list[dict]:
    rows = []
    for name, (file, options) in STACKS.items():
        folder = HERE / "cache" / "real" / name
        folder.mkdir(parents=True, exist_ok=True)
        cubic, _ = restored(DATA / file, folder / "fusion_cubic.tif",
                            ["--method", "cubic", *options])
        reference = metrics.axis_power_share(cubic)
        for fusion in FUSIONS:
            vol, seconds = restored(DATA / file, folder / f"fusion_{fusion}.tif",
                                    [*SHIPPED, "--fusion", fusion, *options])
            grid = metrics.axis_power_share(vol)
            rows.append({"stack": name, "fusion": fusion, "grid": grid,
                         "excess": grid - reference, "seconds": seconds})
            print(rows[-1], flush=True)
    return rows


def write(public: list[dict], real: list[dict]) -> None:
    lines = ["# Fusing the xz and yz restorations", "",
             "Made by `python benchmarks/fusion.py` (see its docstring): the shipped LDM "
             "(`--diffusion on`), the two views averaged or fused by orientation. `grid`: "
             "share of the xy planes' power on the two frequency axes. "
             f"Hardware: {hardware()}.", "",
             "| fusion | SSIM | PSNR | MSE | CoC | grid | cases better (SSIM) |",
             "|---|---|---|---|---|---|---|"]
    by = {f: [r for r in public if r["fusion"] == f] for f in FUSIONS}
    for f in FUSIONS:
        mean = {k: np.mean([r[k] for r in by[f]]) for k in ("ssim", "psnr", "mse", "coc", "grid")}
        better = sum(r["ssim"] > a["ssim"] for r, a in zip(by[f], by["average"]))
        lines.append(f"| {f} | {mean['ssim']:.4f} | {mean['psnr']:.2f} | {mean['mse']:.2e} | "
                     f"{mean['coc']:.4f} | {mean['grid']:.3f} | "
                     f"{'-' if f == 'average' else f'{better} / {len(by[f])}'} |")
    lines += ["", *rows_table(public, [
        ("case", "case", ""), ("fusion", "fusion", ""), ("SSIM", "ssim", ".4f"),
        ("PSNR", "psnr", ".2f"), ("MSE", "mse", ".2e"), ("CoC", "coc", ".4f"),
        ("grid", "grid", ".3f"), ("restore (s)", "seconds", ".0f")])]
    if real:
        lines += ["", "Real stacks (no ground truth): the grid measure against cubic "
                  "interpolation's (the target: at most + 0.02).", "",
                  "| stack | fusion | grid | grid - cubic | restore (s) |", "|---|---|---|---|---|"]
        lines += [f"| {r['stack']} | {r['fusion']} | {r['grid']:.3f} | {r['excess']:+.3f} | "
                  f"{r['seconds']:.0f} |" for r in real]
    write_result("fusion.md", lines)


def main() -> None:
    write(public_rows(), real_rows() if DATA.exists() else [])


if __name__ == "__main__":
    main()
