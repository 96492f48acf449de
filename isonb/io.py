"""Reading and writing .tif stacks with their voxel size (ImageJ or OME-XML metadata)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tifffile

from .errors import IsonbError, fail

VoxelSize = tuple[float, float, float]  # (dz, dy, dx) in micrometres

_UM_PER_UNIT = {
    "µm": 1.0, "um": 1.0, "micron": 1.0, "microns": 1.0, "micrometer": 1.0,
    "micrometre": 1.0, "\\u00B5m": 1.0, "nm": 1e-3, "nanometer": 1e-3, "mm": 1e3,
    "millimeter": 1e3, "cm": 1e4, "centimeter": 1e4, "m": 1e6, "meter": 1e6,
}


@dataclass
class Stack:
    """A 3D stack (z, y, x) as float32, with its voxel size in µm when known."""

    data: np.ndarray
    voxel_size: VoxelSize | None
    path: Path


def read_stack(
    path: str | Path,
    voxel_size: VoxelSize | None = None,
    channel: int | None = None,
    time: int | None = None,
    require_voxel_size: bool = False,
) -> Stack:
    """Read a 3D stack; `voxel_size` overrides the file's metadata.

    Stacks with channels or time points need `channel` / `time`; singleton axes are dropped.
    Every problem raises an `IsonbError` naming the file and the fix.
    """
    path = Path(path)
    if not path.exists():
        raise fail(path, "no such file", "check the path")
    try:
        with tifffile.TiffFile(path) as tif:
            series = tif.series[0]
            axes = series.axes
            data = series.asarray()
            meta_voxel = _voxel_size_from_metadata(tif)
    except (tifffile.TiffFileError, ValueError, OSError) as err:
        raise fail(path, f"not a readable TIFF ({err})", "give a .tif/.tiff stack") from None

    data = _select_zyx(data, axes, channel, time, path)
    _check_values(data, path)
    size = tuple(float(v) for v in voxel_size) if voxel_size is not None else meta_voxel
    if size is not None:
        size = _check_voxel_size(size, path)
    elif require_voxel_size:
        raise fail(path, "no voxel size in the file's metadata",
                   "pass it explicitly, e.g. --voxel-size DZ DY DX (in µm)")
    return Stack(data.astype(np.float32, copy=False), size, path)


def read_image(path: str | Path) -> np.ndarray:
    """Read any TIFF as a float32 array with singleton axes dropped (e.g. a 2D axial slice)."""
    path = Path(path)
    if not path.exists():
        raise fail(path, "no such file", "check the path")
    try:
        data = np.squeeze(tifffile.imread(path))
    except (tifffile.TiffFileError, ValueError, OSError) as err:
        raise fail(path, f"not a readable TIFF ({err})", "give a .tif/.tiff file") from None
    _check_finite(data, path)
    return data.astype(np.float32, copy=False)


def find_stacks(folder: str | Path) -> list[Path]:
    """The .tif / .tiff files of a folder, sorted; an error naming the folder when none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise fail(folder, "is not a folder", "give the folder that holds your .tif stacks")
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".tif", ".tiff"))
    if not paths:
        raise fail(folder, "holds no .tif or .tiff file", "copy your stacks there")
    return paths


def write_stack(
    path: str | Path,
    data: np.ndarray,
    voxel_size: VoxelSize | None,
    overwrite: bool = False,
) -> Path:
    """Write a (z, y, x) stack as an ImageJ TIFF that keeps its voxel size in µm.

    float64 data is stored as float32; an existing file is kept unless `overwrite`.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise fail(path, "exists already", "choose another name or pass --overwrite")
    data = np.asarray(data)
    if data.dtype not in (np.uint8, np.uint16, np.float32):
        data = data.astype(np.float32)
    kwargs: dict = {"imagej": True, "metadata": {"axes": "ZYX" if data.ndim == 3 else "YX"}}
    if voxel_size is not None:
        dz, dy, dx = voxel_size
        kwargs["resolution"] = (1.0 / dx, 1.0 / dy)
        kwargs["metadata"].update(spacing=dz, unit="um")
    path.parent.mkdir(parents=True, exist_ok=True)
    tifffile.imwrite(path, data, **kwargs)
    return path


def _select_zyx(data: np.ndarray, axes: str, channel: int | None, time: int | None,
                path: Path) -> np.ndarray:
    """Reduce a TIFF series to (z, y, x), picking the channel/time asked for.

    Samples per pixel (RGB, axis S) count as channels when the file has no C axis.
    """
    axes = axes.upper()
    if "S" in axes and "C" not in axes:
        axes = axes.replace("S", "C")
    picks = {"C": channel, "T": time}
    names = {"C": "channel", "T": "time"}
    for ax in "CTS":
        if ax not in axes:
            continue
        i = axes.index(ax)
        n = data.shape[i]
        pick = picks.get(ax)
        if n == 1:
            pick = 0
        elif pick is None:
            found = ", ".join(f"{a}={s}" for a, s in zip(axes, data.shape))
            what = names.get(ax, "sample")
            option = f"--{names[ax]} K" if ax in names else "a grayscale stack"
            raise fail(path, f"has {n} {what} entries (axes {found})", f"choose one with {option}")
        elif not 0 <= pick < n:
            raise fail(path, f"{names[ax]} {pick} out of range 0..{n - 1}",
                       f"choose a {names[ax]} between 0 and {n - 1}")
        data = np.take(data, pick, axis=i)
        axes = axes[:i] + axes[i + 1:]
    keep = [i for i, (a, s) in enumerate(zip(axes, data.shape)) if s > 1 or a in "YX"]
    data = data.reshape([data.shape[i] for i in keep])
    if data.ndim == 2:
        raise fail(path, f"is a 2D image {data.shape}, not a 3D stack",
                   "give a z-stack (z, y, x), or use --axial-slices to restore 2D axial slices")
    if data.ndim != 3:
        found = ", ".join(f"{axes[i]}={data.shape[j]}" for j, i in enumerate(keep))
        raise fail(path, f"has {data.ndim} non-singleton axes ({found})",
                   "give a (z, y, x) stack, choosing --channel / --time where needed")
    return data


def _check_finite(data: np.ndarray, path: Path) -> None:
    if data.size == 0:
        raise fail(path, "is empty", "give a stack with data")
    if np.issubdtype(data.dtype, np.floating) and not np.isfinite(data).all():
        n = int((~np.isfinite(data)).sum())
        raise fail(path, f"contains {n} NaN/inf values",
                   "replace them (e.g. with 0) and save again")


def _check_values(data: np.ndarray, path: Path) -> None:
    _check_finite(data, path)
    if data.shape[0] < 2:
        raise fail(path, f"has only {data.shape[0]} z-plane", "give a stack of at least 2 planes")
    if data.min() == data.max():
        raise fail(path, f"is constant (every voxel is {data.flat[0]})",
                   "check the acquisition or the channel chosen")


def _check_voxel_size(size: tuple, path: Path) -> VoxelSize:
    if len(size) != 3 or not all(np.isfinite(v) and v > 0 for v in size):
        raise fail(path, f"invalid voxel size {size}", "give three positive numbers DZ DY DX in µm")
    dz, dy, dx = size
    if not np.isclose(dy, dx, rtol=1e-3):
        raise fail(path, f"pixels are not square (dy={dy}, dx={dx})", "resample y and x equally")
    return (float(dz), float(dy), float(dx))


def _voxel_size_from_metadata(tif: tifffile.TiffFile) -> VoxelSize | None:
    """(dz, dy, dx) in µm from OME-XML or ImageJ metadata; None when either is missing."""
    if tif.is_ome and tif.ome_metadata:
        size = _ome_voxel_size(tif.ome_metadata)
        if size is not None:
            return size
    ij = tif.imagej_metadata
    if ij and "spacing" in ij:
        page = tif.pages[0]
        unit = str(ij.get("unit", "um")).strip()
        scale = _UM_PER_UNIT.get(unit, _UM_PER_UNIT.get(unit.lower(), 1.0))
        try:
            xres = page.tags["XResolution"].value
            yres = page.tags["YResolution"].value
        except KeyError:
            return None
        dx = xres[1] / xres[0] * scale
        dy = yres[1] / yres[0] * scale
        return (float(ij["spacing"]) * scale, dy, dx)
    return None


def _ome_voxel_size(xml: str) -> VoxelSize | None:
    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        return None
    for el in root.iter():
        if el.tag.endswith("Pixels"):
            try:
                sizes = [float(el.attrib[f"PhysicalSize{a}"]) for a in "ZYX"]
            except KeyError:
                return None
            units = [el.attrib.get(f"PhysicalSize{a}Unit", "µm") for a in "ZYX"]
            return tuple(s * _UM_PER_UNIT.get(u, 1.0) for s, u in zip(sizes, units))  # type: ignore[return-value]
    return None


__all__ = ["Stack", "VoxelSize", "read_stack", "read_image", "write_stack", "IsonbError"]
