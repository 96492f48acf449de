"""`python -m isonb <verb>`: the same steps as the notebooks, for scripts, clusters and tests."""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import fields
from pathlib import Path

import numpy as np

from . import metrics
from .errors import IsonbError
from .io import Stack, read_channels, read_image, read_stack, write_stack, write_stack_planes


def _add_stack_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--voxel-size", nargs=3, type=float, metavar=("DZ", "DY", "DX"),
                   help="voxel size in µm, z first, overriding the file's metadata")
    p.add_argument("--channel", type=_channel,
                   help="channel to use in a multi-channel stack (restore: also 'all', each "
                        "channel restored in turn into one multi-channel .tif)")
    p.add_argument("--time", type=int, help="time point to use in a time series")
    p.add_argument("--axes", help="axes of a file without metadata, e.g. CZYX or TZYX")
    p.add_argument("--series", type=int, help="series (position) of a multi-position file")


def _channel(value: str) -> int | str:
    if value == "all":
        return value
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is neither a channel number nor "
                                         "'all'") from None


def _read(a: argparse.Namespace, path: str) -> Stack:
    """The stack at `path` with the stack options given on the command line."""
    if a.channel == "all":
        raise IsonbError(f"{path}: --channel all is for restore. Fix: train on one channel "
                         "(--channel K); a model trained on one restores the others")
    return read_stack(path, voxel_size=a.voxel_size, channel=a.channel, time=a.time,
                      axes=a.axes, series=a.series, require_voxel_size=True)


def cmd_simulate(a: argparse.Namespace) -> int:
    from .benchmark import CASES, describe
    from .simulate import SimulationConfig, save_case, simulate

    if a.case:
        if a.case not in CASES:
            raise IsonbError(f"unknown case {a.case!r}; Fix: choose one of {', '.join(CASES)}")
        cfg = CASES[a.case]
    else:
        names = {f.name for f in fields(SimulationConfig)}
        cfg = SimulationConfig(**{k: v for k, v in vars(a).items() if k in names and v is not None})
    t = time.perf_counter()
    case = simulate(cfg)
    save_case(case, a.outdir, overwrite=a.overwrite)
    print(f"simulated {describe(cfg)} in {time.perf_counter() - t:.1f} s")
    print(f"observed {case.observed.shape} voxel {case.voxel_size} µm, ground truth "
          f"{case.gt.shape}, measured SNR {case.stats['snr_measured']:.2f} -> {a.outdir}")
    return 0


def _load_psf(a: argparse.Namespace, dx: float) -> np.ndarray | None:
    from .psf import gaussian_psf

    if a.psf:
        return read_image(a.psf)
    if a.psf_fwhm:
        return gaussian_psf(a.psf_fwhm[0], a.psf_fwhm[1], dx)
    return None


def _check_outputs(a: argparse.Namespace, *paths: str | None) -> None:
    for p in paths:
        if p and Path(p).exists() and not a.overwrite:
            raise IsonbError(f"{p}: exists already. Fix: choose another name or pass --overwrite")


def _load_model(a: argparse.Namespace):
    from .checkpoint import CARD, shipped_weights
    from .restore import load_network

    if a.weights:
        return load_network(a.weights, a.method, a.device)
    if a.method != "ldm" or not (shipped_weights() / CARD).exists():
        raise IsonbError(f"--method {a.method} needs trained weights. Fix: train them "
                         f"(python -m isonb train STACK.tif --method {a.method} --out DIR) and "
                         "pass --weights DIR")
    return load_network(shipped_weights(), "ldm", a.device)


def cmd_restore(a: argparse.Namespace) -> int:
    from .restore import NETWORKS, restore_axial_images

    _check_outputs(a, a.output, a.uncertainty)
    if a.uncertainty and a.method != "ldm":
        raise IsonbError("--uncertainty needs --method ldm (only the diffusion model samples)")
    if a.uncertainty and a.diffusion == "off":
        raise IsonbError("--uncertainty needs the diffusion's samples. Fix: drop --diffusion off")
    if a.axial_slices and a.method not in NETWORKS:
        raise IsonbError(f"--axial-slices needs a trained network. Fix: add --method "
                         f"{' or '.join(NETWORKS)}")
    t = time.perf_counter()
    if a.axial_slices:
        images = read_image(a.input)
        if images.ndim not in (2, 3):
            raise IsonbError(f"{a.input}: expected a 2D axial image or a stack of them, got "
                             f"shape {images.shape}. Fix: save each axial slice as (z, x)")
        result, spread = restore_axial_images(images, _load_model(a), samples=a.samples,
                                              steps=a.steps, seed=a.seed)
        write_stack(a.output, result, None, overwrite=a.overwrite)
        if a.uncertainty:
            write_stack(a.uncertainty, spread, None, overwrite=a.overwrite)
        shape = result.shape
    else:
        shape = _restore_stack(a)
    print(f"{a.method}: {a.input} -> {a.output} {shape} in {time.perf_counter() - t:.1f} s")
    return 0


def _restore_stack(a: argparse.Namespace) -> tuple[int, ...]:
    """Restore the input (with --channel all, every channel in turn) a slab at a time into
    scratch files, then write the output, and the spread, plane by plane."""
    import tempfile

    from .restore import NETWORKS
    from .volume import isotropic_depth

    if a.channel == "all":
        stacks = read_channels(a.input, voxel_size=a.voxel_size, time=a.time, axes=a.axes,
                               series=a.series, require_voxel_size=True)
    else:
        stacks = [_read(a, a.input)]
    dz, _, dx = stacks[0].voxel_size
    nz, ny, nx = stacks[0].data.shape
    n_out = isotropic_depth(nz, dz, dx)
    model = _load_model(a) if a.method in NETWORKS else None
    if model is not None and a.method == "ldm" and a.weights is None:
        _warn_outside_shipped_range(stacks[0])
    shape = (n_out, len(stacks), ny, nx) if len(stacks) > 1 else (n_out, ny, nx)
    with tempfile.TemporaryDirectory(dir=a.scratch) as tmp:
        files = []
        for c, stack in enumerate(stacks):
            if len(stacks) > 1:
                print(f"channel {c} of {len(stacks)}")
            files.append((Path(tmp) / f"{c}.raw", Path(tmp) / f"{c}_spread.raw"))
            with open(files[-1][0], "wb") as volume, open(files[-1][1], "wb") as spread:
                for planes, spread_planes in _slabs(a, stack, model):
                    volume.write(np.ascontiguousarray(planes, np.float32).tobytes())
                    if spread_planes is not None:
                        spread.write(np.ascontiguousarray(spread_planes).tobytes())
        write_stack_planes(a.output, _planes([v for v, _ in files], n_out, (ny, nx)), shape,
                           (dx,) * 3, overwrite=a.overwrite)
        if a.uncertainty:
            write_stack_planes(a.uncertainty, _planes([u for _, u in files], n_out, (ny, nx)),
                               shape, (dx,) * 3, overwrite=a.overwrite)
    return shape


def _slabs(a: argparse.Namespace, stack: Stack, model):
    """(planes, spread planes or None) of the restored stack, in order of z."""
    from .restore import restore, restore_network_slabs

    if model is None:
        yield restore(stack.data, stack.voxel_size, a.method, rl_iterations=a.iterations,
                      psf=_load_psf(a, stack.voxel_size[2])), None
        return
    for _, planes, spread in restore_network_slabs(
            stack.data, stack.voxel_size, model, samples=a.samples, steps=a.steps,
            seed=a.seed, batch=a.batch, tile=a.tile, refocus=not a.no_refocus,
            uncertainty=bool(a.uncertainty), diffusion=a.diffusion, scratch=a.scratch):
        yield planes, spread


def _planes(files: list[Path], depth: int, size: tuple[int, int]):
    """Planes z by z, and at each z channel by channel, read from per-channel raw files."""
    handles = [open(f, "rb") for f in files]
    try:
        for _ in range(depth):
            for h in handles:
                yield np.frombuffer(h.read(size[0] * size[1] * 4), np.float32).reshape(size)
    finally:
        for h in handles:
            h.close()


def _warn_outside_shipped_range(stack: Stack) -> None:
    """A line when the stack's sampling lies outside what the shipped model was trained on."""
    from .checkpoint import read_card, shipped_weights

    sizes = [d["voxel_size_um"] for d in read_card(shipped_weights()).get("training_data", [])]
    if not sizes:
        return
    dz, _, dx = stack.voxel_size
    seen = {"pixel size": ([s[2] for s in sizes], dx, "µm"),
            "dz/dx": ([s[0] / s[2] for s in sizes], dz / dx, "")}
    outside = [f"{name} {value:.3g}{unit} (trained on {min(r):.3g}-{max(r):.3g}{unit})"
               for name, (r, value, unit) in seen.items()
               if not min(r) / 1.5 <= value <= max(r) * 1.5]
    if outside:
        print(f"warning: {stack.path}: {'; '.join(outside)}: outside the shipped model's "
              "training range; per-stack training fits such a stack better (python -m isonb "
              f"train {stack.path} --out my_model --quick)")


def cmd_train(a: argparse.Namespace) -> int:
    from . import quick_mode
    from .baselines import train_reference
    from .train import TrainConfig, train

    stacks = [_read(a, p) for p in a.stacks]
    quick = a.quick or quick_mode()
    kw = {k: v for k, v in dict(seed=a.seed, patch=a.patch, minutes=a.minutes).items()
          if v is not None}
    if a.psf_fwhm and a.method != "care":
        raise IsonbError("--psf-fwhm is for CARE's known-PSF variant. Fix: add --method care")
    if a.degradation and a.method != "ldm":
        raise IsonbError("--degradation is an option of the LDM. Fix: drop it, or use "
                         "--method ldm")
    if a.method == "ldm":
        if a.degradation:
            kw["degradation"] = a.degradation
        train(stacks, a.out, TrainConfig.quick(**kw) if quick else TrainConfig(**kw),
              overwrite=a.overwrite)
    else:
        train_reference(a.method, stacks, a.out, **kw, mode="quick" if quick else "full",
                        true_fwhm=a.psf_fwhm, overwrite=a.overwrite)
    print(f"weights -> {a.out}")
    return 0


def cmd_evaluate(a: argparse.Namespace) -> int:
    pred = read_stack(a.prediction).data
    if a.ground_truth:
        scores = metrics.evaluate(pred, read_stack(a.ground_truth).data)
    else:
        scores = {"fwhm_ratio": metrics.fwhm_ratio(pred),
                  "spectral_ratio": metrics.spectral_ratio(pred)}
    if a.json:
        print(json.dumps(scores, indent=2))
    else:
        for k, v in scores.items():
            print(f"{k:>15s}  {v:.4f}")
    return 0


def cmd_demo(a: argparse.Namespace) -> int:
    from .checkpoint import CARD, shipped_weights
    from .data import default_dataset
    from .restore import load_network, restore, restore_network
    from .viewer import save_comparison

    ds = default_dataset()
    obs = read_stack(ds.test)
    gt = read_stack(ds.test_gt).data
    psf = read_image(ds.test_psf)
    out = Path(a.out)
    _check_outputs(a, *(out / f"restored_{m}.tif" for m in ("cubic", "rl", "ldm")))
    iso = (obs.voxel_size[2],) * 3
    results: dict[str, np.ndarray] = {}
    rows = []
    methods = ["cubic", "rl"] + (["ldm"] if (shipped_weights() / CARD).exists() else [])
    for method in methods:
        t = time.perf_counter()
        if method == "ldm":
            results[method], spread = restore_network(obs.data, obs.voxel_size,
                                                      load_network(shipped_weights(), "ldm"))
            write_stack(out / "uncertainty_ldm.tif", spread, iso, overwrite=True)
        else:
            results[method] = restore(obs.data, obs.voxel_size, method, psf=psf)
        seconds = time.perf_counter() - t
        write_stack(out / f"restored_{method}.tif", results[method], iso, overwrite=True)
        rows.append({"method": method, "seconds": seconds, **metrics.evaluate(results[method], gt)})
    print("rl = Richardson-Lucy with the simulation's true PSF, 20 iterations; "
          "ldm = isonb with the shipped weights" if "ldm" in methods else
          "rl = Richardson-Lucy with the true PSF; no shipped weights in weights/, so no ldm row")
    shown = {**results, "ground truth": gt}
    if "ldm" in methods:
        shown["uncertainty (ldm)"] = spread
    picture = save_comparison(shown, out / "comparison.png")
    (out / "metrics.json").write_text(json.dumps(rows, indent=2))
    print(f"{'method':>8s} {'SSIM':>7s} {'PSNR':>7s} {'MSE':>9s} {'CoC':>7s} {'xy-SSIM':>8s} "
          f"{'time (s)':>9s}")
    for r in rows:
        print(f"{r['method']:>8s} {r['ssim']:7.4f} {r['psnr']:7.2f} {r['mse']:9.6f} "
              f"{r['coc']:7.4f} {r['ssim_xy']:8.4f} {r['seconds']:9.1f}")
    print(f"restored stacks, metrics.json and {picture.name} in {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from .checkpoint import DEVICES
    from .restore import DIFFUSION_HALO, HALO, METHODS, NETWORKS
    from .simulate import PSF_MODELS, STRUCTURES
    from .train import DEGRADATIONS

    parser = argparse.ArgumentParser(prog="isonb", description=__doc__)
    sub = parser.add_subparsers(dest="verb", required=True)

    p = sub.add_parser("simulate", help="simulate a liver-like stack with ground truth")
    p.add_argument("outdir", help="folder for observed.tif, gt.tif, psf.tif, meta.json")
    p.add_argument("--case", help="a named case of the public benchmark (overrides the rest)")
    p.add_argument("--structure", choices=STRUCTURES)
    p.add_argument("--psf", choices=PSF_MODELS)
    p.add_argument("--na", type=float, help="numerical aperture")
    p.add_argument("--n-immersion", type=float, help="refractive index of the immersion")
    p.add_argument("--wavelength-ex", type=float, help="µm")
    p.add_argument("--wavelength-em", type=float, help="µm")
    p.add_argument("--fwhm-lateral", type=float, help="µm, gaussian PSF")
    p.add_argument("--fwhm-axial", type=float, help="µm, gaussian PSF")
    p.add_argument("--z-step", type=int, help="observed plane every N grid planes")
    p.add_argument("--snr", type=float)
    p.add_argument("--seed", type=int)
    p.add_argument("--shape", type=int, nargs=3, metavar=("Z", "Y", "X"),
                   help="ground-truth grid size")
    p.add_argument("--voxel-xy", type=float, help="lateral pixel size in µm")
    p.add_argument("--overwrite", action="store_true", help="replace existing files")
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("train", help="train a network on stacks (unpaired, no ground truth)")
    p.add_argument("stacks", nargs="+", help="the .tif stacks to learn from")
    p.add_argument("--method", default="ldm", choices=NETWORKS,
                   help="ldm (isonb), or the reference methods care (CARE-iso), selfnet")
    p.add_argument("--psf-fwhm", type=float, nargs=2, metavar=("LATERAL", "AXIAL"),
                   help="CARE only: use this PSF (µm) instead of the estimated degradation")
    p.add_argument("--out", required=True, help="folder for weights, card and checkpoints")
    _add_stack_options(p)
    p.add_argument("--minutes", type=float, help="time budget, shared between the stages")
    p.add_argument("--quick", action="store_true", help="few steps (also: ISONB_QUICK=1)")
    p.add_argument("--seed", type=int, help="random seed (default 0)")
    p.add_argument("--patch", type=int, help="training patch side in px (default 64)")
    p.add_argument("--degradation", choices=DEGRADATIONS,
                   help="LDM: how training inputs are made from xy patches: psf (default, the "
                        "estimated PSF, sampling and noise) or learned (that, then a CycleGAN "
                        "generator trained to make it look like the real xz/yz planes)")
    p.add_argument("--overwrite", action="store_true", help="replace weights in --out")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("restore", help="restore a stack onto the isotropic grid")
    p.add_argument("input")
    p.add_argument("output")
    p.add_argument("--method", default="ldm", choices=METHODS,
                   help="ldm (default: isonb, with the shipped weights unless --weights), "
                        "cubic or linear interpolation, rl (Richardson-Lucy), care, selfnet")
    _add_stack_options(p)
    p.add_argument("--weights", help="trained model folder (ldm default: the shipped model)")
    p.add_argument("--device", default="auto", choices=DEVICES,
                   help="where networks run (auto: a CUDA or Apple GPU when present)")
    p.add_argument("--tile", type=int, default=1024,
                   help="networks restore slices in tiles of this many px, each read with "
                        f"{HALO} px of context ({DIFFUSION_HALO} when the diffusion samples), so "
                        "tiles give the whole slice's result; lower it if memory runs out")
    p.add_argument("--batch", type=int,
                   help="slices per forward pass (default: as many as the device's memory "
                        "allows, at most 8 on a CPU)")
    p.add_argument("--scratch", help="folder for temporary files of large stacks (default: "
                                      "the system's temporary folder)")
    p.add_argument("--samples", type=int, default=2, help="LDM samples averaged (K)")
    p.add_argument("--steps", type=int, default=4, help="DDIM steps")
    p.add_argument("--seed", type=int, default=0, help="seed of the LDM's latent noise")
    p.add_argument("--diffusion", default="auto", choices=("auto", "on", "off"),
                   help="LDM: sample the latent diffusion (on), use the regression estimate "
                        "alone (off), or skip sampling when its correction, measured on a "
                        "few slices, is below 0.1%% of the range and no --uncertainty is "
                        "asked for (auto)")
    p.add_argument("--uncertainty", help="also write the LDM's per-voxel spread here")
    p.add_argument("--no-refocus", action="store_true",
                   help="LDM: skip the last step that gives each lateral frequency band its "
                        "in-focus weight (matters for widefield stacks; 2D slices never get it)")
    p.add_argument("--axial-slices", action="store_true",
                   help="the input is a 2D axial image (z, x) or a stack of them, on the "
                        "isotropic grid already")
    p.add_argument("--psf", help="PSF .tif sampled at dx in z, y and x (for rl)")
    p.add_argument("--psf-fwhm", type=float, nargs=2, metavar=("LATERAL", "AXIAL"),
                   help="Gaussian PSF FWHMs in µm (for rl)")
    p.add_argument("--iterations", type=int, default=20, help="Richardson-Lucy iterations")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    p.set_defaults(func=cmd_restore)

    p = sub.add_parser("evaluate", help="score a restoration (BENCHMARK.md metrics)")
    p.add_argument("prediction")
    p.add_argument("ground_truth", nargs="?",
                   help="without it, only the no-reference isotropy measures")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("demo", help="the main job on the embedded default dataset")
    p.add_argument("--out", default="isonb-output", help="output folder")
    p.add_argument("--overwrite", action="store_true", help="replace earlier outputs")
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (IsonbError, ValueError) as err:  # bad input: one line, no traceback
        print(f"isonb {args.verb}: error: {err}", file=sys.stderr)
        return 2
