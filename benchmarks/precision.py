"""What mixed precision changes: the shipped LDM in fp32, fp16 and bf16 on the public suite.

    python benchmarks/precision.py        # writes benchmarks/results/precision.md

`restore --precision auto` runs the networks in fp16 mixed precision on a CUDA GPU (tensor
cores) and in fp32 elsewhere. This measures, on the CPU, what the lower precisions do to the
numbers: each public case, cropped to its central 128 x 128 px (all planes) to keep fp16
affordable where the CPU emulates it, is restored with the shipped weights and the
diffusion sampled (`--diffusion on`'s path, K = 2, 4 DDIM steps; the mean fused as
`--fusion auto` fuses it) in each precision, and scored against its ground truth; the
differences to fp32 are given as a fraction of the intensity range (the stacks' noise is
5-20 % of it). fp16 rounds as IEEE half precision does on a GPU; a GPU's kernels
accumulate differently, so its own numbers may differ by as much again. The times depend
on the CPU's half-precision instructions, which the table names: fp16 took 6.5x fp32's
time on the CPU of the 2026-12-04 run, 1.3x on one with AVX512-FP16 and AMX.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from isonb import metrics
from isonb.benchmark import CASES
from isonb.checkpoint import shipped_weights
from isonb.io import read_stack
from isonb.restore import load_network, restore_network

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from run import case_dir, hardware, rows_table, write_result  # noqa: E402

PRECISIONS = ("fp32", "fp16", "bf16")
CROP = np.s_[:, 64:192, 64:192]


def main() -> None:
    model = load_network(shipped_weights(), "ldm", "cpu")
    rows = []
    for name in CASES:
        folder = case_dir(name, HERE / "cache")
        obs = read_stack(folder / "observed.tif")
        gt = read_stack(folder / "gt.tif").data[CROP]
        out = {}
        for precision in PRECISIONS:
            t = time.perf_counter()
            out[precision], _ = restore_network(obs.data[CROP], obs.voxel_size, model,
                                                progress=False, uncertainty=False,
                                                diffusion="on", precision=precision)
            seconds = time.perf_counter() - t
            diff = (out[precision] - out["fp32"]) / (out["fp32"].max() - out["fp32"].min())
            rows.append({"case": name, "precision": precision, "seconds": seconds,
                         "max": float(np.abs(diff).max()),
                         "rms": float(np.sqrt(np.mean(diff**2))),
                         **metrics.evaluate(out[precision], gt)})
            print(rows[-1], flush=True)
    write(rows)


def half_precision_support() -> str:
    """The CPU's half-precision instructions, from /proc/cpuinfo's flags (Linux)."""
    try:
        flags = next(line for line in open("/proc/cpuinfo") if line.startswith("flags")).split()
    except (OSError, StopIteration):
        return "unknown"
    have = [f for f in ("avx512_fp16", "avx512_bf16", "amx_fp16", "amx_bf16") if f in flags]
    return ", ".join(have) if have else "none (fp16 emulated)"


def write(rows: list[dict]) -> None:
    lines = ["# Mixed precision", "",
             "Made by `python benchmarks/precision.py` (see its docstring): the shipped LDM, "
             "diffusion sampled, on the central 128 x 128 px of each public case. `max` and "
             "`rms`: difference to fp32 as a fraction of the restored intensity range. "
             f"Hardware: {hardware()}; half-precision instructions: "
             f"{half_precision_support()} (the times say nothing about a GPU).", "",
             "| precision | SSIM | PSNR | max | rms | restore (s) |", "|---|---|---|---|---|---|"]
    for p in PRECISIONS:
        sel = [r for r in rows if r["precision"] == p]
        mean = {k: np.mean([r[k] for r in sel]) for k in ("ssim", "psnr", "seconds", "rms")}
        lines.append(f"| {p} | {mean['ssim']:.4f} | {mean['psnr']:.2f} | "
                     f"{max(r['max'] for r in sel):.2e} | {mean['rms']:.2e} | "
                     f"{mean['seconds']:.1f} |")
    lines += ["", *rows_table(rows, [
        ("case", "case", ""), ("precision", "precision", ""), ("SSIM", "ssim", ".4f"),
        ("PSNR", "psnr", ".2f"), ("max", "max", ".2e"), ("rms", "rms", ".2e"),
        ("restore (s)", "seconds", ".1f")])]
    write_result("precision.md", lines)


if __name__ == "__main__":
    main()
