"""The oracle ladder: where the distance from self-supervised training to true pairs goes.

    python benchmarks/ladder.py [--long]
    python benchmarks/ladder.py --finetune

Issue 15's ladder trains one network at one budget while replacing the self-supervised
ingredients by their ground-truth counterparts, one at a time and cumulatively. Here the
network is the LDM's regressor alone (x_hat = x + R(x)), 300 steps, seed 0, L1, trained on
each ablation case's own stack, restoring its central 128x128 crop (as `targets.py`):
  1. self-supervised   today's pairs: xy patches of the observed stack, degraded by the
                       estimated degradation (by band), recorrupted (R2R, a = 0.5)
  2. + true PSF        the same patches degraded by the simulated PSF's extra axial blur
                       (one Gaussian of sqrt(axial FWHM^2 - lateral FWHM^2), the truth of
                       `degradation.py`), noise as estimated
  3. + noise-free xy   the same patches cut from the simulator's observed stack before
                       noise, no recorruption (the input still gets the estimated noise)
  4. + ground-truth xy the same patches cut from the ground truth's planes (no out-of-plane
                       blur), degraded as in 2
  5. oracle            true pairs: patches of the stack's cubic-resliced xz/yz planes where
                       they hold structure, and the ground truth's at the same places (the
                       same flips on both), from the whole stack (the crop's own truth among
                       them: a ceiling, not a method)
Rungs 1-4 share rung 1's patch corners, and all five the observed stack's normalisation
and pool size. `--long` adds rung 1 trained 10x longer (3000 steps), separating the budget
from the data. Each row's gain over cubic interpolation, and rung 1's share of the oracle's
gain, is what issue 15's target asks for (>= 80 %). Each row is cached in
benchmarks/cache/<case>/ladder-*.json (`--fresh` retrains them). Writes
benchmarks/results/ladder.md. A cached row made from other trained weights than
today's (the generalist, the per-stack model) is made again.

`--finetune` measures the ladder at the product's budget instead, into
benchmarks/results/ladder-finetuned.md: rungs 1, 4 and 5 trained from the shipped
generalist's regressor for the quick schedule's regressor steps (900, retargeting's
included; the same loop, learning rate and seed as above), beside the 300-step oracle
(rung 5 again, on the same machine) and the per-stack quick default itself (the whole LDM
run.py fine-tuned on the case, benchmarks/cache/<case>/ldm-quick, restoring the crop as
`ablation.py`'s default row does; its time is the restoration's). Shares are given against
both oracles.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from ablation import CASES, CROP, mean_table
from run import case_dir, hardware, write_result
from targets import STEPS, train_regressor

from isonb import ldm as ldm_lib
from isonb import metrics
from isonb.benchmark import CASES as SUITE
from isonb.checkpoint import read_card, shipped_weights
from isonb.degrade import Degradation
from isonb.io import Stack
from isonb.patches import PairSampler, prepare
from isonb.psf import FWHM_PER_SIGMA
from isonb.restore import restore_network
from isonb.simulate import SimulatedCase, simulate
from isonb.train import TrainConfig
from isonb.volume import (
    cut_patches,
    normalize,
    patch_corners,
    percentile_range,
    reslice_isotropic,
    xz_planes,
    yz_planes,
)

HERE = Path(__file__).resolve().parent
CUBIC = "cubic"
RUNGS = ["1. self-supervised (today)", "2. + true PSF", "3. + noise-free xy targets",
         "4. + ground-truth xy targets", "5. oracle (true pairs)"]
LONG = "1. self-supervised, 10x steps"
FINETUNED = ", fine-tuned"  # the suffix of the rows trained from the generalist
PRODUCT = "per-stack quick default (whole LDM)"


class TruePairs:
    """Aligned (input, ground truth) axial patch pools, drawn at random with the same flips on
    both (along z, along the lateral axis: an axial patch is not rotated)."""

    def __init__(self, inputs: np.ndarray, targets: np.ndarray, rng: np.random.Generator):
        self.inputs, self.targets, self.rng = inputs, targets, rng  # (n, p, p) each

    def draw(self, batch: int, recorrupt: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        """(inputs, targets), each (batch, 1, p, p) float32; `recorrupt` is not used."""
        pairs = []
        for i in self.rng.integers(0, len(self.inputs), batch):
            a, b = self.inputs[i], self.targets[i]
            if self.rng.random() < 0.5:
                a, b = a[::-1], b[::-1]
            if self.rng.random() < 0.5:
                a, b = a[:, ::-1], b[:, ::-1]
            pairs.append((a, b))
        inputs, targets = (np.stack([q[i] for q in pairs])[:, None].astype(np.float32)
                           for i in (0, 1))
        return inputs, targets


def true_pairs(iso: np.ndarray, gt: np.ndarray, p: int, n: int) -> TruePairs:
    """The oracle's pools: `n` patches of the xz and yz planes (half each) of the resliced
    stack `iso`, where it holds structure (as the other rungs' xy pools are drawn), and the
    ground truth `gt` (same shape) at the same places."""
    rng = np.random.default_rng(0)
    inputs, targets = [], []
    for planes, k in ((xz_planes, n // 2), (yz_planes, n - n // 2)):
        corners = patch_corners(planes(iso), (p, p), k, rng)
        inputs.append(cut_patches(planes(iso), corners, (p, p)))
        targets.append(cut_patches(planes(gt), corners, (p, p)))
    return TruePairs(np.concatenate(inputs), np.concatenate(targets), rng)


def true_degradation(case: SimulatedCase, estimate: Degradation) -> Degradation:
    """The estimate with the simulated PSF's extra axial blur instead of its own, as one
    Gaussian (exact for Gaussian PSFs; the central profile's for the Debye ones); its noise
    as estimated."""
    fa, fl = case.stats["psf_fwhm_axial_um"], case.stats["psf_fwhm_lateral_um"]
    dz, _, dx = case.voxel_size
    return replace(estimate, sigma_axial=float(np.sqrt(fa**2 - fl**2)) / FWHM_PER_SIGMA / dx,
                   band_freqs=(), band_sigmas=())


def ladder_pairs(case: SimulatedCase, path: Path) -> dict[str, tuple[object, float]]:
    """Each rung's (pair sampler, recorruption) for one simulated case."""
    quick = TrainConfig.quick()
    p, n = quick.patch, quick.n_patches
    data = prepare([Stack(case.observed, case.voxel_size, path)], p, n, 0)
    lo, hi = percentile_range(case.observed)
    corners = patch_corners(normalize(case.observed, lo, hi), (p, p), n,
                            np.random.default_rng(0))  # prepare's first draw: its xy pool
    assert np.array_equal(cut_patches(normalize(case.observed, lo, hi), corners, (p, p)),
                          data.xy)
    true = true_degradation(case, data.degradations[0])
    z_step = case.config.z_step

    def sampler(planes: np.ndarray) -> PairSampler:
        pool = cut_patches(normalize(planes, lo, hi), corners, (p, p))
        return PairSampler(pool, [true], np.zeros(len(pool), int), np.random.default_rng(0))

    dz, _, dx = case.voxel_size
    iso = reslice_isotropic(normalize(case.observed, lo, hi), dz, dx)
    gt = normalize(case.gt[: len(iso)], lo, hi)
    return {RUNGS[0]: (data.pairs, quick.recorrupt),
            RUNGS[1]: (sampler(case.observed), quick.recorrupt),
            RUNGS[2]: (sampler(case.clean), 0.0),
            RUNGS[3]: (sampler(case.gt[::z_step]), 0.0),
            RUNGS[4]: (true_pairs(iso, gt, p, n), 0.0)}


def cache_name(label: str) -> str:
    """The row's file in the case's cache folder."""
    if label == PRODUCT:
        return "ladder-product.json"
    if label == LONG:
        return "ladder-1-long.json"
    return f"ladder-{'ft-' if label.endswith(FINETUNED) else ''}{label[0]}.json"


def depends_on(label: str, folder: Path) -> str | None:
    """sha256 of the trained weights a row starts from (the generalist for the fine-tuned
    rungs, the case's per-stack model for the product), so that a cached row made from other
    weights is made again; None for the rows trained from random weights."""
    if label == PRODUCT:
        return read_card(folder / "ldm-quick")["sha256"]
    return read_card(shipped_weights())["sha256"] if label.endswith(FINETUNED) else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--long", action="store_true", help="add rung 1 at 10x the steps")
    parser.add_argument("--finetune", action="store_true",
                        help="rungs 1, 4, 5 fine-tuned from the generalist, and the product "
                             "(ladder-finetuned.md)")
    parser.add_argument("--fresh", action="store_true",
                        help="retrain every row (default: reuse rows cached in benchmarks/cache)")
    args = parser.parse_args()
    generalist = ldm_lib.load(shipped_weights())[0].regressor if args.finetune else None
    quick = TrainConfig.quick()
    ft_steps = quick.regressor_steps + quick.retarget_steps  # all the regressor's steps
    rows, seconds = [], {}
    for name in CASES:
        path = case_dir(name, HERE / "cache") / "observed.tif"
        case = simulate(SUITE[name])
        dz, _, dx = case.voxel_size
        gt = case.gt[CROP]
        cubic = reslice_isotropic(case.observed[CROP], dz, dx)
        rows.append((name, CUBIC, metrics.evaluate(cubic, gt[: len(cubic)])))
        rungs = ladder_pairs(case, path)
        if args.finetune:
            runs = [(RUNGS[4], *rungs[RUNGS[4]], STEPS)]
            runs += [(label + FINETUNED, *rungs[label], ft_steps)
                     for label in (RUNGS[0], RUNGS[3], RUNGS[4])]
            runs.append((PRODUCT, None, 0.0, 0))
        else:
            runs = [(label, *rungs[label], STEPS) for label in RUNGS]
        if args.long:
            runs.append((LONG, *rungs[RUNGS[0]], 10 * STEPS))
        for label, pairs, recorrupt, steps in runs:
            cached = path.parent / cache_name(label)
            weights = depends_on(label, path.parent)
            saved = json.loads(cached.read_text()) if cached.exists() and not args.fresh else None
            if saved is not None and saved.pop("weights", None) == weights:
                s = saved
            else:
                t = time.perf_counter()
                if label == PRODUCT:
                    model = ldm_lib.load(path.parent / "ldm-quick")[0]
                    kw = {"uncertainty": False}  # as ablation.py's default row
                else:
                    init = generalist if label.endswith(FINETUNED) else None
                    model = train_regressor(pairs, recorrupt, "l1", steps=steps, init=init)
                    kw = {"samples": 1}
                vol, _ = restore_network(case.observed[CROP], case.voxel_size, model,
                                         progress=False, **kw)
                s = {**metrics.evaluate(vol, gt[: len(vol)]), "seconds": time.perf_counter() - t}
                cached.write_text(json.dumps({**s, "weights": weights}))
            seconds.setdefault(label, []).append(s["seconds"])
            rows.append((name, label, s))
            print(f"{name:32s} {label:30s} SSIM {s['ssim']:.4f} PSNR {s['psnr']:.2f} "
                  f"({s['seconds']:.0f} s)", flush=True)
    write(rows, {k: float(np.mean(v)) for k, v in seconds.items()})


def gains(rows: list[tuple]) -> dict[str, dict[str, float]]:
    """Mean gain over cubic interpolation per label, in SSIM and PSNR."""
    base = {c: s for c, label, s in rows if label == CUBIC}
    out = {}
    for label in dict.fromkeys(lab for _, lab, _ in rows if lab != CUBIC):
        sel = [(c, s) for c, lab, s in rows if lab == label]
        out[label] = {k: float(np.mean([s[k] - base[c][k] for c, s in sel]))
                      for k in ("ssim", "psnr")}
    return out


def write(rows: list[tuple], seconds: dict[str, float]) -> None:
    """ladder.md, or ladder-finetuned.md for `--finetune`'s rows (shares against both
    oracles there)."""
    g = gains(rows)
    tuned = PRODUCT in g
    oracles = [RUNGS[4], RUNGS[4] + FINETUNED] if tuned else [RUNGS[4]]
    head = ("| rung | gain over cubic: SSIM | PSNR (dB) | "
            + " | ".join(f"share of the {'fine-tuned ' if FINETUNED in o else ''}oracle's gain: "
                         "SSIM | PSNR" for o in oracles)
            + " | train + restore (s per case) |")
    flags = (" --finetune" if tuned else "") + (" --long" if LONG in g else "")
    lines = ["# The oracle ladder" + (" at the product's budget" if tuned else ""), "",
             f"Made by `python benchmarks/ladder.py{flags}` (see its docstring): the LDM's "
             "regressor alone" + (" (the last row: the whole per-stack LDM)" if tuned else "")
             + ", seed 0, central 128x128 crop "
             f"of {len(CASES)} public cases; each rung replaces one more self-supervised "
             f"ingredient by its ground truth. Hardware: {hardware()}.", "",
             *mean_table("rung", rows), "", head, "|---" * head.count(" | ") + "|---|"]
    for label, v in g.items():
        shares = " | ".join(f"{100 * v[k] / g[o][k]:.0f} %" for o in oracles
                            for k in ("ssim", "psnr"))
        lines.append(f"| {label} | {v['ssim']:+.4f} | {v['psnr']:+.2f} | {shares} | "
                     f"{seconds[label]:.0f} |")
    lines += ["", "The target (issue 15) is a self-supervised share of at least 80 % in both.",
              "", "| case | rung | SSIM | PSNR | xy-SSIM |", "|---|---|---|---|---|"]
    lines += [f"| {c} | {label} | {s['ssim']:.4f} | {s['psnr']:.2f} | {s['ssim_xy']:.4f} |"
              for c, label, s in rows]
    write_result("ladder-finetuned.md" if tuned else "ladder.md", lines)


if __name__ == "__main__":
    main()
