"""Halos beside z-invariant structure: the regressor with and without z-invariant pairs.

    python benchmarks/halo.py

A structure that does not vary along z is not changed by the axial blur, so its ideal
restoration is itself; a network that sharpens along z can still darken the background
beside its edges and overshoot inside (issue 16: known absences). One remedy is measured
here: a share of each training batch made z-invariant (one row of an xy patch repeated
along z, then recorrupted and degraded as every pair is; the degradation leaves it as it
is but for the noise), so that the identity on such content is learned, not hoped for.
The LDM's regressor alone, 300 steps, seed 0 (as targets.py), on each ablation case's
stack, is scored on the case's central 128x128 crop (SSIM, PSNR) and on the known-absence
phantom (`isonb.benchmark.box_phantom`, with the case's voxel size): halo, overshoot and
background roughness (`box_artefacts`). The shipped LDM's figures on the phantom are the
reference. Writes benchmarks/results/halo.md.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from ablation import CASES, CROP
from run import case_dir, hardware, write_result
from targets import train_regressor

from isonb import ldm as ldm_lib
from isonb import metrics
from isonb.benchmark import box_artefacts, box_phantom
from isonb.checkpoint import shipped_weights
from isonb.degrade import synthesize_axial
from isonb.io import read_stack
from isonb.patches import PairSampler, prepare
from isonb.restore import restore_network
from isonb.train import TrainConfig

HERE = Path(__file__).resolve().parent
SHARES = {"no z-invariant pairs (today)": 0.0, "1 in 8 pairs z-invariant": 0.125}


class WithZInvariant:
    """A pair sampler whose batches have a `share` of z-invariant pairs."""

    def __init__(self, pairs: PairSampler, share: float):
        self.pairs, self.share = pairs, share

    @property
    def rng(self) -> np.random.Generator:
        return self.pairs.rng

    @rng.setter
    def rng(self, value: np.random.Generator) -> None:
        self.pairs.rng = value

    def draw(self, batch: int, recorrupt: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        k = int(round(self.share * batch))
        x, y = self.pairs.draw(batch - k, recorrupt)
        if k == 0:
            return x, y
        rng, pool = self.rng, self.pairs.patches
        idx = rng.integers(0, len(pool), k)
        rows = pool[idx, rng.integers(0, pool.shape[1], k)]  # (k, p) lateral profiles
        clean = np.repeat(rows[:, None, :], pool.shape[1], axis=1)  # constant along z
        degs = [self.pairs.degradations[self.pairs.source[i]] for i in idx]
        std = np.array([d.noise_std for d in degs])[:, None, None]
        sources = targets = clean
        if recorrupt > 0:  # R2R, as PairSampler.draw
            z = rng.normal(0.0, 1.0, clean.shape) * std
            sources, targets = clean + recorrupt * z, clean - z / recorrupt
        inputs = np.stack([synthesize_axial(s, d, rng) for s, d in zip(sources, degs)])
        return (np.concatenate([x, inputs[:, None].astype(np.float32)]),
                np.concatenate([y, targets[:, None].astype(np.float32)]))


def main() -> None:
    quick = TrainConfig.quick()
    shipped, _ = ldm_lib.load(shipped_weights())
    rows = []
    for name in CASES:
        folder = case_dir(name, HERE / "cache")
        obs, gt = read_stack(folder / "observed.tif"), read_stack(folder / "gt.tif").data[CROP]
        box = box_phantom()
        pairs = prepare([obs], quick.patch, quick.n_patches, 0).pairs
        models = {label: train_regressor(WithZInvariant(pairs, share), quick.recorrupt, "l1")
                  for label, share in SHARES.items()}
        models["shipped LDM (reference)"] = shipped
        for label, model in models.items():
            vol, _ = restore_network(obs.data[CROP], obs.voxel_size, model, samples=1,
                                     progress=False, uncertainty=False)
            restored, _ = restore_network(box, obs.voxel_size, model, samples=1,
                                          progress=False, uncertainty=False)
            rows.append((name, label, {**metrics.evaluate(vol, gt[: len(vol)]),
                                       **box_artefacts(restored)}))
            s = rows[-1][2]
            print(f"{name:32s} {label:30s} SSIM {s['ssim']:.4f} PSNR {s['psnr']:.2f} "
                  f"halo {100 * s['halo']:.1f} % overshoot {100 * s['overshoot']:.1f} %",
                  flush=True)
    write(rows)


def write(rows: list[tuple]) -> None:
    labels = list(dict.fromkeys(r[1] for r in rows))
    keys = ("ssim", "psnr", "halo", "overshoot", "level", "roughness", "edge")
    mean = {lab: {k: float(np.mean([s[k] for _, lb, s in rows if lb == lab])) for k in keys}
            for lab in labels}

    def line(first: str, s: dict) -> str:
        return (f"| {first} | {s['ssim']:.4f} | {s['psnr']:.2f} | {100 * s['halo']:.1f} % | "
                f"{100 * s['overshoot']:.1f} % | {100 * s['level']:+.1f} % | "
                f"{s['roughness']:.2f} | {s['edge']:.2f} |")

    head = ("| {} | SSIM | PSNR | halo | overshoot | background level | roughness | edge (px, "
            "true 47.5) |")
    rule = "|---|---|---|---|---|---|---|---|"
    lines = ["# Halos beside z-invariant structure", "",
             "Made by `python benchmarks/halo.py` (see its docstring): the regressor alone, "
             "300 steps, seed 0, on each ablation case; SSIM / PSNR on the case's central "
             "128x128 crop, the rest on the known-absence phantom (fractions of the box's "
             "contrast; roughness: the far background's std over the input noise's). "
             f"Hardware: {hardware()}.", "", head.format("training pairs"), rule]
    lines += [line(lab, m) for lab, m in mean.items()]
    lines += ["", head.format("case | training pairs").replace("|---", "|---", 1),
              rule + "---|"]
    lines += [line(f"{c} | {lab}", s) for c, lab, s in rows]
    write_result("halo.md", lines)


if __name__ == "__main__":
    main()
