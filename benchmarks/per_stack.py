"""One model per stack, or one model for several: what notebook 02's PER_STACK decides.

    python benchmarks/per_stack.py     # writes results/per_stack.md (about 30 minutes here)

Three public cases of different structures, PSFs and z steps are restored by the LDM
fine-tuned from the shipped weights with `train --quick`, seed 0: either trained on the
case's own observed stack (run.py's `ldm-quick` weights, reused from benchmarks/cache where
present, trained uncapped otherwise), or once on the three stacks together, as the notebooks
trained one model for a whole folder before PER_STACK. Both get the quick preset's steps, so
the joint model sees each stack a third as often in the same time; restored with
`--diffusion on`, as run.py's rows are. A folder of similar stacks (the embedded default's
three) is a different question: there the joint model did as well (docs/RESULTS.md).
"""

from __future__ import annotations

import numpy as np
from run import HERE, case_dir, hardware, rows_table, run_cli, write_result

from isonb import metrics
from isonb.benchmark import CASES, describe
from isonb.io import read_stack

CASE_NAMES = ("membranes-confocal1.0-z2-snr10", "puncta-confocal0.9-z3-snr6",
              "mixed-gauss9-z2-snr8")
KEYS = ("ssim", "psnr", "mse", "coc")


def trained(stacks: list[str], out) -> float:
    """Train the quick LDM on `stacks` into `out` unless it is there; its training seconds."""
    if (out / "model.json").exists():
        return float("nan")
    seconds, _ = run_cli(["train", *stacks, "--out", str(out), "--quick", "--seed", "0",
                          "--overwrite"])
    return seconds


def main() -> None:
    cache = HERE / "cache"
    folders = [case_dir(name, cache) for name in CASE_NAMES]
    joint = cache / "per_stack-joint"
    print("training one model on the three stacks", flush=True)
    joint_seconds = trained([str(f / "observed.tif") for f in folders], joint)
    rows = []
    for name, folder in zip(CASE_NAMES, folders):
        own_seconds = trained([str(folder / "observed.tif")], folder / "ldm-quick")
        gt = read_stack(folder / "gt.tif").data
        for label, weights, seconds in (("its own stack", folder / "ldm-quick", own_seconds),
                                        ("the three stacks", joint, joint_seconds)):
            out = folder / f"restored_per_stack-{weights.name}.tif"
            run_cli(["restore", str(folder / "observed.tif"), str(out), "--overwrite",
                     "--method", "ldm", "--weights", str(weights), "--diffusion", "on"])
            scores = metrics.evaluate(read_stack(out).data, gt)
            rows.append({"case": name, "trained on": label, "train (s)": seconds, **scores})
            print(f"{name}, trained on {label}: {scores['ssim']:.4f} / {scores['psnr']:.2f} dB",
                  flush=True)
    means = [{"case": "mean of 3", "trained on": label, "train (s)": float("nan"),
              **{k: float(np.mean([r[k] for r in rows if r["trained on"] == label]))
                 for k in KEYS}}
             for label in ("its own stack", "the three stacks")]
    columns = [("case", "case", "s"), ("trained on", "trained on", "s"),
               ("SSIM", "ssim", ".4f"), ("PSNR", "psnr", ".2f"), ("MSE", "mse", ".5f"),
               ("CoC", "coc", ".4f"), ("training (s)", "train (s)", ".0f")]
    write_result("per_stack.md", [
        "# One model per stack, or one for three", "",
        "Made by `python benchmarks/per_stack.py` (see its docstring): the LDM fine-tuned "
        "from the shipped weights with `train --quick`, seed 0, on each case's own stack or "
        "once on the three together; metrics as `../shared/BENCHMARK.md` fixes them; "
        "training time `nan` where the weights were already in the cache. "
        f"Hardware: {hardware()}.", "",
        *[f"- `{n}`: {describe(CASES[n])}" for n in CASE_NAMES], "",
        *rows_table(means + rows, columns)])


if __name__ == "__main__":
    main()
