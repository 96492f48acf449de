"""What isonb reads in a file and what restoring it involves, before any work
(`python -m isonb info`, notebook 01): axes, channels, time points, voxel size and where it
came from, the isotropic output, each channel's estimated degradation, the optics its
metadata gives, whether the shipped model has seen such sampling, and the command to run.
"""

from __future__ import annotations

from pathlib import Path

from . import optics
from .checkpoint import read_card, shipped_weights
from .degrade import estimate_degradation
from .errors import IsonbError
from .io import Stack, TimeSeries, VoxelSize, read_optics, read_stack, read_time_series
from .volume import isotropic_depth, percentile_range


def outside_shipped_range(voxel_size: VoxelSize) -> list[str]:
    """The sampling figures (pixel size, dz/dx) outside 1/1.5-1.5x the range the shipped
    model was trained on, each said with that range; empty where all lie inside."""
    sizes = [d["voxel_size_um"] for d in read_card(shipped_weights()).get("training_data", [])]
    if not sizes:
        return []
    dz, _, dx = voxel_size
    seen = {"pixel size": ([s[2] for s in sizes], dx, " µm"),
            "dz/dx": ([s[0] / s[2] for s in sizes], dz / dx, "")}
    return [f"{name} {value:.3g}{unit} (trained on {min(r):.3g}-{max(r):.3g}{unit})"
            for name, (r, value, unit) in seen.items()
            if not min(r) / 1.5 <= value <= max(r) * 1.5]


def _series(path: Path, voxel_size: VoxelSize | None, axes: str | None, series: int | None
            ) -> tuple[TimeSeries, str | None]:
    """The file's every channel and time point, memory-mapped, and why its voxel size cannot
    be used for restoring (None when it can): what fails only when the size is required."""
    try:
        return read_time_series(path, voxel_size, "all", True, axes, series), None
    except IsonbError as err:
        return read_time_series(path, voxel_size, "all", False, axes, series), str(err)


def describe(path: str | Path, voxel_size: VoxelSize | None = None, axes: str | None = None,
             series: int | None = None, estimate: bool = True) -> list[str]:
    """Lines saying what isonb reads in the file at `path` and what restoring it involves
    (options as `io.read_stack`); with `estimate`, each channel's degradation estimated
    from its first time point (seconds on a large stack). Bad input raises as reading does."""
    path = Path(path)
    found, unusable = _series(path, voxel_size, axes, series)
    channels, times = len(found.channels), len(found)

    def channel(c: int) -> Stack:  # of the first time point, one channel in memory at a time
        return read_stack(path, voxel_size, c if channels > 1 else None,
                          0 if found.has_time else None, axes=axes, series=series, mmap=True)

    first = channel(0)
    nz, ny, nx = first.data.shape
    lines = [f"{path}", f"  read as: {nz} planes of {ny} x {nx} px (z, y, x), {channels} "
             f"channel(s), {times} time point(s); stored as {found.data.dtype.name} {found.axes} "
             f"{found.data.shape}"]
    size = None if unusable else found.size  # a size required to restore is one
    if size is None:
        lines.append(f"  voxel size: unusable: {unusable}")
    else:
        dz, dy, dx = size
        n_out = isotropic_depth(nz, dz, dx)
        mib = n_out * ny * nx * 4 * channels * times / 2**20
        lines += [f"  voxel size (dz, dy, dx): {dz:.4g}, {dy:.4g}, {dx:.4g} µm "
                  f"({'given' if voxel_size else 'from its metadata'}), dz/dx {dz / dx:.2f}",
                  f"  restored: {n_out} x {ny} x {nx} (z, y, x) on the isotropic grid, "
                  + (f"{mib / 1024:.2f} GiB" if mib >= 1024 else f"{mib:.1f} MiB")
                  + " as float32" + (" in all" if channels * times > 1 else "")]
    for c in range(channels):
        stack = first if c == 0 else channel(c)
        lo, hi = percentile_range(stack.data)
        line = (f"  {f'channel {c}: ' if channels > 1 else ''}intensities "
                f"{stack.data.min():.6g}..{stack.data.max():.6g} (0.1-99.9 %: {lo:.5g}..{hi:.5g})")
        if estimate and size is not None:
            deg = estimate_degradation(stack.data, size)
            line += f"; estimated {deg.describe(size[2], 'intensity units')}"
        lines.append(line)
    lines += _optics_lines(read_optics(path, series, list(range(channels))))
    if size is not None:
        outside = outside_shipped_range(size)
        lines.append("  shipped model: " + ("; ".join(outside) + ": outside its training "
                                            "range: train on it (below)" if outside
                                            else "its sampling lies within the training range"))
    return lines + _commands(path, _options(voxel_size, axes, series, size is not None),
                             channels, times)


def _commands(path: Path, options: list[str], channels: int, times: int) -> list[str]:
    """The restore command (every channel and time point) and the train command (the first)
    for this file, with its `options`; output and model beside the file, so that the
    commands for files of one name in several folders do not overwrite each other."""
    pick = [*(["--channel 0"] if channels > 1 else []), *(["--time 0"] if times > 1 else [])]
    every = [*(["--channel all"] if channels > 1 else []), *(["--time all"] if times > 1 else [])]
    stem = path.name.split(".")[0]
    out, model = path.with_name(f"{stem}_isotropic.tif"), path.with_name(f"{stem}_model")
    restore = f"python -m isonb restore {path} {out}"
    return ["  restore with the shipped model: " + " ".join([restore, *options, *every]),
            "  or train on it first (better; minutes): " + " ".join(
                [f"python -m isonb train {path} --out {model} --quick", *options, *pick])
            + f", then the same restore with --weights {model}"]


def _optics_lines(found: list[optics.Optics]) -> list[str]:
    """The lateral PSF's width each channel's metadata gives, or one line of why not."""
    why = [optics.missing(o) for o in found]
    if all(why) and len(set(why)) == 1:
        return [f"  optics: {why[0]} (--lateral-fwhm UM gives the lateral PSF's width)"]
    return [f"  {f'channel {c}: ' if len(found) > 1 else ''}optics: "
            + (f"{w} (--lateral-fwhm UM)" if w else f"lateral FWHM {optics.lateral_fwhm(o):.3f} "
               f"µm ({optics.describe(o)}): --lateral-fwhm auto uses it")
            for c, (o, w) in enumerate(zip(found, why))]


def _options(voxel_size: VoxelSize | None, axes: str | None, series: int | None,
             has_size: bool) -> list[str]:
    """The stack options a command on this file needs."""
    size = (f"--voxel-size {' '.join(f'{v:g}' for v in voxel_size)}" if voxel_size else
            None if has_size else "--voxel-size DZ DY DX")
    return [o for o in (size, f"--axes {axes}" if axes else None,
                        f"--series {series}" if series else None) if o]


__all__ = ["describe", "outside_shipped_range"]
