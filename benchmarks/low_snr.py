"""isonb at the lowest SNR the dataset's authors simulate: the public cases at SNR 1.

    python benchmarks/low_snr.py                        # writes results/low_snr.md
    python benchmarks/low_snr.py --methods ldm-quick    # recompute these rows, keep the others

The liver dataset's conventional simulations come at SNR 1, 5 and 15 (its naming
convention: `SNR_1`, `SNR_5`, `SNR_15`); the public suite spans BENCHMARK.md's 5 to 20. Here
the suite's four cases of the dataset's structures (nuclei, membranes, sinusoids, bile
canaliculi) are simulated again with everything the same (structure, PSF, z step, seed)
but an SNR of 1: mean foreground signal / noise std = 1, which the simulator reaches with
about 2 photons per foreground voxel and camera read noise, clipped at 0. Each method runs
as `benchmarks/run.py` runs it (same rows, same budgets: every trained method gets the
per-stack LDM's training time, its own `isonb` process). Rows go to results/low_snr.json;
`--methods` recomputes only those rows and keeps the others.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from isonb import metrics
from isonb.benchmark import CASES as PUBLIC
from isonb.benchmark import describe
from isonb.io import read_stack

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from run import (  # noqa: E402
    METHODS,
    case_dir,
    hardware,
    mean_rows,
    merged_rows,
    rows_table,
    run_cli,
    write_result,
)

SNR = 1.0
STRUCTURES = ("nuclei", "membranes", "sinusoids", "canaliculi")  # the dataset's four
CASES = {name.rsplit("-snr", 1)[0] + f"-snr{SNR:g}": dataclasses.replace(cfg, snr=SNR)
         for name, cfg in PUBLIC.items() if cfg.structure in STRUCTURES}
ORDER = ["cubic", "ldm-shipped", "ldm-quick", "care", "selfnet"]  # ldm-quick sets the budget


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    ap.add_argument("--methods", nargs="+", default=ORDER, choices=ORDER)
    ap.add_argument("--cache", type=Path, default=HERE / "cache" / "low-snr")
    a = ap.parse_args()
    saved = HERE / "results" / "low_snr.json"
    earlier = json.loads(saved.read_text())["rows"] if saved.exists() else []
    rows, hw = [], hardware()
    for name in a.cases:
        folder = case_dir(name, a.cache, CASES)
        gt = read_stack(folder / "gt.tif").data
        for method in [m for m in ORDER if m in a.methods]:
            label, restore_args, train_args = METHODS[method]
            train_s = run_cli(train_args(folder))[0] if train_args else 0.0
            out = folder / f"restored_{method}.tif"
            seconds, peak = run_cli(["restore", str(folder / "observed.tif"), str(out),
                                     "--overwrite", *restore_args(folder)])
            scores = metrics.evaluate(read_stack(out).data, gt)
            rows.append({"case": name, "method": method, "label": label, "seconds": seconds,
                         "peak_mib": peak, "train_seconds": train_s, "hardware": hw, **scores})
            print(f"{name:34s} {method:12s} SSIM {scores['ssim']:.4f} PSNR "
                  f"{scores['psnr']:.2f} train {train_s:.0f} s", flush=True)
    rows = merged_rows(rows, earlier, list(CASES), ORDER)
    command = " ".join(["python benchmarks/low_snr.py", *sys.argv[1:]])
    saved.write_text(json.dumps({"command": command, "rows": rows}, indent=2))
    columns = [("method", "label", "s"), ("SSIM", "ssim", ".4f"), ("PSNR", "psnr", ".2f"),
               ("MSE", "mse", ".5f"), ("CoC", "coc", ".4f"), ("xy-SSIM", "ssim_xy", ".4f"),
               ("restore (s)", "seconds", ".1f"), ("training (s)", "train_seconds", ".0f")]
    means = mean_rows(rows, [k for _, k, _ in columns[1:]])
    cases = list(dict.fromkeys(r["case"] for r in rows))
    lines = ["# isonb at SNR 1", "",
             "Made by `python benchmarks/low_snr.py` (see its docstring): the public suite's "
             "cases of the liver dataset's four structures, simulated again at SNR 1; metrics "
             "as `../shared/BENCHMARK.md` fixes them. Every trained method gets the per-stack "
             "LDM's training time. Hardware: "
             f"{'; '.join(sorted({r['hardware'] for r in rows}))}. Last command: `{command}`.",
             "", "Cases:", ""]
    lines += [f"- `{n}`: {describe(CASES[n])}" for n in cases]
    lines += ["", f"## Mean over the {len(cases)} cases", "",
              *rows_table(means, [columns[0], ("cases", "n", "d"), *columns[1:]])]
    lines += ["", "## Per case", "", *rows_table(rows, [("case", "case", "s"), *columns])]
    write_result("low_snr.md", lines)


if __name__ == "__main__":
    main()
