"""The embedded default dataset: simulated liver-like stacks with ground truth, made once."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from .simulate import SimulationConfig, save_case, simulate

VERSION = "v1"

# Two training stacks and a held-out test stack: mixed liver structures, a confocal PSF
# whose axial FWHM is ~5x the lateral one, z sampled every 2 voxels, SNR 10.
_BASE = dict(structure="mixed", shape=(81, 256, 256), voxel_xy=0.1, psf="confocal", na=0.8,
             n_immersion=1.33, z_step=2, snr=10.0)
DEFAULT_CONFIGS = {
    "train_1": SimulationConfig(**_BASE, seed=1001),
    "train_2": SimulationConfig(**_BASE, seed=1002),
    "test": SimulationConfig(**_BASE, seed=2001),
}
# Quick mode (ISONB_QUICK=1, the tests): the same stacks on a 128 x 128 field, 4x fewer voxels.
QUICK_CONFIGS = {name: replace(cfg, shape=(81, 128, 128)) for name, cfg in DEFAULT_CONFIGS.items()}


@dataclass
class DefaultDataset:
    """Paths of the default stacks: each folder holds observed.tif, gt.tif, psf.tif, meta.json."""

    root: Path
    train: list[Path]  # observed.tif of the training stacks
    test: Path  # observed.tif of the held-out stack
    test_gt: Path  # its ground truth, for scoring only
    test_psf: Path  # the true PSF, for reference methods that are given it


def cache_dir() -> Path:
    """Where generated data lives: $ISONB_CACHE, else ~/.cache/isonb."""
    return Path(os.environ.get("ISONB_CACHE", Path.home() / ".cache" / "isonb"))


def default_dataset(root: str | Path | None = None, verbose: bool = True,
                    quick: bool | None = None) -> DefaultDataset:
    """The default dataset, simulated deterministically the first time (a few seconds each);
    in quick mode (default: `isonb.quick_mode()`) on a smaller field (`QUICK_CONFIGS`)."""
    from . import quick_mode

    quick = quick_mode() if quick is None else quick
    configs = QUICK_CONFIGS if quick else DEFAULT_CONFIGS
    root = Path(root) if root is not None else \
        cache_dir() / f"default-{VERSION}{'-quick' if quick else ''}"
    for name, cfg in configs.items():
        folder = root / name
        meta = folder / "meta.json"
        if meta.exists() and json.loads(meta.read_text())["config"] == json.loads(
                json.dumps(asdict(cfg))):
            continue
        if verbose:
            print(f"simulating the default stack {name!r} (seed {cfg.seed}) into {folder}")
        save_case(simulate(cfg), folder, overwrite=True)
    return DefaultDataset(
        root=root,
        train=[root / n / "observed.tif" for n in configs if n.startswith("train")],
        test=root / "test" / "observed.tif",
        test_gt=root / "test" / "gt.tif",
        test_psf=root / "test" / "psf.tif",
    )


GENERALIST_STRUCTURES = ("nuclei", "membranes", "sinusoids", "canaliculi", "puncta", "mixed",
                         "mixed")  # the first stage's draw (mixed twice); later stages add beads


def generalist_configs(n: int, seed: int = 5000,
                       shape: tuple[int, int, int] = (65, 160, 160),
                       structures: tuple[str, ...] = GENERALIST_STRUCTURES,
                       balanced: bool = False) -> list[SimulationConfig]:
    """`n` random cases over BENCHMARK.md's ranges, for training the shipped model.

    Structures, PSF model (Gaussian with axial/lateral FWHM 3-9, widefield or confocal with
    NA 0.8-1.2), z_step 1-4 and SNR 5-20 are drawn from `seed`; the seeds of the cases
    themselves (seed + i) never meet those of the public benchmark (11-18) or the default
    dataset (1001-2001). `balanced` takes the structures in turn instead of drawing them, so
    that a short list covers each.
    """
    rng = np.random.default_rng(seed)
    configs = []
    for i in range(n):
        psf = str(rng.choice(["gaussian", "widefield", "confocal"]))
        lateral = float(rng.uniform(0.2, 0.3))
        configs.append(SimulationConfig(
            structure=structures[i % len(structures)] if balanced else str(rng.choice(structures)),
            shape=shape, psf=psf,
            na=float(rng.uniform(0.8, 1.2)), fwhm_lateral=lateral,
            fwhm_axial=float(lateral * rng.uniform(3.0, 9.0)), z_step=int(rng.integers(1, 5)),
            snr=float(rng.uniform(5.0, 20.0)), seed=seed + i))
    return configs
