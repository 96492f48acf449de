"""The perception-distortion trade-off of the LDM's two outputs, with the shipped weights.

    python benchmarks/perception.py

Each public case's central 128x128 lateral crop (all planes) is restored with the shipped
LDM (refocused, as `restore` does by default) as:
  regressor only      --diffusion off: x_hat = x + R(x), refocused
  mean, K=2           --diffusion on: the default output with its 2 samples
  mean, K=8           the same with 8 samples
  sample, seed 0/1    --output sample: one posterior sample, x_hat + (x_1 - D(E(x_hat))),
                      its noise drifting over 8 slices (over 2, 32 or none: the other rows)
and scored against the ground truth (SSIM, PSNR as BENCHMARK.md) and on texture: the power
spectrum along z, and along x, against the ground truth's (`metrics.spectrum_to_truth`:
10 log10 of their ratio over 0.05-0.25 cycles per voxel, each scaled by its percentiles; its mean,
below 0 when smoother than the truth, and its mean absolute value, the distance). The mean
is what SSIM and PSNR reward; a sample trades them for texture. Writes
benchmarks/results/perception.md.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from ablation import CROP
from run import case_dir, hardware, write_result

from isonb import ldm as ldm_lib
from isonb import metrics, restore
from isonb.baselines import interpolate
from isonb.benchmark import CASES
from isonb.checkpoint import shipped_weights
from isonb.io import read_stack

HERE = Path(__file__).resolve().parent
DRIFT = restore.SAMPLE_DRIFT  # the default: slices over which a sample's noise drifts
VARIANTS = {"regressor only": dict(diffusion="off"),
            "mean, K=2 (default output)": dict(diffusion="on", samples=2),
            "mean, K=8": dict(diffusion="on", samples=8),
            "sample, seed 0": dict(output="sample", seed=0),
            "sample, seed 1": dict(output="sample", seed=1),
            "sample, seed 0, drift over 2 slices": dict(output="sample", drift=2),
            "sample, seed 0, drift over 32 slices": dict(output="sample", drift=32),
            "sample, seed 0, noise shared by every slice": dict(output="sample", drift=10**9)}


def main() -> None:
    model, card = ldm_lib.load(shipped_weights())
    rows = []
    for name in CASES:
        folder = case_dir(name, HERE / "cache")
        obs = read_stack(folder / "observed.tif")
        gt = read_stack(folder / "gt.tif").data[CROP]
        data = obs.data[CROP]
        t = time.perf_counter()
        results = {"cubic": (interpolate(data, obs.voxel_size), time.perf_counter() - t)}
        for label, kw in VARIANTS.items():
            t = time.perf_counter()
            vol, _ = restore.restore_network(data, obs.voxel_size, model, progress=False,
                                             uncertainty=False, **kw)
            results[label] = (vol, time.perf_counter() - t)
        for label, (vol, seconds) in results.items():
            s = metrics.evaluate(vol, gt[: len(vol)])
            s["z_db"], s["z_gap"] = metrics.spectrum_to_truth(vol, gt[: len(vol)], axis=0)
            s["x_db"], s["x_gap"] = metrics.spectrum_to_truth(vol, gt[: len(vol)], axis=2)
            s["stripe"] = metrics.stripe_score(vol)
            s["seconds"] = seconds
            rows.append((name, label, s))
            print(f"{name:32s} {label:28s} SSIM {s['ssim']:.4f} PSNR {s['psnr']:.2f} "
                  f"z {s['z_db']:+.1f} dB (|{s['z_gap']:.1f}|) x {s['x_db']:+.1f} dB "
                  f"(|{s['x_gap']:.1f}|) stripe {s['stripe']:.2f} {seconds:.0f} s", flush=True)
    write(rows, float(model.refine_weight), card)


def write(rows: list[tuple], weight: float, card: dict) -> None:
    labels = list(dict.fromkeys(r[1] for r in rows))
    mean = {lab: {k: float(np.mean([s[k] for _, lb, s in rows if lb == lab]))
                  for k in rows[0][2]} for lab in labels}
    lines = ["# Perception and distortion: the LDM's mean against its samples", "",
             "Made by `python benchmarks/perception.py` (see its docstring): the shipped LDM "
             f"(sha256 {card['sha256'][:12]}, refine weight w = {weight:.2f}), central "
             f"128x128 crop of the {len(rows) // len(labels)} public cases, all planes. "
             "Texture: the power spectrum along z (and x) against the ground truth's, "
             "10 log10 of their ratio over 0.05-0.25 cycles per voxel: its mean (below 0: "
             "smoother than the truth) and mean absolute value (the distance; 0 = the "
             "truth's texture). xy stripe score: the xy planes' grid (`metrics.stripe_score`, "
             "about 1 without a grid). A sample's noise drifts from slice to slice over "
             f"{DRIFT} slices by default (`restore.drifting_noise`); the drift rows vary "
             f"that. Hardware: {hardware()}.", "",
             "| output | SSIM | PSNR | z spectrum vs truth (dB) | distance | x spectrum vs "
             "truth (dB) | distance | xy stripe score | restore (s per case) |",
             "|---|---|---|---|---|---|---|---|---|"]
    lines += [f"| {lab} | {m['ssim']:.4f} | {m['psnr']:.2f} | {m['z_db']:+.1f} | "
              f"{m['z_gap']:.1f} | {m['x_db']:+.1f} | {m['x_gap']:.1f} | {m['stripe']:.2f} | "
              f"{m['seconds']:.0f} |" for lab, m in mean.items()]
    lines += ["", "| case | output | SSIM | PSNR | z (dB) | distance | x (dB) | distance | "
              "stripe |", "|---|---|---|---|---|---|---|---|---|"]
    lines += [f"| {c} | {lab} | {s['ssim']:.4f} | {s['psnr']:.2f} | {s['z_db']:+.1f} | "
              f"{s['z_gap']:.1f} | {s['x_db']:+.1f} | {s['x_gap']:.1f} | {s['stripe']:.2f} |"
              for c, lab, s in rows]
    write_result("perception.md", lines)


if __name__ == "__main__":
    main()
