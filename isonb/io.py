"""Reading and writing stacks with their voxel size: .tif (ImageJ or OME-XML metadata), and
with the `formats` extra .czi, .lif, .nd2 and OME-Zarr."""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tifffile

from . import optics
from .errors import IsonbError, fail
from .volume import MIN_Z_RATIO, planes_per_block

VoxelSize = tuple[float, float, float]  # (dz, dy, dx) in micrometres

_UM_PER_UNIT = {
    "µm": 1.0, "μm": 1.0, "um": 1.0, "micron": 1.0, "microns": 1.0, "micrometer": 1.0,
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
    axes: str | None = None,
    series: int | None = None,
    mmap: bool = False,
) -> Stack:
    """Read a 3D stack; `voxel_size` (dz, dy, dx) in µm overrides the file's metadata.

    .tif/.tiff are read by tifffile; .czi, .lif, .nd2 and OME-Zarr by bioio (the `formats`
    extra). Stacks with channels or time points need `channel` / `time`; `axes` (e.g.
    "CZYX") names the axes of a file without metadata; `series` picks a position of a
    multi-position file. With `require_voxel_size` (restoring, training) the voxel size must
    be known and plausible. With `mmap`, an uncompressed TIFF (as isonb writes them) is
    memory-mapped read-only instead of read: viewers and scores then load only what they
    use of a volume larger than memory. Every problem raises an `IsonbError` naming the file
    and the fix.
    """
    path = Path(path)
    data, file_axes, size = _read_any(path, voxel_size, require_voxel_size, axes, series, mmap)
    data = _select_zyx(data, file_axes, channel, time, path)
    _check_values(data, path)
    return Stack(data.astype(np.float32, copy=False), size, path)


def read_channels(
    path: str | Path,
    voxel_size: VoxelSize | None = None,
    time: int | None = None,
    require_voxel_size: bool = False,
    axes: str | None = None,
    series: int | None = None,
) -> list[Stack]:
    """Every channel of a stack, each as a `Stack` (one, for a single-channel file); the
    file is read once. Options as `read_stack`."""
    return read_time_series(path, voxel_size, "all", require_voxel_size, axes, series,
                            mmap=False).time_point(time)


class TimeSeries(Sequence):
    """A stack's time points, each the list of its channels' `Stack`s (every channel, or the
    one chosen), made when indexed: the file is read once, memory-mapped where it is stored
    uncompressed, so that a long series is not held whole as float32."""

    def __init__(self, data: np.ndarray, axes: str, size: VoxelSize | None, path: Path,
                 channel: int | str | None) -> None:
        self.data, self.axes, self.size, self.path = data, _channel_axes(axes), size, path
        for ax in "CT":  # every channel or time point of a z-stack saved on that axis: 2D
            _refuse_planes_saved_as(ax, axes.upper(), self.axes, data.shape, path)
        n = data.shape[self.axes.index("C")] if "C" in self.axes else 1
        self.channels = ([c if n > 1 else None for c in range(n)] if channel == "all"
                         else [channel])

    @property
    def has_time(self) -> bool:
        """Whether the file has a time axis (of any length)."""
        return "T" in self.axes

    def __len__(self) -> int:
        return self.data.shape[self.axes.index("T")] if self.has_time else 1

    def __getitem__(self, t: int) -> list[Stack]:
        if not 0 <= t < len(self):
            raise IndexError(t)
        return self.time_point(t)

    def time_point(self, t: int | None) -> list[Stack]:
        """The channels of time point `t` (None: the file's only one; else an error naming
        --time)."""
        stacks = []
        for c in self.channels:
            one = _select_zyx(self.data, self.axes, c, t, self.path)
            _check_values(one, self.path)
            stacks.append(Stack(one.astype(np.float32, copy=False), self.size, self.path))
        return stacks


def read_time_series(path: str | Path, voxel_size: VoxelSize | None = None,
                     channel: int | str | None = None, require_voxel_size: bool = False,
                     axes: str | None = None, series: int | None = None, mmap: bool = True
                     ) -> TimeSeries:
    """Every time point of a stack (`restore --time all`), with every channel (`channel`
    "all") or the one chosen. Options as `read_stack`."""
    path = Path(path)
    data, file_axes, size = _read_any(path, voxel_size, require_voxel_size, axes, series, mmap)
    return TimeSeries(data, file_axes, size, path, channel)


def _channel_axes(axes: str) -> str:
    """Axes in capitals, samples per pixel (RGB, S) counted as channels without a C axis."""
    axes = axes.upper()
    return axes.replace("S", "C") if "C" not in axes else axes


def _read_any(path: Path, voxel_size: VoxelSize | None, require_voxel_size: bool,
              axes: str | None, series: int | None, mmap: bool = False
              ) -> tuple[np.ndarray, str, VoxelSize | None]:
    """(data, axes, checked voxel size) of any supported file, before choosing channels."""
    if not path.exists():
        raise fail(path, "no such file", "check the path")
    if is_bioio_format(path):
        data, file_axes, meta_voxel, why = _read_bioio(path, series)
    else:
        data, file_axes, meta_voxel, why = _read_tiff(path, series, mmap)
    if axes is not None:
        if len(axes) != data.ndim or not set(axes.upper()) <= set("TCZYXS"):
            raise fail(path, f"--axes {axes} does not fit its {data.ndim} axes {data.shape}",
                       f"give {data.ndim} letters of T, C, Z, Y, X, e.g. "
                       f"{'TCZYX'[-data.ndim:] if data.ndim <= 5 else 'CZYX'}")
        file_axes = axes.upper()
    size = tuple(float(v) for v in voxel_size) if voxel_size is not None else meta_voxel
    if size is not None:
        size = _check_voxel_size(size, path)
        if require_voxel_size:
            _check_plausible(size, path, given=voxel_size is not None)
    elif require_voxel_size:
        raise fail(path, why or "no voxel size in the file's metadata",
                   "pass it explicitly, e.g. --voxel-size DZ DY DX (in µm, z first)")
    return data, file_axes, size


def _read_tiff(path: Path, series: int | None, mmap: bool = False
               ) -> tuple[np.ndarray, str, VoxelSize | None, str | None]:
    """(data, axes, voxel size or None, why it is missing) of one series of a TIFF; with
    `mmap` a memory map where the series is stored uncompressed in one piece."""
    try:
        with tifffile.TiffFile(path) as tif:
            n = len(tif.series)
            pick = _pick_series(path, n, series)
            s = tif.series[pick]
            data = _memmap(path, pick) if mmap else None
            data, axes = s.asarray() if data is None else data, s.axes
            meta_voxel, why = _voxel_size_from_metadata(tif)
    except (tifffile.TiffFileError, ValueError, OSError) as err:
        raise fail(path, f"not a readable TIFF ({err})",
                   "give a .tif/.tiff stack (or .czi, .lif, .nd2, .ome.zarr with "
                   "pip install 'isonb[formats]')") from None
    return data, axes, meta_voxel, why


def _memmap(path: Path, series: int) -> np.ndarray | None:
    """A read-only memory map of a TIFF series, or None where it is compressed or in pieces."""
    try:
        return tifffile.memmap(path, series=series, mode="r")
    except ValueError:
        return None


def _pick_series(path: Path, n: int, series: int | None) -> int:
    """The series (position) to read; a file with several says so and names --series."""
    if series is None:
        if n > 1:
            print(f"{path}: holds {n} series (positions); reading series 0 "
                  f"(choose another with --series K, 0..{n - 1})")
        return 0
    if not 0 <= series < n:
        raise fail(path, f"series {series} out of range 0..{n - 1}",
                   f"choose a --series between 0 and {n - 1}")
    return series


BIOIO_SUFFIXES = (".czi", ".lif", ".nd2", ".zarr", ".ome.zarr")


def is_bioio_format(path: Path) -> bool:
    """True for the microscope formats read through bioio (see `BIOIO_SUFFIXES`)."""
    return path.name.lower().endswith(BIOIO_SUFFIXES)


def _read_bioio(path: Path, series: int | None
                ) -> tuple[np.ndarray, str, VoxelSize | None, str | None]:
    """(data TCZYX, axes, voxel size or None, why missing) of one scene, through bioio."""
    try:
        from bioio import BioImage
    except ImportError:
        raise fail(path, f"{path.suffix} files are read with bioio, which is not installed",
                   "pip install 'isonb[formats]' (or convert the file to .tif)") from None
    try:
        img = BioImage(path)
        img.set_scene(_pick_series(path, len(img.scenes), series))
        data = np.asarray(img.get_image_data("TCZYX"))
        sizes = img.physical_pixel_sizes
    except Exception as err:  # noqa: BLE001 - a plugin's own error: say which file, and why
        raise fail(path, f"could not be read by bioio ({type(err).__name__}: {err})",
                   "install the bioio plugin for this format (pip install 'isonb[formats]') "
                   "or convert the file to .tif") from None
    if None in (sizes.Z, sizes.Y, sizes.X):
        return data, "TCZYX", None, "no voxel size in the file's metadata"
    return data, "TCZYX", (float(sizes.Z), float(sizes.Y), float(sizes.X)), None


def read_optics(path: str | Path, series: int | None = None,
                channels: Sequence[int | None] = (None,)) -> list[optics.Optics]:
    """The optics that recorded each of `channels` of a file's series, from its OME metadata
    (OME-TIFF; .czi, .lif, .nd2 through bioio), read once; empty where the file carries
    none, as an ImageJ TIFF does."""
    xml = _ome_xml(Path(path))
    return [optics.from_ome(xml, series or 0, c or 0) if xml else optics.Optics()
            for c in channels]


def metadata_lateral_fwhms(path: str | Path, series: int | None = None,
                           channels: Sequence[int | None] = (None,)) -> list[float]:
    """The lateral PSF's FWHM (µm) that the file's metadata gives for each of `channels`
    (`optics.lateral_fwhm`), each said in one line; an error naming the file and the fix
    where the metadata does not give it."""
    widths = []
    for channel, found in zip(channels, read_optics(path, series, channels)):
        if why := optics.missing(found):
            raise fail(path, f"--lateral-fwhm auto: {why}", optics.fix(found))
        widths.append(optics.lateral_fwhm(found))
        which = f" channel {channel}" if channel is not None else ""
        print(f"{path}{which}: lateral FWHM {widths[-1]:.3f} µm from its metadata "
              f"({optics.describe(found)})")
    return widths


def _ome_xml(path: Path) -> str | None:
    """The file's OME-XML, or None where it has none (or cannot be read: `read_stack` says why)."""
    if is_bioio_format(path):
        try:
            from bioio import BioImage

            return BioImage(path).ome_metadata.to_xml()
        except Exception:  # noqa: BLE001 - a reader without OME metadata: none to give
            return None
    try:
        with tifffile.TiffFile(path) as tif:
            return tif.ome_metadata if tif.is_ome else None
    except (tifffile.TiffFileError, ValueError, OSError):
        return None


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


def refuse_existing(*paths: str | Path | None, overwrite: bool = False) -> None:
    """Stop, naming the first of `paths` that exists, unless `overwrite`: nothing is replaced
    without being asked."""
    for path in paths:
        if path and not overwrite and Path(path).exists():
            raise fail(path, "exists already", "choose another name or pass --overwrite")


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
    refuse_existing(path, overwrite=overwrite)
    data = np.asarray(data)
    if data.dtype not in (np.uint8, np.uint16, np.float32):
        data = data.astype(np.float32)
    if path.name.lower().endswith(".zarr"):
        return write_stack_planes(path, iter(data), data.shape, voxel_size, overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    tifffile.imwrite(path, data, **_imagej_kwargs(voxel_size, IMAGEJ_AXES[data.ndim]))
    return path


IMAGEJ_AXES = {2: "YX", 3: "ZYX", 4: "ZCYX"}  # by number of axes, where none are given


def _imagej_kwargs(voxel_size: VoxelSize | None, axes: str) -> dict:
    """ImageJ TIFF options: the axes (YX, ZYX, ZCYX, TZYX or TZCYX) and the voxel size."""
    kwargs: dict = {"imagej": True, "metadata": {"axes": axes}}
    if voxel_size is not None:
        dz, dy, dx = voxel_size
        kwargs["resolution"] = (1.0 / dx, 1.0 / dy)
        kwargs["metadata"].update(spacing=dz, unit="um")
    return kwargs


def write_stack_planes(path: str | Path, planes: Iterable[np.ndarray], shape: tuple[int, ...],
                       voxel_size: VoxelSize | None, overwrite: bool = False,
                       axes: str | None = None) -> Path:
    """`write_stack` for a float32 stack given plane by plane: nothing larger than a few
    planes is held, so volumes larger than memory can be written. A path ending in .zarr
    is written as OME-Zarr (the `formats` extra), any other as an ImageJ TIFF; a 4D
    `shape` (z, c, y, x) takes its planes z by z, each z channel by channel; time series
    name their `axes` (TZYX, TZCYX: time point by time point)."""
    path = Path(path)
    refuse_existing(path, overwrite=overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    cast = (np.asarray(p, dtype=np.float32) for p in planes)
    if path.name.lower().endswith(".zarr"):
        if len(shape) != 3:
            raise fail(path, "OME-Zarr output takes one channel and time point", "write a "
                       ".tif (all channels and time points) or choose one with --channel K "
                       "(--time K)")
        return _write_ome_zarr(path, cast, shape, voxel_size)
    tifffile.imwrite(path, cast, shape=shape, dtype=np.float32,
                     **_imagej_kwargs(voxel_size, axes or IMAGEJ_AXES[len(shape)]))
    return path


ZARR_CHUNK = (16, 256, 256)  # (z, y, x) chunks of written OME-Zarr volumes


def _write_ome_zarr(path: Path, planes: Iterator[np.ndarray], shape: tuple[int, ...],
                    voxel_size: VoxelSize | None) -> Path:
    """An OME-Zarr (NGFF 0.4, one resolution level) written `ZARR_CHUNK[0]` planes at a time."""
    try:
        from bioio_ome_zarr.writers import OMEZarrWriter
    except ImportError:
        raise fail(path, "OME-Zarr is written with bioio-ome-zarr, which is not installed",
                   "pip install 'isonb[formats]' (or write a .tif)") from None
    if path.exists():
        shutil.rmtree(path)
    writer = OMEZarrWriter(path, level_shapes=[tuple(shape)], dtype="float32",
                           chunk_shape=[min(c, s) for c, s in zip(ZARR_CHUNK, shape)],
                           zarr_format=2, axes_names=["z", "y", "x"],
                           axes_types=["space"] * 3, axes_units=["micrometer"] * 3,
                           physical_pixel_size=list(voxel_size) if voxel_size else None)
    depth = ZARR_CHUNK[0]
    for z0 in range(0, shape[0], depth):
        slab = np.stack([next(planes) for _ in range(min(depth, shape[0] - z0))])
        writer.write_region(slab, (slice(z0, z0 + len(slab)), slice(0, shape[1]),
                                   slice(0, shape[2])))
    return path


def _select_zyx(data: np.ndarray, axes: str, channel: int | None, time: int | None,
                path: Path) -> np.ndarray:
    """Reduce a TIFF series to (z, y, x), picking the channel/time asked for.

    Samples per pixel (RGB, axis S) count as channels when the file has no C axis.
    """
    named, axes = axes.upper(), _channel_axes(axes)
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
            option = (f"--{names[ax]} K (notebooks: {names[ax].upper()} = K)" if ax in names
                      else "a grayscale stack")
            _refuse_planes_saved_as(ax, named, axes, data.shape, path)
            raise fail(path, f"has {n} {what} entries (axes {found})", f"choose one with {option}")
        elif not 0 <= pick < n:
            raise fail(path, f"{names[ax]} {pick} out of range 0..{n - 1}",
                       f"choose a {names[ax]} between 0 and {n - 1}")
        data = np.take(data, pick, axis=i)
        axes = axes[:i] + axes[i + 1:]
    keep = [i for i, (a, s) in enumerate(zip(axes, data.shape)) if s > 1 or a in "YX"]
    data = data.reshape([data.shape[i] for i in keep])
    kept = "".join(axes[i] for i in keep)
    if sorted(kept) == sorted("ZYX"):  # named in another order (--axes YXZ): z, y, x
        data = data.transpose([kept.index(a) for a in "ZYX"])
    elif data.ndim == 3 and kept[0] in "QI" and data.shape[2] < data.shape[0]:
        print(f"{path}: no axis names; read as (z, y, x) = {data.shape}, more planes than "
              "pixels along x: if z is its last axis, name the axes with --axes YXZ "
              "(notebooks: AXES)")
    if data.ndim == 2:
        raise fail(path, f"is a 2D image {data.shape}, not a 3D stack",
                   "give a z-stack (z, y, x), or use --axial-slices to restore 2D axial slices")
    if data.ndim != 3:
        found = ", ".join(f"{axes[i]}={data.shape[j]}" for j, i in enumerate(keep))
        raise fail(path, f"has {data.ndim} non-singleton axes ({found})",
                   "choose --channel / --time where needed, or name the axes of a file "
                   "without metadata with --axes (e.g. --axes CZYX; notebooks: CHANNEL, "
                   "TIME, AXES)")
    return data


RESAVE_AS_Z = {  # how a z-stack saved with its planes on another axis is saved again
    "C": "tifffile.imwrite(path, stack, imagej=True, metadata={'axes': 'ZYX'}) (tifffile "
         "writes a 3D array as channels by default)",
    "T": "in Fiji, Image > Properties: slices N, frames 1"}


def _refuse_planes_saved_as(ax: str, named: str, axes: str, shape: tuple[int, ...],
                            path: Path) -> None:
    """Stop on a z-stack whose planes lie on the file's (not an RGB image's) axis `ax`, C or
    T, with the fix (`_planes_as`)."""
    if ax in named and ax in RESAVE_AS_Z and _planes_as(axes, shape) == ax:
        found = ", ".join(f"{a}={s}" for a, s in zip(axes, shape))
        what = {"C": "channel", "T": "time"}[ax]
        raise fail(path, f"has {shape[axes.index(ax)]} {what} entries and no z axis (axes "
                   f"{found})", "if they are z-planes, name the axes: --axes ZYX (notebooks: "
                   f"AXES = \"ZYX\"), or save it again as z: {RESAVE_AS_Z[ax]}")


def _planes_as(axes: str, shape: tuple[int, ...]) -> str | None:
    """The one axis of several entries beside Y and X where a file has no z axis, as a
    z-stack saved without axes has (tifffile's ImageJ default writes a 3D array as channels,
    Fiji may save z as frames); None otherwise."""
    others = [a for a, s in zip(axes, shape) if s > 1 and a not in "YX"]
    return others[0] if len(others) == 1 and "Z" not in axes else None


def _check_finite(data: np.ndarray, path: Path) -> None:
    if data.size == 0:
        raise fail(path, "is empty", "give a stack with data")
    if not np.issubdtype(data.dtype, np.floating):
        return
    data = data.reshape(1) if data.ndim == 0 else data
    step = planes_per_block(data.shape)  # a memory map is read, not copied whole
    n = sum(int((~np.isfinite(data[i:i + step])).sum()) for i in range(0, len(data), step))
    if n:
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
        if np.isclose(dz, dy, rtol=1e-3):
            raise fail(path, f"pixels are not square (dy={dy}, dx={dx}): sizes given in x, y, "
                       "z order?", "give --voxel-size DZ DY DX, z first")
        raise fail(path, f"pixels are not square (dy={dy}, dx={dx})", "resample y and x equally")
    return (float(dz), float(dy), float(dx))


LATERAL_RANGE_UM = (0.01, 10.0)  # pixel sizes light microscopy uses


def _check_plausible(size: VoxelSize, path: Path, given: bool) -> None:
    """Stop on sizes that cannot be a light microscope's: nm typed as µm, or x, y, z order."""
    dz, _, dx = size
    where = "--voxel-size" if given else "the file's metadata"
    lo, hi = LATERAL_RANGE_UM
    if not lo <= dx <= hi:
        raise fail(path, f"pixel size dx={dx:g} µm (from {where}) is outside light "
                   f"microscopy's {lo:g}-{hi:g} µm", "give --voxel-size DZ DY DX in µm "
                   "(e.g. 0.5 0.1 0.1; 100 nm is 0.1)")
    if dz < MIN_Z_RATIO * dx:
        k = int(np.ceil(dx / dz))
        fix = ("check the order: --voxel-size takes DZ DY DX, z first" if given else
               f"bin its planes by {k} along z (Fiji: Image > Transform > Bin, z {k}), or "
               "give the right size with --voxel-size DZ DY DX")
        raise fail(path, f"dz={dz:g} µm is smaller than dx={dx:g} µm (from {where}); isonb "
                   "restores stacks whose z step is at least about the pixel size", fix)


def _voxel_size_from_metadata(tif: tifffile.TiffFile) -> tuple[VoxelSize | None, str | None]:
    """(dz, dy, dx) in µm from OME-XML or ImageJ metadata, and why it is None when it is."""
    if tif.is_ome and tif.ome_metadata:
        size = _ome_voxel_size(tif.ome_metadata)
        if size is not None:
            return size, None
    ij = tif.imagej_metadata
    if not ij or "spacing" not in ij:
        return None, "no voxel size in the file's metadata"
    unit = str(ij.get("unit", "um")).strip()
    scale = _UM_PER_UNIT.get(unit, _UM_PER_UNIT.get(unit.lower()))
    if scale is None:
        return None, f"its calibration unit is {unit!r}, not a length (uncalibrated)"
    page = tif.pages[0]
    try:
        xres = page.tags["XResolution"].value
        yres = page.tags["YResolution"].value
    except KeyError:
        return None, "no pixel size in the file's metadata"
    dx = xres[1] / xres[0] * scale
    dy = yres[1] / yres[0] * scale
    return (float(ij["spacing"]) * scale, dy, dx), None


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


__all__ = ["Stack", "VoxelSize", "read_stack", "read_channels", "read_image", "write_stack",
           "write_stack_planes",
           "IsonbError"]
