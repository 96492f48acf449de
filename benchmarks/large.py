"""A stack of real size, restored with default settings: time, peak memory and scores.

    python benchmarks/large.py            # writes benchmarks/results/large.md
    python benchmarks/large.py --table large-gpu.md   # on a GPU machine (benchmarks/gpu.sh)

The stack is 100 x 1024 x 1024 observed planes (z_step 4, so its isotropic float32 volume
is 397 x 1024 x 1024, 1.66 GB), simulated with ground truth. Simulating it whole would take
a 3D FFT of 416 M voxels, so four 397 x 256 x 256 cases (mixed tissue, confocal NA 1.0,
SNR 10, seeds 7000-7003) are tiled 4 x 4, each tile one of them flipped or rotated in xy
(observed stack and ground truth alike): structure is continuous inside a tile, not across
its edges. `isonb restore` runs as its own process with default settings (the shipped LDM,
`--diffusion auto`, no uncertainty), and so does cubic interpolation; both are scored
against the ground truth as BENCHMARK.md fixes. Cases are cached in benchmarks/cache/large.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from isonb import metrics
from isonb.io import read_stack, write_stack
from isonb.simulate import SimulationConfig, simulate

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from run import hardware, run_cli, write_result  # noqa: E402

TILE = SimulationConfig(structure="mixed", shape=(397, 256, 256), psf="confocal", na=1.0,
                        z_step=4, snr=10.0)
SEEDS = (7000, 7001, 7002, 7003)


def mosaic(tiles: list[np.ndarray], grid: int = 4) -> np.ndarray:
    """Tile (z, t, t) arrays into (z, grid t, grid t): tile (i, j) is tiles[(i + j) % n],
    rotated by (i + 2 j) quarter turns and flipped in x when i > j."""
    rows = []
    for i in range(grid):
        row = []
        for j in range(grid):
            t = np.rot90(tiles[(i + j) % len(tiles)], k=i + 2 * j, axes=(1, 2))
            row.append(t[:, :, ::-1] if i > j else t)
        rows.append(np.concatenate(row, axis=2))
    return np.ascontiguousarray(np.concatenate(rows, axis=1))


def make_case(folder: Path) -> Path:
    """observed.tif and gt.tif of the large case (simulated once, then cached)."""
    if (folder / "gt.tif").exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    cases = [simulate(SimulationConfig(**{**TILE.__dict__, "seed": s})) for s in SEEDS]
    vs = cases[0].voxel_size
    write_stack(folder / "observed.tif", mosaic([c.observed for c in cases]), vs, overwrite=True)
    gt = mosaic([c.gt for c in cases])
    del cases
    write_stack(folder / "gt.tif", gt, (vs[2],) * 3, overwrite=True)
    print(f"simulated the large case in {time.perf_counter() - t:.0f} s", flush=True)
    return folder


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--table", default="large.md",
                    help="results file written in benchmarks/results (default: large.md)")
    table = ap.parse_args().table
    folder = make_case(HERE / "cache" / "large")
    rows = []
    for label, args in (("input (cubic)", ["--method", "cubic"]),
                        ("isonb (shipped LDM, default settings)", [])):
        out = folder / f"restored_{len(rows)}.tif"
        seconds, peak = run_cli(["restore", str(folder / "observed.tif"), str(out),
                                 "--overwrite", *args])
        print(f"{label}: {seconds:.0f} s, peak {peak:.0f} MiB", flush=True)
        rows.append({"method": label, "seconds": seconds, "peak_mib": peak, "out": out})
    gt = read_stack(folder / "gt.tif").data
    for row in rows:  # scored after both restorations: their timings run alone
        row.update(metrics.evaluate(read_stack(row["out"]).data, gt))
        row.pop("out").unlink()
        print(json.dumps(row), flush=True)
    obs = read_stack(folder / "observed.tif")
    lines = ["# A stack of real size", "",
             "Made by `python benchmarks/large.py` (see its docstring for the case). Observed "
             f"{obs.data.shape} voxels of {obs.voxel_size} µm (dz, dy, dx); output "
             f"{(obs.data.shape[0] - 1) * 4 + 1} x 1024 x 1024 float32 (1.66 GB). Time and "
             "peak memory (VmHWM) are those of the whole `isonb restore` process, file I/O "
             f"included. Hardware: {hardware()}.", "",
             "| method | SSIM | PSNR | MSE | CoC | xy-SSIM | restore (s) | peak mem (MiB) |",
             "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['method']} | {r['ssim']:.4f} | {r['psnr']:.2f} | {r['mse']:.5f} | "
              f"{r['coc']:.4f} | {r['ssim_xy']:.4f} | {r['seconds']:.0f} | "
              f"{r['peak_mib']:.0f} |" for r in rows]
    write_result(table, lines)


if __name__ == "__main__":
    main()
