"""Train the shipped generalist LDM (weights/ beside this file).

    python weights/train_generalist.py --minutes 20

The model is trained the unpaired way, exactly as `python -m isonb train` does on a user's
stacks: from each simulated stack only its observed xy and resliced xz/yz planes are used,
never its ground truth. The stacks span BENCHMARK.md's ranges (`isonb.data.generalist_configs`).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from isonb.data import generalist_configs
from isonb.io import read_stack
from isonb.simulate import save_case, simulate
from isonb.train import TrainConfig, train

HERE = Path(__file__).resolve().parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--stacks", type=int, default=12, help="simulated training stacks")
    ap.add_argument("--minutes", type=float, default=20.0, help="training time budget")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=HERE)
    a = ap.parse_args()
    stacks = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, cfg in enumerate(generalist_configs(a.stacks)):
            folder = save_case(simulate(cfg), Path(tmp) / f"stack_{i:02d}")
            stacks.append(read_stack(folder / "observed.tif"))  # observed only: unpaired
            stacks[-1].path = Path(f"simulated/{cfg.structure}-{cfg.psf}-z{cfg.z_step}"
                                   f"-snr{cfg.snr:.0f}-seed{cfg.seed}.tif")
        train(stacks, a.out, TrainConfig(seed=a.seed, minutes=a.minutes), overwrite=True)


if __name__ == "__main__":
    main()
