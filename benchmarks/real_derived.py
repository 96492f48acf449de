"""isonb on volumes derived from real microscopy: a real stack is the ground truth.

    python benchmarks/real_derived.py     # writes results/real_derived.md, docs/real/derived-*.png

BENCHMARK.md's held-out set holds "volumes derived from real microscopy", where the
simulated suite's structures are idealised. Here the nearly isotropically sampled real
stacks of ../shared/data (dz within 11 % of dx) are taken as the ground truth on an
isotropic grid of spacing dx, and degraded along z as the simulator degrades its cases:
blurred by an extra axial Gaussian (none for a thinned case), read every `z_step` planes,
given Poisson + Gaussian noise at an SNR (none: the stack's own noise only). The real
stacks carry their own axial blur, so their xz views are softer than their xy planes: a
restoration that makes xz as sharp as xy goes beyond this ground truth, as it may on the
held-out set. Each method runs as `benchmarks/run.py` runs it (same rows, same budgets, its
own `isonb` process), except that Self-Net trains on 32 or 16 px patches where the
isotropic volume is thinner than its 64 px default; Richardson-Lucy and CARE-iso with the
true PSF need a PSF that these cases do not have. Rows go to results/real_derived.json;
`--methods` recomputes only those rows and keeps the others; `--reuse` restores with the
weights already in the cache (the training time then read from their card). The shipped
weights' stage 2 trained on the DNA stack's confocal channel and on the Golgi stack (their
own planes, unpaired, undegraded), so their rows there are not held out; the widefield
channel was not seen. Without ../shared/data the script stops.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from scipy.ndimage import gaussian_filter1d

from isonb import metrics
from isonb.io import read_stack, write_stack
from isonb.psf import FWHM_PER_SIGMA
from isonb.simulate import add_noise, bright
from isonb.viewer import save_comparison

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "data"
sys.path.insert(0, str(HERE))
from run import METHODS, hardware, mean_rows, merged_rows, rows_table, run_cli, write_result  # noqa: E402

# name -> (file, channel, z_step, extra axial FWHM in px (0: none), SNR (None: none added))
CASES = {
    "dna-confocal-z3": ("dna_confocal_widefield.tif", 0, 3, 0.0, None),
    "dna-confocal-axial3-z2-snr10": ("dna_confocal_widefield.tif", 0, 2, 3.0, 10.0),
    "dna-widefield-z2": ("dna_confocal_widefield.tif", 1, 2, 0.0, None),
    "golgi-axial3-z2-snr10": ("golgi_airyscan.tif", None, 2, 3.0, 10.0),
}
ORDER = ["cubic", "ldm-shipped", "ldm-quick", "care", "selfnet"]  # ldm-quick sets the budget
SHORT = {"cubic": "cubic", "ldm-shipped": "isonb, shipped", "ldm-quick": "isonb, per-stack",
         "care": "CARE-iso", "selfnet": "Self-Net"}  # the pictures' titles


def selfnet_patch(depth: int) -> list[str]:
    """Self-Net's patch option: its axial patches must fit the isotropic volume's depth."""
    return next((["--patch", str(p)] for p in (32, 16) if p <= depth), []) if depth < 64 else []


def derive(real: np.ndarray, z_step: int, axial_fwhm: float, snr: float | None, seed: int = 0
           ) -> tuple[np.ndarray, np.ndarray, dict]:
    """(observed, ground truth, noise stats) from a real (z, y, x) stack taken as isotropic:
    blurred along z by a Gaussian of FWHM `axial_fwhm` px (mirrored ends), every `z_step`-th
    plane, noise at `snr` as `simulate.add_noise` gives it (the ground truth then in its
    photon units); the ground truth is the real stack on the planes the observed one spans."""
    n_obs = (len(real) - 1) // z_step + 1
    gt = real[: (n_obs - 1) * z_step + 1].astype(np.float32)
    blurred = gaussian_filter1d(gt, axial_fwhm / FWHM_PER_SIGMA, axis=0, mode="reflect") \
        if axial_fwhm > 0 else gt
    clean = blurred[::z_step]
    if snr is None:
        return clean, gt, {}
    observed, stats = add_noise(clean, bright(gt[::z_step]), snr, np.random.default_rng(seed))
    return observed, gt * np.float32(stats["gain"]), stats


def case_folder(name: str, cache: Path) -> Path:
    """The case's folder (observed.tif, gt.tif, meta.json), derived once."""
    folder = cache / name
    if (folder / "meta.json").exists():
        return folder
    file, channel, z_step, fwhm, snr = CASES[name]
    real = read_stack(DATA / file, channel=channel)
    dx = real.voxel_size[2]
    observed, gt, stats = derive(real.data, z_step, fwhm, snr)
    write_stack(folder / "observed.tif", observed, (z_step * dx, dx, dx), overwrite=True)
    write_stack(folder / "gt.tif", gt, (dx, dx, dx), overwrite=True)
    meta = {"source": file, "channel": channel, "source_voxel_size_um": real.voxel_size,
            "z_step": z_step, "axial_fwhm_px": fwhm, "snr": snr, "stats": stats,
            "observed_shape": observed.shape, "gt_shape": gt.shape}
    (folder / "meta.json").write_text(json.dumps(meta, indent=2))
    return folder


def describe(name: str) -> str:
    """One line with the case's source, blur, z step and noise."""
    file, channel, z_step, fwhm, snr = CASES[name]
    src = file + (f" channel {channel}" if channel is not None else "")
    blur = f"extra axial Gaussian FWHM {fwhm:g} px" if fwhm else "no extra blur"
    noise = f"SNR {snr:g} added" if snr else "its own noise only"
    return f"{src}, {blur}, z_step {z_step}, {noise}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    ap.add_argument("--methods", nargs="+", default=ORDER, choices=ORDER)
    ap.add_argument("--reuse", action="store_true", help="keep the weights trained earlier")
    ap.add_argument("--cache", type=Path, default=HERE / "cache" / "real-derived")
    a = ap.parse_args()
    if not DATA.exists():
        raise SystemExit(f"{DATA}: not found; Fix: put the real stacks there (its README)")
    saved = HERE / "results" / "real_derived.json"
    earlier = json.loads(saved.read_text())["rows"] if saved.exists() else []
    rows, hw = [], hardware()
    for name in a.cases:
        folder = case_folder(name, a.cache)
        gt = read_stack(folder / "gt.tif").data
        pictures = {"ground truth": gt}
        for method in [m for m in ORDER if m in a.methods]:
            label, restore_args, train_args = METHODS[method]
            extra = selfnet_patch(len(gt)) if method == "selfnet" else []
            card = folder / method / "model.json"
            if train_args and a.reuse and card.exists():
                train_s = 60 * json.loads(card.read_text())["train_minutes"]
            else:
                train_s = run_cli(train_args(folder) + extra)[0] if train_args else 0.0
            out = folder / f"restored_{method}.tif"
            seconds, peak = run_cli(["restore", str(folder / "observed.tif"), str(out),
                                     "--overwrite", *restore_args(folder)])
            pictures[SHORT[method]] = read_stack(out).data
            scores = metrics.evaluate(pictures[SHORT[method]], gt)
            rows.append({"case": name, "method": method, "label": label, "seconds": seconds,
                         "peak_mib": peak, "train_seconds": train_s, "hardware": hw, **scores})
            print(f"{name:30s} {method:12s} SSIM {scores['ssim']:.4f} PSNR "
                  f"{scores['psnr']:.2f} train {train_s:.0f} s", flush=True)
        for method in ORDER:  # the picture keeps the rows not recomputed, from the cache
            if SHORT[method] not in pictures and (folder / f"restored_{method}.tif").exists():
                pictures[SHORT[method]] = read_stack(folder / f"restored_{method}.tif").data
        picture = HERE.parent / "docs" / "real" / f"derived-{name}.png"
        missing = [m for m in ORDER if SHORT[m] not in pictures]
        if missing:  # a picture without some methods would replace a whole one
            print(f"{picture.name}: kept, no restoration by {', '.join(missing)} in {folder}")
        else:
            save_comparison({k: pictures[k] for k in ["ground truth", *(SHORT[m] for m in ORDER)]},
                            picture)
    rows = merged_rows(rows, earlier, list(CASES), ORDER)
    command = " ".join(["python benchmarks/real_derived.py", *sys.argv[1:]])
    saved.write_text(json.dumps({"command": command, "rows": rows}, indent=2))
    columns = [("method", "label", "s"), ("SSIM", "ssim", ".4f"), ("PSNR", "psnr", ".2f"),
               ("MSE", "mse", ".5f"), ("CoC", "coc", ".4f"), ("restore (s)", "seconds", ".1f"),
               ("training (s)", "train_seconds", ".0f")]
    means = mean_rows(rows, [k for _, k, _ in columns[1:]])
    lines = ["# isonb on volumes derived from real microscopy", "",
             "Made by `python benchmarks/real_derived.py` (see its docstring): real stacks of "
             "`../shared/data` as the ground truth, degraded along z; metrics as "
             "`../shared/BENCHMARK.md` fixes them. Every trained method gets the per-stack "
             "LDM's training time. Hardware: "
             f"{'; '.join(sorted({r['hardware'] for r in rows}))}. Last command: `{command}`.",
             "", "Cases:", ""]
    cases = list(dict.fromkeys(r["case"] for r in rows))
    lines += [f"- `{n}`: {describe(n)}" for n in cases]
    lines += ["", f"## Mean over the {len(cases)} cases", "", *rows_table(means, columns)]
    lines += ["", "## Per case", "",
              *rows_table(rows, [("case", "case", "s"), *columns])]
    write_result("real_derived.md", lines)


if __name__ == "__main__":
    main()
