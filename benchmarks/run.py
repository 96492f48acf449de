"""Run isonb's methods over the public benchmark suite and write the results table.

    python benchmarks/run.py                      # every method, every case
    python benchmarks/run.py --methods cubic rl   # only these rows are recomputed
    python benchmarks/run.py --methods ldm-quick --restore-only   # reuse the trained weights

Each restoration runs as its own `isonb restore` process, so its wall time and peak
memory (the child's maximum resident set, VmHWM) are measured alone. Cases are simulated once
into benchmarks/cache/ (not committed); results go to benchmarks/results/<method>.json and
the table benchmarks/results/README.md is rebuilt from every result file present.
Every trained method gets the same training time on a case (`budget`), and the shipped
weights' scores are written into their card, weights/model.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from isonb import metrics
from isonb.benchmark import CASES, describe
from isonb.io import read_stack
from isonb.simulate import save_case, simulate

HERE = Path(__file__).resolve().parent


def reference_budget(folder: Path) -> str | None:
    """Training minutes the references were given on this case, if they have been trained."""
    for name in ("care", "care-truepsf", "selfnet"):
        card = folder / name / "model.json"
        if card.exists():
            return f"{json.loads(card.read_text())['train_config']['minutes']:.2f}"
    return None


def budget(folder: Path) -> str:
    """Training minutes every trained method gets on this case.

    The references' cards keep the budget they were given; on a fresh cache there are none
    yet, the LDM trains uncapped first and its training time becomes the budget.
    """
    card = folder / "ldm-quick" / "model.json"
    return reference_budget(folder) or (
        f"{json.loads(card.read_text())['train_minutes'] if card.exists() else 5.0:.2f}")


def true_fwhm(folder: Path) -> list[str]:
    stats = json.loads((folder / "meta.json").read_text())["stats"]
    return [f"{stats['psf_fwhm_lateral_um']:.4f}", f"{stats['psf_fwhm_axial_um']:.4f}"]


def reference(method: str, out: str, extra: list[str] | None = None):
    """Training arguments of a reference method with the case's budget."""
    return lambda d: ["train", str(d / "observed.tif"), "--method", method, "--out",
                      str(d / out), "--overwrite", "--seed", "0", "--minutes", budget(d),
                      *(extra(d) if extra else [])]



def per_stack_ldm(out: str, *extra: str, same_budget: bool = False):
    """(restore, training) arguments of an LDM trained on the case by `train --quick EXTRA`,
    capped at the references' budget once they have one (`same_budget`: always, budget())."""
    def minutes(d: Path) -> list[str]:
        m = budget(d) if same_budget else reference_budget(d)
        return ["--minutes", m] if m else []

    return (lambda d: ["--method", "ldm", "--weights", str(d / out), "--diffusion", "on"],
            lambda d: ["train", str(d / "observed.tif"), "--out", str(d / out), "--quick",
                       *extra, "--overwrite", "--seed", "0", *minutes(d)])

# rows restored with another row's trained weights: their training time is that row's
REUSES = {"ldm-quick-truefwhm": "ldm-quick"}

# method -> (table label, restore arguments, training arguments or None), given the case folder
METHODS = {
    "linear": ("linear interpolation", lambda d: ["--method", "linear"], None),
    "cubic": ("input (cubic)", lambda d: ["--method", "cubic"], None),
    "rl": ("Richardson-Lucy (true PSF, 20 it.)",
           lambda d: ["--method", "rl", "--psf", str(d / "psf.tif")], None),
    "ldm-quick": ("ours (LDM, per-stack quick, fine-tuned from the shipped model)",
                  *per_stack_ldm("ldm-quick")),
    "ldm-quick-truefwhm": ("ours (LDM, ldm-quick's weights, true lateral FWHM given: "
                           "--lateral-fwhm)",
                           lambda d: [*per_stack_ldm("ldm-quick")[0](d), "--lateral-fwhm",
                                      true_fwhm(d)[0]], None),
    "ldm-quick-scratch": ("ours (LDM, per-stack quick, from random weights)",
                          *per_stack_ldm("ldm-quick-scratch", "--from-scratch")),
    "ldm-learned-quick": ("ours (LDM, learned degradation, per-stack quick from random weights, "
                          "same budget)",
                          *per_stack_ldm("ldm-learned-quick", "--degradation", "learned",
                                         "--from-scratch", same_budget=True)),
    "ldm-shipped": ("ours (LDM, shipped weights)",
                    lambda d: ["--method", "ldm", "--weights", str(HERE.parent / "weights")],
                    None),
    "care": ("CARE-iso (estimated PSF, same budget)",
             lambda d: ["--method", "care", "--weights", str(d / "care")],
             reference("care", "care")),
    "care-truepsf": ("CARE-iso (true PSF FWHM, same budget)",
                     lambda d: ["--method", "care", "--weights", str(d / "care-truepsf")],
                     reference("care", "care-truepsf", lambda d: ["--psf-fwhm", *true_fwhm(d)])),
    "selfnet": ("Self-Net (same budget)",
                lambda d: ["--method", "selfnet", "--weights", str(d / "selfnet")],
                reference("selfnet", "selfnet")),
}
# The per-stack rows were measured with the diffusion sampled on every slice (--diffusion on),
# as before "auto" became the command line's default; the shipped weights' row restores with
# the default (their refine weight is 0.00, so "auto" skips sampling with the same output).
KEYS = ("ssim", "psnr", "mse", "coc", "ssim_xy")


def hardware() -> str:
    try:
        import torch

        gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    except ImportError:
        gpu = "no torch"
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, {gpu}"


def case_dir(name: str, cache: Path, cases: dict | None = None) -> Path:
    """The case's folder in `cache`, simulated there first if it is not (`cases`: the
    suite's by default)."""
    cfg = (cases or CASES)[name]
    folder = cache / name
    if not (folder / "meta.json").exists():
        print(f"simulating {name}: {describe(cfg)}", flush=True)
        save_case(simulate(cfg), folder, overwrite=True)
    return folder


# Runs the CLI and reports the child's own peak resident memory (VmHWM): a plain wait4()
# would report the parent's size, which Linux carries into the child across fork and exec.
_CHILD = ("import sys, isonb.cli as cli; rc = cli.main(sys.argv[1:]); "
          "hwm = open('/proc/self/status').read().split('VmHWM:')[1].split()[0]; "
          "print('VmHWM_KB', hwm, file=sys.stderr); sys.exit(rc)")


def run_cli(args: list[str]) -> tuple[float, float]:
    """Run `isonb ARGS` in a child process; returns (wall seconds, peak resident MiB)."""
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _CHILD, *args], stderr=subprocess.PIPE,
                          text=True)
    seconds = time.perf_counter() - t
    if proc.returncode != 0:
        raise RuntimeError(f"isonb {' '.join(args)} failed:\n{proc.stderr}")
    peak_kb = float(proc.stderr.split("VmHWM_KB")[1].split()[0])
    return seconds, peak_kb / 1024.0


def write_result(name: str, lines: list[str]) -> Path:
    """Write a script's table into benchmarks/results/`name`, and say where."""
    path = HERE / "results" / name
    path.write_text("\n".join(lines) + "\n")
    print(f"-> {path}")
    return path


def rows_table(rows: list[dict], columns: list[tuple[str, str, str]]) -> list[str]:
    """A markdown table, one line per row: `columns` are (heading, key, format spec)."""
    lines = ["| " + " | ".join(h for h, _, _ in columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(format(r[k], f) for _, k, f in columns) + " |" for r in rows]
    return lines


def merged_rows(rows: list[dict], earlier: list[dict], cases: list[str], order: list[str]
                ) -> list[dict]:
    """This run's rows and the earlier ones of (case, method) pairs not run again, sorted
    by case, then method."""
    done = {(r["case"], r["method"]) for r in rows}
    rows = rows + [r for r in earlier if (r["case"], r["method"]) not in done]
    return sorted(rows, key=lambda r: (cases.index(r["case"]), order.index(r["method"])))


def mean_rows(rows: list[dict], keys: list[str]) -> list[dict]:
    """One row per label, in order of appearance: the mean of `keys` over its rows (a key a
    row lacks counts 0: untrained methods' rows carry no training time) and their number (n)."""
    means = []
    for label in dict.fromkeys(r["label"] for r in rows):
        sel = [r for r in rows if r["label"] == label]
        means.append({"label": label, "n": len(sel),
                      **{k: sum(r.get(k, 0.0) for r in sel) / len(sel) for k in keys}})
    return means


def write_table(results_dir: Path) -> Path:
    rows = []
    for f in (results_dir / f"{m}.json" for m in METHODS):  # not other scripts' json
        if f.exists():
            rows.extend(json.loads(f.read_text())["rows"])
    order = list(METHODS)
    rows.sort(key=lambda r: (list(CASES).index(r["case"]) if r["case"] in CASES else 99,
                             order.index(r["method"]) if r["method"] in order else 99))
    hw = sorted({r["hardware"] for r in rows})
    lines = ["# Benchmark results", "",
             "Made by `python benchmarks/run.py` (see its docstring); metrics as "
             "`../shared/BENCHMARK.md` fixes them. Time and memory are those of the whole "
             "`isonb restore` process (start-up and file I/O included); training time is that "
             "of `isonb train` on the case's own observed stack (per-stack rows only).", "",
             f"Hardware: {'; '.join(hw)}.", "", "## Cases", ""]
    lines += [f"- `{n}`: {describe(c)}" for n, c in CASES.items()]
    columns = [("method", "label", "s"), ("cases", "n", "d"), ("SSIM", "ssim", ".4f"),
               ("PSNR", "psnr", ".2f"), ("MSE", "mse", ".5f"), ("CoC", "coc", ".4f"),
               ("xy-SSIM", "ssim_xy", ".4f"), ("restore (s)", "seconds", ".1f"),
               ("peak mem (MiB)", "peak_mib", ".0f"), ("training (s)", "train_seconds", ".0f")]
    lines += ["", "## Mean over cases", "",
              *rows_table(mean_rows(rows, [k for _, k, _ in columns[2:]]), columns)]
    lines += ["", "## Per case", "",
              "| case | method | SSIM | PSNR | MSE | CoC | xy-SSIM | restore (s) | "
              "peak mem (MiB) | training (s) |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['case']} | {r['label']} | {r['ssim']:.4f} | {r['psnr']:.2f} | "
                     f"{r['mse']:.5f} | {r['coc']:.4f} | {r['ssim_xy']:.4f} | "
                     f"{r['seconds']:.1f} | {r['peak_mib']:.0f} | "
                     f"{r.get('train_seconds', 0.0):.0f} |")
    path = results_dir / "README.md"
    path.write_text("\n".join(lines) + "\n")
    _update_readme(lines[lines.index("## Mean over cases") + 2: lines.index("## Per case") - 1])
    return path


def _update_readme(table: list[str]) -> None:
    """Put the mean table into the project README, between its benchmark markers."""
    readme = HERE.parent / "README.md"
    text = readme.read_text()
    start, end = "<!-- benchmark:start -->", "<!-- benchmark:end -->"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        readme.write_text(head + start + "\n" + "\n".join(table) + "\n" + end
                          + rest.split(end, 1)[1])


def record_in_card(card_path: Path, rows: list[dict], command: str) -> None:
    """Write the shipped weights' benchmark scores into their model card (weights unchanged)."""
    card = json.loads(card_path.read_text())
    card["benchmark"] = {
        "command": command, "protocol": "../shared/BENCHMARK.md",
        "mean": {k: sum(r[k] for r in rows) / len(rows) for k in KEYS},
        "cases": {r["case"]: {k: r[k] for k in KEYS} for r in rows}}
    card_path.write_text(json.dumps(card, indent=2))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    ap.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    ap.add_argument("--cache", type=Path, default=HERE / "cache")
    ap.add_argument("--results", type=Path, default=HERE / "results")
    ap.add_argument("--restore-only", action="store_true",
                    help="reuse the weights trained in the cache by the last full run (and its "
                         "training times): for a change to restoration alone")
    a = ap.parse_args()
    a.results.mkdir(parents=True, exist_ok=True)
    hw = hardware()
    for method in a.methods:
        rows = []
        path = a.results / f"{method}.json"
        earlier = json.loads(path.read_text()) if path.exists() else {"rows": []}
        before = {r["case"]: r for r in earlier["rows"]}
        for name in a.cases:
            folder = case_dir(name, a.cache)
            out = folder / f"restored_{method}.tif"
            _, restore_args, train_args = METHODS[method]
            if train_args and a.restore_only:
                if name not in before:
                    raise SystemExit(f"{method} on {name}: no earlier run to reuse; Fix: "
                                     "run without --restore-only")
                train_s, train_mib = before[name]["train_seconds"], before[name]["train_peak_mib"]
            elif method in REUSES:
                trained = json.loads((a.results / f"{REUSES[method]}.json").read_text())
                row = next(r for r in trained["rows"] if r["case"] == name)
                train_s, train_mib = row["train_seconds"], row["train_peak_mib"]
            else:
                train_s, train_mib = run_cli(train_args(folder)) if train_args else (0.0, 0.0)
            seconds, peak = run_cli(["restore", str(folder / "observed.tif"), str(out),
                                     "--overwrite", *restore_args(folder)])
            scores = metrics.evaluate(read_stack(out).data, read_stack(folder / "gt.tif").data)
            rows.append({"case": name, "method": method, "label": METHODS[method][0],
                         "seconds": seconds, "peak_mib": peak, "train_seconds": train_s,
                         "train_peak_mib": train_mib, "hardware": hw, **scores})
            print(f"{name:34s} {method:8s} SSIM {scores['ssim']:.4f} PSNR {scores['psnr']:.2f} "
                  f"{seconds:.1f} s {peak:.0f} MiB", flush=True)
        done = {r["case"] for r in rows}  # keep the rows of cases not rerun this time
        rows += [r for c, r in before.items() if c not in done]
        command = "python benchmarks/run.py " + " ".join(sys.argv[1:])
        note = {"note": earlier["note"]} if "note" in earlier else {}  # kept with its rows
        path.write_text(json.dumps({"command": command.strip(), "rows": rows, **note}, indent=2))
        if method == "ldm-shipped" and len(rows) == len(CASES):
            record_in_card(HERE.parent / "weights" / "model.json", rows, command.strip())
    print(f"table: {write_table(a.results)}")


if __name__ == "__main__":
    main()
