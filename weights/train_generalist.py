"""Train the shipped generalist LDM (weights/ beside this file), in stages.

    python weights/train_generalist.py --minutes 20                       # stage 1
    python weights/train_generalist.py --init weights --seed-base 6000 --stacks 16 --beads \\
        --patches 4000 --minutes 30 --out /tmp/stage2 --real ../shared/data/spots.tif \\
        ../shared/data/golgi_airyscan.tif ../shared/data/dna_confocal_widefield.tif:0 \\
        --steps 2000 3000 0 3000                                            # stage 2
    python weights/train_generalist.py --init weights --seed-base 6000 --stacks 16 --beads \\
        --patches 4000 --minutes 0 --out /tmp/stage3 --real ...(as stage 2) \\
        --steps 0 0 750 500                                                 # stage 3

The model is trained the unpaired way, exactly as `python -m isonb train` does on a user's
stacks: from each stack only its observed xy and resliced xz/yz planes are used, never a
ground truth. Simulated stacks span BENCHMARK.md's ranges (`isonb.data.generalist_configs`);
real stacks (`--real FILE[:CHANNEL]`) need none. A later stage starts from an earlier
stage's weights (`--init`), and its card keeps the earlier card's steps, time and hardware.
Stages 1 and 2 were trained before retargeting existed (retarget steps 0); stage 3 keeps
stage 2's autoencoder and data and retargets its regressor (train.py, stage 2b) for 750
steps: longer (`--steps 0 500 2500 1500`, tried) restores the suite no better and rings at
the edges of a bright box beyond tests/test_restore.py's bound (docs/RESULTS.md).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from isonb.data import GENERALIST_STRUCTURES, generalist_configs
from isonb.io import read_stack
from isonb.simulate import save_case, simulate
from isonb.train import TrainConfig, train

HERE = Path(__file__).resolve().parent


def real_stack(spec: str):
    """A real stack from FILE or FILE:CHANNEL (unpaired training data: no ground truth)."""
    path, _, channel = spec.rpartition(":")
    if not channel.isdigit():  # no channel given (a colon of the path itself is kept)
        path, channel = spec, ""
    return read_stack(path, channel=int(channel) if channel else None)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stacks", type=int, default=12, help="simulated training stacks")
    ap.add_argument("--seed-base", type=int, default=5000,
                    help="seed of the simulated stacks' draw (stage 1: 5000)")
    ap.add_argument("--beads", action="store_true",
                    help="simulate sub-resolution bead stacks too, and every structure in "
                         "turn (stage 2 on)")
    ap.add_argument("--real", nargs="*", default=[], metavar="FILE[:CHANNEL]",
                    help="real stacks to train on as well")
    ap.add_argument("--minutes", type=float, default=20.0, help="training time budget")
    ap.add_argument("--patches", type=int, default=3000, help="xy patches in the pool")
    ap.add_argument("--init", default="", help="weights folder to continue from")
    ap.add_argument("--steps", type=int, nargs=4, metavar=("AE", "REG", "RETARGET", "DIFF"),
                    help="steps of the autoencoder, regressor, retargeting and diffusion "
                         "(default: TrainConfig's)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=HERE)
    a = ap.parse_args()
    structures = GENERALIST_STRUCTURES + (("beads",) if a.beads else ())
    stacks = [real_stack(spec) for spec in a.real]
    with tempfile.TemporaryDirectory() as tmp:
        for i, cfg in enumerate(generalist_configs(a.stacks, a.seed_base, structures=structures,
                                                   balanced=a.beads)):
            folder = save_case(simulate(cfg), Path(tmp) / f"stack_{i:02d}")
            stacks.append(read_stack(folder / "observed.tif"))  # observed only: unpaired
            stacks[-1].path = Path(f"simulated/{cfg.structure}-{cfg.psf}-z{cfg.z_step}"
                                   f"-snr{cfg.snr:.0f}-seed{cfg.seed}.tif")
        steps = dict(zip(("autoencoder_steps", "regressor_steps", "retarget_steps",
                          "diffusion_steps"), a.steps)) if a.steps else {}
        cfg = TrainConfig(seed=a.seed, minutes=a.minutes, n_patches=a.patches, init=a.init,
                          **steps)
        train(stacks, a.out, cfg, overwrite=True)


if __name__ == "__main__":
    main()
