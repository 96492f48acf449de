"""The notebooks' steps on a stack of real size: time and peak memory of each, and the scores.

    python benchmarks/notebooks.py        # writes benchmarks/results/notebooks.md

The stack is large.py's (100 x 1024 x 1024 observed planes, z_step 4: a 1.66 GB isotropic
float32 volume, simulated with ground truth, cached in benchmarks/cache/large). Each step
runs in a process of its own, calling what its notebook cells call, in order: 01's reading,
cubic view and training set (`patches.prepare`, 800 patches); 02's training of the LDM
(`TrainConfig.quick`, fine-tuning the shipped model; REFERENCES empty: CARE-iso and Self-Net
would take as long again each); 03's restoring (`notebook.restore_stacks`, the notebook's
SAMPLES and STEPS, UNCERTAINTY off: with the map a CPU takes hours at this size) with the
shipped LDM (USE_SHIPPED_WEIGHTS, so that 04's scores can be checked against large.py's)
and 03's viewer (`notebook.shown_volumes`, `viewer.view`); 04's scoring, error map, line
profiles and viewer (`notebook.score_restorations`, the ground truth given in the manifest
as the embedded default gives it).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from large import make_case  # noqa: E402
from run import hardware, write_result  # noqa: E402

STEPS = {
    "01 stack, cubic view, training set": "prepare",
    "02 training (LDM, --quick steps, from the shipped model)": "train",
    "03 restore (shipped LDM, no map)": "restore",
    "03 viewer": "view03",
    "04 scores, error map, profiles, viewer": "score04",
}


def prepare(work: Path) -> dict:
    from isonb import patches
    from isonb.baselines import interpolate
    from isonb.notebook import read_stacks
    from isonb.viewer import view

    stacks = read_stacks(json.loads((work / "manifest.json").read_text()))
    view({"observed, cubic along z": interpolate(stacks[0].data, stacks[0].voxel_size)},
         spacing=stacks[0].voxel_size[2], interactive=False)
    patches.save(patches.prepare(stacks, 64, 800, 0), work / "patches", overwrite=True)
    return {}


def train(work: Path) -> dict:
    from isonb.notebook import read_stacks, training_set
    from isonb.train import TrainConfig, train

    stacks = read_stacks(json.loads((work / "manifest.json").read_text()))
    cfg = TrainConfig.quick(seed=0, init="shipped")
    train(training_set(work, stacks, cfg), work / "model", cfg, overwrite=True)
    return {}


def restore(work: Path) -> dict:
    from isonb.checkpoint import shipped_weights
    from isonb.notebook import restore_stacks

    manifest = json.loads((work / "manifest.json").read_text())
    restore_stacks(work, manifest, {"ldm": str(shipped_weights())}, samples=2, steps=4,
                   seed=0, uncertainty=False)
    return {}


def view03(work: Path) -> dict:
    from isonb.notebook import shown_volumes
    from isonb.viewer import view

    manifest = json.loads((work / "manifest.json").read_text())
    restored = json.loads((work / "restored.json").read_text())
    shown, spacing = shown_volumes(manifest, restored, manifest["test"][0])
    view(shown, spacing=spacing, interactive=False)
    return {}


def score04(work: Path) -> dict:
    from isonb.notebook import score_restorations
    from isonb.viewer import error_maps, profile_figure, small_structure_point, view

    manifest = json.loads((work / "manifest.json").read_text())
    rows, results = score_restorations(manifest, json.loads((work / "restored.json").read_text()))
    vols, gt, voxel = next(iter(results.values()))
    error_maps(vols, gt)
    profile_figure({**vols, "ground truth": gt}, small_structure_point(vols["input (cubic)"]),
                   spacing=voxel[2])
    view({**vols, "ground truth": gt}, spacing=voxel[2], interactive=False)
    return {"rows": rows}


def child(step: str, work: Path) -> None:
    """Run one step here and print its wall time, peak resident memory (VmHWM, which counts
    the pages of memory-mapped files it read), peak anonymous memory (RssAnon sampled every
    20 ms: what the process itself holds) and result."""
    import matplotlib

    matplotlib.use("Agg")
    peak, stop = [0], threading.Event()

    def sample() -> None:
        while not stop.wait(0.02):
            peak[0] = max(peak[0], _status_kb("RssAnon"))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    t = time.perf_counter()
    result = globals()[step](work)
    seconds = time.perf_counter() - t
    stop.set()
    sampler.join()
    print("RESULT", json.dumps({"seconds": seconds, "peak_mib": _status_kb("VmHWM") / 1024,
                                "anon_mib": max(peak[0], _status_kb("RssAnon")) / 1024,
                                **result}), flush=True)


def _status_kb(field: str) -> int:
    return int(open("/proc/self/status").read().split(f"{field}:")[1].split()[0])


def manifest(work: Path, case: Path) -> None:
    """The working folder's stack list: the observed stack, with its ground truth."""
    from isonb.notebook import stack_manifest

    data = work / "data"
    data.mkdir(parents=True, exist_ok=True)
    stack = data / "observed.tif"
    if not stack.exists():
        stack.symlink_to((case / "observed.tif").resolve())
    m = stack_manifest(work, str(data), rebuild=True)
    m["ground_truth"] = {str(stack): str((case / "gt.tif").resolve())}
    (work / "manifest.json").write_text(json.dumps(m, indent=2))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--step", choices=list(STEPS.values()), help=argparse.SUPPRESS)
    ap.add_argument("--work", default=str(HERE / "cache" / "notebooks"),
                    help="working folder (default: benchmarks/cache/notebooks)")
    a = ap.parse_args()
    work = Path(a.work)
    if a.step:
        return child(a.step, work)
    case = make_case(HERE / "cache" / "large")
    manifest(work, case)
    rows = []
    for label, step in STEPS.items():
        proc = subprocess.run([sys.executable, __file__, "--step", step, "--work", str(work)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"{label} failed:\n{proc.stderr[-4000:]}")
        result = json.loads(proc.stdout.split("RESULT", 1)[1])
        print(f"{label}: {result['seconds']:.0f} s, peak {result['peak_mib']:.0f} MiB "
              f"(anonymous {result['anon_mib']:.0f} MiB)", flush=True)
        rows.append({"step": label, **result})
    scores = rows[-1]["rows"]
    lines = ["# The notebooks on a stack of real size", "",
             "Made by `python benchmarks/notebooks.py` (see its docstring). large.py's stack: "
             "100 x 1024 x 1024 observed planes, z_step 4; 397 x 1024 x 1024 float32 (1.66 GB) "
             "per isotropic volume. Each step is its own process, imports included: `peak "
             "resident` is VmHWM, which also counts the pages of memory-mapped files read (the "
             "system can drop those and read them again), `peak anonymous` the most memory the "
             "process itself held (RssAnon, sampled every 20 ms). Hardware: "
             f"{hardware()}.", "",
             "| step | time (s) | peak resident (MiB) | peak anonymous (MiB) |",
             "|---|---|---|---|"]
    lines += [f"| {r['step']} | {r['seconds']:.0f} | {r['peak_mib']:.0f} | "
              f"{r['anon_mib']:.0f} |" for r in rows]
    lines += ["", "04's table (scores as BENCHMARK.md fixes them):", "",
              "| method | SSIM | PSNR | MSE | CoC | xy-SSIM | FWHM ratio | decorr. ratio |",
              "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['method']} | {r['ssim']:.4f} | {r['psnr']:.2f} | {r['mse']:.5f} | "
              f"{r['coc']:.4f} | {r['ssim_xy']:.4f} | {r['fwhm_ratio']:.2f} | "
              f"{r['decorrelation_ratio']:.2f} |" for r in scores]
    write_result("notebooks.md", lines)


if __name__ == "__main__":
    main()
