"""`python -m isonb <verb>`: the same steps as the notebooks, for scripts, clusters and tests.

  python -m isonb demo                                  # the main job on the embedded default
  python -m isonb info my_stack.tif                     # what isonb reads in it, before any work
  python -m isonb prepare my_stack.tif --out my_set     # training patches, shown in notebook 01
  python -m isonb restore my_stack.tif restored.tif     # the shipped model
  python -m isonb train my_stack.tif --out my_model --quick
  python -m isonb restore my_stack.tif restored.tif --weights my_model
  python -m isonb evaluate restored.tif [--ground-truth gt.tif]

Bad input stops with one line that names the file and the fix (exit status 2); anything
else is a bug in isonb and shows its traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING

from .choices import (
    DEGRADATIONS,
    DEVICES,
    DIFFUSION,
    FUSIONS,
    METHODS,
    NETWORKS,
    OUTPUTS,
    PRECISIONS,
    PSF_MODELS,
    STRUCTURES,
    UNCERTAINTY_SAMPLES,
    check_choice,
)
from .errors import IsonbError

# Imports of numpy, torch and isonb's stages happen inside the verbs: `--help` stays fast.
if TYPE_CHECKING:
    from .restore import RestoreConfig


def _add_file_options(p: argparse.ArgumentParser) -> None:
    """How a file is read: its voxel size, axes and series where its metadata falls short."""
    p.add_argument("--voxel-size", nargs=3, type=float, metavar=("DZ", "DY", "DX"),
                   help="voxel size in µm, z first, overriding the file's metadata")
    p.add_argument("--axes", help="axes of a .tif without metadata, or in place of its own: "
                   "e.g. CZYX, TZYX, YXZ (z last), or ZYX for a z-stack saved as "
                   "channels")
    p.add_argument("--series", type=int, help="series (position) of a multi-position file")


def _add_stack_options(p: argparse.ArgumentParser) -> None:
    _add_file_options(p)
    p.add_argument("--channel", type=_channel,
                   help="channel to use in a multi-channel stack (restore: also 'all', each "
                        "channel restored in turn into one multi-channel .tif)")
    p.add_argument("--time", type=_time,
                   help="time point to use in a time series (restore: also 'all', each time "
                        "point restored in turn into one TZYX / TZCYX .tif)")


def _or_word(parse, word: str, what: str):
    """An argparse type: `word` itself, or the value read by `parse` (`what` it is, for the
    error)."""
    def convert(value: str):
        if value == word:
            return value
        try:
            return parse(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{value!r} is neither {what} nor "
                                             f"{word!r}") from None
    return convert


_channel = _or_word(int, "all", "a channel number")
_time = _or_word(int, "all", "a time point")
_lateral_fwhm = _or_word(float, "auto", "a width in µm")


def _read(a: argparse.Namespace, path: str):
    """The stack at `path` with the stack options given on the command line."""
    from .io import read_stack

    if a.channel == "all":
        raise IsonbError(f"{path}: --channel all is for restore. Fix: train on one channel "
                         "(--channel K); a model trained on one restores the others")
    if a.time == "all":
        raise IsonbError(f"{path}: --time all is for restore. Fix: train on one time point "
                         "(--time K); a model trained on one restores the others")
    return read_stack(path, voxel_size=a.voxel_size, channel=a.channel, time=a.time,
                      axes=a.axes, series=a.series, require_voxel_size=True)


def cmd_simulate(a: argparse.Namespace) -> int:
    """`isonb simulate`: a simulated case (observed stack, ground truth, PSF) written as .tif."""
    from .benchmark import CASES, describe
    from .simulate import SimulationConfig, save_case, simulate

    if a.case:
        cfg = CASES[check_choice("case", a.case, CASES)]
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


def _load_psf(a: argparse.Namespace, dx: float):
    from .io import read_image
    from .psf import gaussian_psf

    if a.psf:
        return read_image(a.psf)
    if a.psf_fwhm:
        return gaussian_psf(a.psf_fwhm[0], a.psf_fwhm[1], dx)
    return None


def _check_outputs(a: argparse.Namespace, *paths: str | Path | None) -> None:
    from .io import refuse_existing

    refuse_existing(*paths, overwrite=a.overwrite)


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


# restore's options that only some methods use: (options, methods that take them)
_RESTORE_SCOPES = (
    (("weights", "device", "precision", "tile", "batch", "axial_slices", "settings"), NETWORKS),
    (("samples", "steps", "seed", "diffusion", "uncertainty", "uncertainty_samples",
      "no_refocus", "lateral_fwhm", "fusion", "output_kind"),
     ("ldm",)),
    (("psf", "psf_fwhm", "iterations"), ("rl",)),
)


def _scope_title(methods: tuple[str, ...]) -> str:
    """The `restore --help` heading of the options that only `methods` use."""
    return f"{methods[0]} only" if len(methods) == 1 else f"networks ({', '.join(methods)})"


# restore's options that a record's settings give (`--settings`), and so may not be given too
_RECORDED = ("precision", "tile", "batch", "samples", "steps", "seed", "diffusion",
             "uncertainty_samples", "no_refocus", "lateral_fwhm", "fusion", "output_kind")


def _flag(name: str) -> str:
    """An option's flag from its argparse name."""
    return "--output" if name == "output_kind" else "--" + name.replace("_", "-")


def _apply_record(a: argparse.Namespace) -> None:
    """`restore --settings RECORD`: the recorded method checked and its weights used (unless
    --weights), which must be the recorded ones (sha256); an option that would set a recorded
    setting again is refused."""
    from .checkpoint import read_card
    from .provenance import read_record, recorded_config

    record = read_record(a.settings)
    a.recorded_config = recorded_config(record)
    given = _options_given(a)
    for name in _RECORDED:
        if name in given:
            raise IsonbError(f"{_flag(name)} and --settings {a.settings} both set it. Fix: drop "
                             f"{_flag(name)}")
    if record["method"] != a.method:
        raise IsonbError(f"{a.settings}: records --method {record['method']}. Fix: pass "
                         f"--method {record['method']}")
    if a.uncertainty and record["settings"].get("diffusion") == "off":
        raise IsonbError(f"--uncertainty needs the diffusion's samples, which {a.settings} "
                         "turns off. Fix: drop --uncertainty")
    recorded = record.get("weights") or {}
    a.weights = a.weights or recorded.get("folder")
    if a.weights and recorded.get("sha256") not in (None, read_card(a.weights).get("sha256")):
        raise IsonbError(f"{a.weights}: not the weights {a.settings} records (sha256 "
                         f"{recorded['sha256'][:12]}). Fix: pass --weights with those")


def _options_given(a: argparse.Namespace) -> set[str]:
    """restore's options given a value other than their default."""
    defaults = vars(build_parser().parse_args(["restore", a.input, a.output]))
    return {name for name, value in vars(a).items() if defaults.get(name, value) != value}


def _refuse_inapplicable(a: argparse.Namespace) -> None:
    """An option given a value that the chosen method does not use is an error, not ignored."""
    given = _options_given(a)
    for options, methods in _RESTORE_SCOPES:
        for name in options:
            if a.method not in methods and name in given:
                raise IsonbError(f"{_flag(name)} does not apply to --method {a.method} (only "
                                 f"to {', '.join(methods)}). Fix: drop {_flag(name)}")


def cmd_restore(a: argparse.Namespace) -> int:
    """`isonb restore`: a stack, a folder of stacks or 2D axial images, restored."""
    from .io import read_image, write_stack
    from .provenance import sidecar_path
    from .restore import restore_axial_images

    if a.settings:
        _apply_record(a)
    if _is_folder(a.input):
        return _restore_folder(a)
    _check_outputs(a, a.output, a.uncertainty)
    if a.uncertainty and a.diffusion == "off":
        raise IsonbError("--uncertainty needs the diffusion's samples. Fix: drop --diffusion off")
    if a.output_kind == "sample" and a.diffusion == "off":
        raise IsonbError("--output sample is drawn by the diffusion. Fix: drop --diffusion off")
    if a.uncertainty_samples < 2:
        raise IsonbError(f"--uncertainty-samples {a.uncertainty_samples}: a spread needs at "
                         "least 2 samples. Fix: pass --uncertainty-samples 2 or more")
    if a.axial_slices and a.lateral_fwhm:
        raise IsonbError("--lateral-fwhm needs the stack's voxel size, which 2D axial slices "
                         "do not carry. Fix: restore the stack, or drop --lateral-fwhm")
    t = time.perf_counter()
    if a.axial_slices:
        images = read_image(a.input)
        if images.ndim not in (2, 3):
            raise IsonbError(f"{a.input}: expected a 2D axial image or a stack of them, got "
                             f"shape {images.shape}. Fix: save each axial slice as (z, x)")
        result, spread = restore_axial_images(images, _load_model(a), _restore_config(a))
        write_stack(a.output, result, None, overwrite=a.overwrite)
        if a.uncertainty:
            write_stack(a.uncertainty, spread, None, overwrite=a.overwrite)
        shape, record = result.shape, ""
    else:
        shape, record = _restore_stack(a), f" (record: {sidecar_path(a.output).name})"
    print(f"{a.method}: {a.input} -> {a.output} {shape} in {time.perf_counter() - t:.1f} s"
          + record)
    return 0


def _is_folder(path: str) -> bool:
    """A folder of stacks (an OME-Zarr store is a folder too, but one stack)."""
    return Path(path).is_dir() and not path.rstrip("/").lower().endswith(".zarr")


def _restore_folder(a: argparse.Namespace) -> int:
    """Every stack of the input folder restored into the output folder, same file names (the
    spreads into the --uncertainty folder)."""
    from .io import find_stacks
    from .provenance import sidecar_path

    paths = find_stacks(a.input)
    if Path(a.output).suffix:
        raise IsonbError(f"{a.input}: is a folder, so the output is one too. Fix: give a "
                         "folder for the restored stacks (and for --uncertainty)")
    for path in paths:
        out = Path(a.output) / path.name
        spread = Path(a.uncertainty) / path.name if a.uncertainty else None
        _check_outputs(a, out, spread, sidecar_path(out))
    for path in paths:
        spread = str(Path(a.uncertainty) / path.name) if a.uncertainty else None
        cmd_restore(argparse.Namespace(**{**vars(a), "input": str(path), "output": str(
            Path(a.output) / path.name), "uncertainty": spread}))
    return 0


def _restore_stack(a: argparse.Namespace) -> tuple[int, ...]:
    """Restore the input (with --channel all every channel, with --time all every time point,
    in turn) into the output, with bounded memory (`streaming.restore_series_to_file`)."""
    from .io import read_time_series
    from .streaming import restore_series_to_file

    every_time = a.time == "all"
    if a.channel == "all" or every_time:
        series = read_time_series(a.input, a.voxel_size, a.channel, True, a.axes, a.series)
        time_axis = every_time and series.has_time
        series = series if every_time else [series.time_point(a.time)]
    else:
        series, time_axis = [[_read(a, a.input)]], False
    stacks = series[0]
    if a.lateral_fwhm == "auto":
        a.lateral_fwhm = _metadata_lateral_fwhm(a, len(stacks))
    model = _load_model(a) if a.method in NETWORKS else None
    if model is None:
        return restore_series_to_file(series, a.output, None, a.method, overwrite=a.overwrite,
                                      scratch=a.scratch, time_axis=time_axis,
                                      psf=_load_psf(a, stacks[0].voxel_size[2]),
                                      rl_iterations=a.iterations)
    if a.method == "ldm" and a.weights is None:
        _warn_outside_shipped_range(stacks[0])
    return restore_series_to_file(series, a.output, model, a.method, _restore_config(a),
                                  spread=a.uncertainty, overwrite=a.overwrite,
                                  scratch=a.scratch, time_axis=time_axis)


def _metadata_lateral_fwhm(a: argparse.Namespace, channels: int) -> float | tuple[float, ...]:
    """`--lateral-fwhm auto`: the width the input's metadata gives, one per channel with
    `--channel all` where the channels' wavelengths make them differ."""
    from .io import metadata_lateral_fwhms

    chosen = list(range(channels)) if a.channel == "all" else [a.channel]
    widths = tuple(metadata_lateral_fwhms(a.input, a.series, chosen))
    return widths[0] if len(set(widths)) == 1 else widths


def _restore_config(a: argparse.Namespace) -> RestoreConfig:
    """restore's network options as the restore stage's config, or with --settings the
    recorded one (the map asked for or not by --uncertainty)."""
    from dataclasses import replace

    from .restore import RestoreConfig

    if a.settings:  # read by `_apply_record`
        return replace(a.recorded_config, uncertainty=bool(a.uncertainty))
    return RestoreConfig(samples=a.samples, steps=a.steps, seed=a.seed, diffusion=a.diffusion,
                         output=a.output_kind, uncertainty=bool(a.uncertainty),
                         uncertainty_samples=a.uncertainty_samples, fusion=a.fusion,
                         refocus=not a.no_refocus, lateral_fwhm=a.lateral_fwhm,
                         tile=a.tile, batch=a.batch,
                         precision=a.precision)


def _warn_outside_shipped_range(stack) -> None:
    """A line when the stack's sampling lies outside what the shipped model was trained on."""
    from .stackinfo import outside_shipped_range

    if outside := outside_shipped_range(stack.voxel_size):
        print(f"warning: {stack.path}: {'; '.join(outside)}: outside the shipped model's "
              "training range; per-stack training fits such a stack better (python -m isonb "
              f"train {stack.path} --out my_model --quick)")


def cmd_info(a: argparse.Namespace) -> int:
    """`isonb info`: what isonb reads in each file and what restoring it involves."""
    from .io import find_stacks
    from .stackinfo import describe

    paths = [p for x in a.stacks for p in (find_stacks(x) if _is_folder(x) else [x])]
    unreadable = 0
    for path in paths:  # every file said, the unreadable ones with their fix
        try:
            print("\n".join(describe(path, a.voxel_size, a.axes, a.series, not a.no_estimate)))
        except IsonbError as err:
            print(f"{path}\n  cannot be read: {str(err).removeprefix(f'{path}: ')}")
            unreadable += 1
    if unreadable:
        raise IsonbError(f"{unreadable} of {len(paths)} files cannot be read as they are (each "
                         "said above with its fix)")
    return 0


def cmd_prepare(a: argparse.Namespace) -> int:
    """`isonb prepare`: the training patches of a set of stacks, saved for `train`."""
    from . import patches, quick_mode
    from .train import TrainConfig

    cfg = TrainConfig.quick() if a.quick or quick_mode() else TrainConfig()
    stacks = [_read(a, p) for p in a.stacks]
    data = patches.prepare(stacks, a.patch or cfg.patch, a.patches or cfg.n_patches,
                           cfg.seed if a.seed is None else a.seed)
    folder = patches.save(data, a.out, overwrite=a.overwrite)
    print(f"{len(data.xy)} xy and {len(data.axial)} axial patches of {data.meta['patch']} px "
          f"from {len(stacks)} stack(s), with their degradation estimates -> {folder}")
    return 0


def cmd_train(a: argparse.Namespace) -> int:
    """`isonb train`: the LDM (or a reference network) trained on stacks' own planes."""
    from . import patches, quick_mode
    from .baselines import train_reference
    from .train import TrainConfig, train

    if a.psf_fwhm and a.method != "care":
        raise IsonbError("--psf-fwhm is for CARE's known-PSF variant. Fix: add --method care")
    for name, given in (("--degradation", a.degradation), ("--init", a.init),
                        ("--from-scratch", a.from_scratch), ("--no-retarget", a.no_retarget)):
        if given and a.method != "ldm":
            raise IsonbError(f"{name} is an option of the LDM. Fix: drop it, or use "
                             "--method ldm")
    if a.init and a.from_scratch:
        raise IsonbError("--init and --from-scratch contradict each other. Fix: keep one")
    quick = a.quick or quick_mode()
    kw = {k: v for k, v in dict(seed=a.seed, patch=a.patch, minutes=a.minutes).items()
          if v is not None}
    prepared = next((p for p in a.stacks if patches.is_prepared(p)), None)
    if prepared:
        _check_prepared(a, prepared)
        data = patches.load(prepared)
    else:
        data = [_read(a, p) for p in a.stacks]
    if a.method == "ldm":
        if a.degradation:
            kw["degradation"] = a.degradation
        if a.init or a.from_scratch:
            kw["init"] = a.init or ""
        if a.no_retarget:
            kw["retarget_steps"] = 0
        train(data, a.out, TrainConfig.quick(**kw) if quick else TrainConfig(**kw),
              overwrite=a.overwrite)
    else:
        train_reference(a.method, data, a.out, **kw, mode="quick" if quick else "full",
                        true_fwhm=a.psf_fwhm, overwrite=a.overwrite)
    print(f"weights -> {a.out}")
    return 0


def _check_prepared(a: argparse.Namespace, folder: str) -> None:
    """A prepared set is trained on alone, with its own patches and seed, by the LDM."""
    if len(a.stacks) > 1:
        raise IsonbError(f"{folder}: a prepared set is trained on alone. Fix: prepare every "
                         "stack into one set (python -m isonb prepare A.tif B.tif --out SET)")
    if a.patch is not None or a.seed is not None:
        raise IsonbError(f"{folder}: a prepared set brings its own patch size and seed. Fix: "
                         "prepare it again with --patch / --seed")
    if a.method != "ldm":
        raise IsonbError(f"{folder}: --method {a.method} trains from stacks, with its own "
                         "patches. Fix: pass the stacks instead")


def cmd_evaluate(a: argparse.Namespace) -> int:
    """`isonb evaluate`: restored stacks scored against a ground truth, or without one."""
    from . import metrics
    from .degrade import estimate_degradation
    from .io import find_stacks, read_stack

    paths = [p for x in a.predictions for p in (find_stacks(x) if _is_folder(x) else [x])]
    gt = read_stack(a.ground_truth, mmap=True, axes=a.axes).data if a.ground_truth else None
    observed = read_stack(a.observed, axes=a.axes) if a.observed else None
    deg = estimate_degradation(observed.data, observed.voxel_size) if observed else None
    rows = []
    for path in paths:
        pred = read_stack(path, mmap=True).data  # by blocks, as the ground truth
        if observed is not None:
            _check_restored_of(pred.shape, observed, path)
        if gt is not None and pred.shape != gt.shape:
            raise IsonbError(f"{path}: shape {pred.shape} is not its ground truth's "
                             f"{gt.shape} ({a.ground_truth}). Fix: score a restoration of the "
                             "stack this ground truth belongs to (the isotropic grid: "
                             "round((nz - 1) dz / dx) + 1 planes), or name the ground truth's "
                             "axes with --axes")
        scores = metrics.evaluate(pred, gt) if gt is not None else metrics.no_reference(
            pred, observed.data if observed else None, deg)
        rows.append({"method": Path(path).stem, **scores})
    if a.csv:
        print(f"-> {metrics.write_csv(rows, a.csv)}", file=sys.stderr)
    if a.json:
        print(json.dumps(rows[0] if len(rows) == 1 else rows, indent=2))
    else:
        print(metrics.markdown_table(rows, tuple(k for k in rows[0] if k != "method")))
    return 0


def _check_restored_of(shape: tuple[int, ...], observed, path: str) -> None:
    """A restoration of `observed` lies on its isotropic grid: same y, x, and the depth
    `volume.isotropic_depth` gives."""
    from .volume import isotropic_depth

    dz, _, dx = observed.voxel_size
    nz, ny, nx = observed.data.shape
    expected = (isotropic_depth(nz, dz, dx), ny, nx)
    if tuple(shape) != expected:
        raise IsonbError(f"{path}: shape {tuple(shape)} is not the isotropic grid {expected} of "
                         f"{observed.path}. Fix: pass the stack it was restored from as "
                         "--observed, with the same voxel size")


DEMO_TITLES = {"cubic": "cubic interpolation", "rl": "Richardson-Lucy (true PSF)",
               "ldm": "isonb (shipped weights)"}  # the demo picture's titles, by method


def cmd_demo(a: argparse.Namespace) -> int:
    """`isonb demo`: the embedded default restored by every method and scored."""
    from . import metrics
    from .checkpoint import CARD, shipped_weights
    from .data import default_dataset
    from .io import read_image, read_stack, write_stack
    from .restore import load_network, restore, restore_network
    from .viewer import save_comparison

    ds = default_dataset()
    obs = read_stack(ds.test)
    gt = read_stack(ds.test_gt).data
    psf = read_image(ds.test_psf)
    out = Path(a.out)
    _check_outputs(a, *(out / f"restored_{m}.tif" for m in DEMO_TITLES))
    iso = (obs.voxel_size[2],) * 3
    results, rows, spread = {}, [], None
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
        rows.append({"method": method, **metrics.evaluate(results[method], gt),
                     "seconds": seconds})
    print("rl = Richardson-Lucy with the simulation's true PSF, 20 iterations; "
          "ldm = isonb with the shipped weights" if "ldm" in methods else
          "rl = Richardson-Lucy with the true PSF; no shipped weights in weights/, so no ldm row")
    shown = {DEMO_TITLES[m]: v for m, v in results.items()} | {"ground truth": gt}
    if spread is not None:
        shown["uncertainty (isonb)"] = spread
    picture = save_comparison(shown, out / "comparison.png")
    (out / "metrics.json").write_text(json.dumps(rows, indent=2))
    print(metrics.markdown_table(rows, ("ssim", "psnr", "mse", "coc", "ssim_xy", "seconds")))
    print(f"restored stacks, metrics.json and {picture.name} in {out}")
    return 0


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Defaults shown after each option's help (those that say something); descriptions and
    examples kept as written."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        hidden = action.default is None or action.default is False  # 0 is shown
        if action.option_strings and not hidden and action.default != argparse.SUPPRESS:
            text += " (default: %(default)s)"
        return text


def _verb(sub, name: str, summary: str, examples: str, func) -> argparse.ArgumentParser:
    p = sub.add_parser(name, help=summary, description=summary, formatter_class=_Formatter,
                       epilog="examples:\n" + examples)
    p.set_defaults(func=func)
    return p


def _simulate_parser(sub) -> None:
    p = _verb(sub, "simulate", "simulate a liver-like stack with ground truth",
              "  python -m isonb simulate sim/ --case mixed-gauss9-z2-snr8\n"
              "  python -m isonb simulate sim/ --structure nuclei --psf widefield --z-step 3",
              cmd_simulate)
    p.add_argument("outdir", help="folder for observed.tif, gt.tif, psf.tif, meta.json")
    p.add_argument("--case", help="a named case of the public benchmark (overrides the rest)")
    p.add_argument("--structure", choices=STRUCTURES, help="what the tissue holds")
    p.add_argument("--psf", choices=PSF_MODELS, help="the microscope's PSF model")
    p.add_argument("--na", type=float, help="numerical aperture")
    p.add_argument("--n-immersion", type=float, help="refractive index of the immersion")
    p.add_argument("--wavelength-ex", type=float, help="excitation wavelength, µm")
    p.add_argument("--wavelength-em", type=float, help="emission wavelength, µm")
    p.add_argument("--fwhm-lateral", type=float, help="µm, gaussian PSF")
    p.add_argument("--fwhm-axial", type=float, help="µm, gaussian PSF")
    p.add_argument("--z-step", type=int, help="observed plane every N grid planes")
    p.add_argument("--snr", type=float, help="mean foreground signal / noise std")
    p.add_argument("--seed", type=int, help="random seed")
    p.add_argument("--shape", type=int, nargs=3, metavar=("Z", "Y", "X"),
                   help="ground-truth grid size")
    p.add_argument("--voxel-xy", type=float, help="lateral pixel size in µm")
    p.add_argument("--overwrite", action="store_true", help="replace existing files")


def _prepare_parser(sub) -> None:
    p = _verb(sub, "prepare", "draw the training patches of stacks, with each stack's "
                              "degradation estimate, into a folder that train reads",
              "  python -m isonb prepare a.tif b.tif --out my_set --quick\n"
              "  python -m isonb train my_set --out my_model --quick", cmd_prepare)
    p.add_argument("stacks", nargs="+", help="the stacks to learn from")
    p.add_argument("--out", required=True, help="folder for patches.npz and patches.json")
    _add_stack_options(p)
    p.add_argument("--patch", type=int, help="patch side in px (default 64)")
    p.add_argument("--patches", type=int,
                   help="xy patches to draw, and as many axial ones (default 3000, 800 with "
                        "--quick, as train uses)")
    p.add_argument("--quick", action="store_true", help="the pool size of train --quick")
    p.add_argument("--seed", type=int, help="random seed of the draws (default 0)")
    p.add_argument("--overwrite", action="store_true", help="replace a prepared set in --out")


def _train_parser(sub) -> None:
    p = _verb(sub, "train", "train a network on stacks (unpaired, no ground truth)",
              "  python -m isonb train my_stack.tif --out my_model --quick   # fine-tunes "
              "the shipped model\n"
              "  python -m isonb train my_stack.tif --out my_model --quick --from-scratch\n"
              "  python -m isonb train a.tif b.tif --out my_model --minutes 60\n"
              "  python -m isonb train my_stack.tif --method care --out care_model\n"
              "  python -m isonb train my_set --out my_model   # a folder from prepare",
              cmd_train)
    p.add_argument("stacks", nargs="+", help="the stacks to learn from (.tif, or .czi, .lif, "
                                             ".nd2, .zarr with the formats extra), or one "
                                             "folder written by prepare")
    p.add_argument("--out", required=True, help="folder for weights, card and checkpoints")
    p.add_argument("--method", default="ldm", choices=NETWORKS,
                   help="ldm (isonb), or the reference methods care (CARE-iso), selfnet")
    _add_stack_options(p)
    p.add_argument("--minutes", type=float, help="time budget, shared between the stages "
                                                 "(default: none, every step runs)")
    p.add_argument("--quick", action="store_true", help="few steps (also: ISONB_QUICK=1)")
    p.add_argument("--seed", type=int, help="random seed (default 0)")
    p.add_argument("--patch", type=int, help="training patch side in px (default 64)")
    p.add_argument("--overwrite", action="store_true", help="replace weights in --out")
    ldm = p.add_argument_group(_scope_title(("ldm",)))
    ldm.add_argument("--degradation", choices=DEGRADATIONS,
                     help="how training inputs are made from xy patches: psf (default, the "
                          "estimated PSF, sampling and noise) or learned (that, then a CycleGAN "
                          "generator trained to make it look like the real xz/yz planes)")
    ldm.add_argument("--init", metavar="WEIGHTS",
                     help="fine-tune these weights (a folder written by train; default with "
                          "--quick: the shipped generalist)")
    ldm.add_argument("--from-scratch", action="store_true",
                     help="start from random weights (the default without --quick)")
    ldm.add_argument("--no-retarget", action="store_true",
                     help="learn from the observed xy planes throughout, without the last "
                          "regressor steps on the planes of its own restoration")
    care = p.add_argument_group(_scope_title(("care",)))
    care.add_argument("--psf-fwhm", type=float, nargs=2, metavar=("LATERAL", "AXIAL"),
                      help="use this Gaussian PSF (µm) instead of the estimated degradation")


def _restore_parser(sub) -> argparse.ArgumentParser:
    p = _verb(sub, "restore", "restore a stack onto the isotropic grid",
              "  python -m isonb restore my_stack.tif restored.tif\n"
              "  python -m isonb restore my_stack.tif restored.tif --weights my_model "
              "--uncertainty spread.tif\n"
              "  python -m isonb restore my_stack.czi restored.tif --channel all\n"
              "  python -m isonb restore time_lapse.tif restored.tif --time all\n"
              "  python -m isonb restore stacks/ restored/ --weights my_model   # a folder\n"
              "  python -m isonb restore sim/observed.tif rl.tif --method rl --psf sim/psf.tif",
              cmd_restore)
    p.add_argument("input", help="the anisotropic stack (.tif, or .czi, .lif, .nd2, .zarr "
                                 "with the formats extra), or a folder of .tif stacks")
    p.add_argument("output", help="the restored stack: .tif (ImageJ, voxel size kept) or "
                                  ".zarr (OME-Zarr); a folder for a folder")
    p.add_argument("--method", default="ldm", choices=METHODS,
                   help="ldm (isonb, with the shipped weights unless --weights), cubic or "
                        "linear interpolation, rl (Richardson-Lucy), care, selfnet")
    _add_stack_options(p)
    p.add_argument("--scratch", help="folder for temporary files of large stacks (default: "
                                      "the system's temporary folder)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    _add_network_options(p.add_argument_group(_scope_title(NETWORKS)))
    _add_ldm_options(p.add_argument_group(_scope_title(("ldm",))))
    rl = p.add_argument_group(_scope_title(("rl",)))
    rl.add_argument("--psf", help="PSF .tif sampled at dx in z, y and x")
    rl.add_argument("--psf-fwhm", type=float, nargs=2, metavar=("LATERAL", "AXIAL"),
                    help="Gaussian PSF FWHMs in µm")
    rl.add_argument("--iterations", type=int, default=20, help="Richardson-Lucy iterations")
    return p


def _add_network_options(g: argparse._ArgumentGroup) -> None:
    """restore's options for every network: weights, hardware, tiles."""
    g.add_argument("--weights", help="trained model folder (ldm: the shipped model if none)")
    g.add_argument("--device", default="auto", choices=DEVICES,
                   help="where networks run (auto: a CUDA or Apple GPU when present)")
    g.add_argument("--precision", default="auto", choices=PRECISIONS,
                   help="networks' arithmetic (auto: fp16 mixed precision on a CUDA GPU, "
                        "fp32 elsewhere)")
    g.add_argument("--tile", type=int, default=1024,
                   help="networks restore slices in tiles of this many px, each read with "
                        "enough context (their receptive field) that tiles give the whole "
                        "slice's result; lower it if memory runs out")
    g.add_argument("--batch", type=int,
                   help="slices per forward pass (default: as many as the device's memory "
                        "allows, at most 8 on a CPU)")
    g.add_argument("--settings", metavar="RECORD",
                   help="restore with every setting, and the weights (unless --weights), "
                        "recorded beside an earlier restoration (restored.tif.json): the same "
                        "stack then gives the same volume")
    g.add_argument("--axial-slices", action="store_true",
                   help="the input is a 2D axial image (z, x) or a stack of them, on the "
                        "isotropic grid already")


def _add_ldm_options(g: argparse._ArgumentGroup) -> None:
    """restore's options for the LDM: sampling, output, uncertainty, fusion, refocusing."""
    g.add_argument("--samples", type=int, default=2, help="diffusion samples averaged (K)")
    g.add_argument("--steps", type=int, default=4, help="DDIM steps")
    g.add_argument("--seed", type=int, default=0, help="seed of the latent noise")
    g.add_argument("--diffusion", default="auto", choices=DIFFUSION,
                   help="sample the latent diffusion (on), use the regression estimate "
                        "alone (off), or skip sampling when its correction, measured on a "
                        "few slices, is below 0.1%% of the range and no --uncertainty is "
                        "asked for (auto)")
    g.add_argument("--output", dest="output_kind", default="mean", choices=OUTPUTS,
                   help="what the restored stack holds: the mean of the diffusion's "
                        "samples (the MMSE estimate, what SSIM and PSNR reward), or one "
                        "posterior sample (the texture of the xy planes, for looking at; "
                        "--seed picks which; it always samples the diffusion)")
    g.add_argument("--uncertainty", help="also write the per-voxel spread here (one "
                                         "standard deviation, calibrated on the stack's own "
                                         "synthetic pairs; it costs about 2x the restoration)")
    g.add_argument("--uncertainty-samples", type=int, default=UNCERTAINTY_SAMPLES,
                   help="samples per slice, with noise of their own, for --uncertainty")
    g.add_argument("--fusion", default="auto", choices=FUSIONS,
                   help="how the xz and yz restorations are combined: their mean (average), "
                        "or each lateral frequency mostly from the view whose slices run "
                        "along it (orientation); auto: orientation for the LDM's mean, average "
                        "for a sample and for CARE and Self-Net, as their papers "
                        "(docs/RESULTS.md measures both)")
    g.add_argument("--no-refocus", action="store_true",
                   help="skip the last step that gives each lateral frequency band its "
                        "in-focus weight (matters for widefield stacks; 2D slices never get it)")
    g.add_argument("--lateral-fwhm", type=_lateral_fwhm, metavar="UM|auto",
                   help="the lateral PSF's FWHM in µm, if known (about 0.37 lambda / NA in a "
                        "confocal, 0.51 lambda / NA in widefield; auto: from the file's OME "
                        "metadata, objective NA, wavelengths and acquisition mode): z is then "
                        "also deconvolved by it, sharper than xy, as a ground truth without "
                        "axial blur is (+0.36 dB on the public suite with the true FWHM)")


def _evaluate_parser(sub) -> None:
    p = _verb(sub, "evaluate", "score restorations: the benchmark's metrics against a ground "
                               "truth, or the no-reference isotropy figures without one",
              "  python -m isonb evaluate restored.tif --ground-truth sim/gt.tif --json\n"
              "  python -m isonb evaluate restored/ --ground-truth sim/gt.tif --csv scores.csv\n"
              "  python -m isonb evaluate restored.tif --observed stack.tif", cmd_evaluate)
    p.add_argument("predictions", nargs="+",
                   help="restored stacks on the isotropic grid, or folders of them")
    p.add_argument("--ground-truth", help="the ground truth; without it, only the "
                                          "no-reference figures")
    p.add_argument("--observed", help="without a ground truth: the stack the predictions were "
                                      "restored from, for data_residual (about 1: the "
                                      "restoration explains the data to within its noise)")
    p.add_argument("--axes", help="axes of the ground truth and --observed files where "
                                  "their metadata lacks or misnames them, e.g. ZYX")
    p.add_argument("--csv", help="also write the table here, as CSV")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")


def _info_parser(sub) -> None:
    p = _verb(sub, "info", "say what isonb reads in stacks (axes, channels, time points, voxel "
                           "size, the isotropic output, each channel's estimated degradation, "
                           "the optics in its metadata) and the command that restores them",
              "  python -m isonb info my_stack.tif\n"
              "  python -m isonb info my_folder/ --no-estimate", cmd_info)
    p.add_argument("stacks", nargs="+", help="stacks, or folders of them")
    _add_file_options(p)
    p.add_argument("--no-estimate", action="store_true",
                   help="skip the degradation estimate (seconds on a large stack)")


def _demo_parser(sub) -> None:
    p = _verb(sub, "demo", "the main job on the embedded default dataset: restore its held-out "
                           "stack with cubic, Richardson-Lucy and the shipped LDM, and score them",
              "  python -m isonb demo --out isonb-output", cmd_demo)
    p.add_argument("--out", default="isonb-output", help="output folder")
    p.add_argument("--overwrite", action="store_true", help="replace earlier outputs")


def build_parser() -> argparse.ArgumentParser:
    """The command line: one subcommand per verb, each with its defaults and examples."""
    parser = argparse.ArgumentParser(prog="isonb", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    _info_parser(sub)
    _simulate_parser(sub)
    _prepare_parser(sub)
    _train_parser(sub)
    _restore_parser(sub)
    _evaluate_parser(sub)
    _demo_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run a verb; bad input (`IsonbError`) ends in one line on stderr and exit status 2."""
    args = build_parser().parse_args(argv)
    try:
        if args.verb == "restore":
            _refuse_inapplicable(args)
        return args.func(args)
    except IsonbError as err:  # bad input: one line, no traceback; anything else is a bug
        print(f"isonb {args.verb}: error: {err}", file=sys.stderr)
        return 2
