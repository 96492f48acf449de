"""Pure array operations on stacks: normalisation, the isotropic grid, planes, patches, tiling.

Conventions: volumes are (z, y, x); an axial slice is a 2D image with z as its first axis
(xz slices are `vol[:, y, :]`, yz slices are `vol[:, :, x]`).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator

import numpy as np
from scipy.interpolate import make_interp_spline
from scipy.ndimage import maximum_filter, uniform_filter
from skimage.util import view_as_windows

from .choices import FUSIONS, check_choice
from .errors import IsonbError

# --- intensities -------------------------------------------------------------------------


def percentile_range(x: np.ndarray, pmin: float = 1.0, pmax: float = 99.8) -> tuple[float, float]:
    """The (low, high) percentiles used to normalise `x`; high > low always."""
    lo, hi = np.percentile(x, [pmin, pmax])
    if hi <= lo:
        hi = lo + max(abs(lo), 1.0) * 1e-6
    return float(lo), float(hi)


def normalize(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Map [lo, hi] to [0, 1] linearly (no clipping), as float32."""
    return ((np.asarray(x, dtype=np.float32) - lo) / (hi - lo)).astype(np.float32, copy=False)


def denormalize(y: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Inverse of `normalize`."""
    return (np.asarray(y, dtype=np.float32) * (hi - lo) + lo).astype(np.float32, copy=False)


BLOCK_VOXELS = 1 << 22  # voxels a pass by blocks reads at once: its float64 copies ~32 MiB
_BINS = 1 << 16


def planes_per_block(shape: tuple[int, ...], axis: int = 0, block: int = BLOCK_VOXELS) -> int:
    """How many planes across `axis` of an array of `shape` hold about `block` voxels (at
    least one): the step of the passes that read a large volume a block at a time."""
    return max(1, block * shape[axis] // int(np.prod(shape)))


def percentiles(vol: np.ndarray, q, block: int = BLOCK_VOXELS) -> np.ndarray:
    """`np.percentile(vol, q)` (linear interpolation) without a copy of a large volume (a
    memory map): the order statistics it interpolates are found exactly by histograms
    that narrow to the bins holding them, `block` voxels read at a time."""
    q = np.asarray(q, dtype=np.float64)
    if vol.size <= block:
        return np.percentile(vol, q)
    step = planes_per_block(vol.shape, 0, block)

    def chunks() -> Iterator[np.ndarray]:
        for i in range(0, vol.shape[0], step):
            yield np.asarray(vol[i:i + step], dtype=np.float64).ravel()

    lo, hi = np.inf, -np.inf
    for c in chunks():
        c_lo, c_hi = float(c.min()), float(c.max())
        if not (np.isfinite(c_lo) and np.isfinite(c_hi)):  # NaN or inf: numpy's rules, copied
            return np.percentile(vol, q)
        lo, hi = min(lo, c_lo), max(hi, c_hi)
    h = (vol.size - 1) * (q / 100)
    k = np.floor(h).astype(np.int64)
    k1 = np.minimum(k + 1, vol.size - 1)  # the order statistic above, within the data
    ranks = sorted({*k.ravel().tolist(), *k1.ravel().tolist()})
    x = _order_statistics(chunks, ranks, lo, hi, 0)
    # numpy's lerp from whichever end is nearer, in the data's float type for one q
    dtype = vol.dtype if q.ndim == 0 and vol.dtype.kind == "f" else np.float64
    below = np.array([x[r] for r in k.ravel()], dtype).reshape(k.shape)
    above = np.array([x[r] for r in k1.ravel()], dtype).reshape(k.shape)
    t = h - k if q.ndim else float(h - k)
    out = np.where(t >= 0.5, above - (above - below) * (1 - t), below + (above - below) * t)
    return out.astype(dtype, copy=False)


def _order_statistics(chunks: Callable[[], Iterator[np.ndarray]], ranks: list[int],
                      lo: float, hi: float, below: int, limit: int = 1 << 22
                      ) -> dict[int, float]:
    """The values of 0-based `ranks` in the sorted data that `chunks` yields, all known to
    lie in [lo, hi] with `below` values under lo: a histogram of [lo, hi], then each rank's
    bin gathered and sorted, or searched again when it holds more than `limit` values."""
    if lo == hi:
        return dict.fromkeys(ranks, lo)
    scale = _BINS / (hi - lo)

    def binned(c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # monotone in the value
        c = c[(c >= lo) & (c <= hi)]
        return c, np.minimum(((c - lo) * scale).astype(np.int64), _BINS - 1)

    counts = sum(np.bincount(binned(c)[1], minlength=_BINS) for c in chunks())
    ends = below + np.cumsum(counts)
    bin_of = {r: int(np.searchsorted(ends, r, side="right")) for r in ranks}
    found: dict[int, list[np.ndarray]] = {b: [] for b in bin_of.values()}
    bounds = {b: (np.inf, -np.inf) for b in found if counts[b] > limit}  # too many to gather
    for c in chunks():
        c, idx = binned(c)
        for b in found:
            inside = c[idx == b]
            if b not in bounds:
                found[b].append(inside)
            elif inside.size:
                bounds[b] = (min(bounds[b][0], inside.min()), max(bounds[b][1], inside.max()))
    out = {}
    for b in found:
        start = int(ends[b] - counts[b])
        here = [r for r in ranks if bin_of[r] == b]
        if b in bounds:
            out.update(_order_statistics(chunks, here, *map(float, bounds[b]), start, limit))
        else:
            values = np.sort(np.concatenate(found[b]))
            out.update({r: float(values[r - start]) for r in here})
    return out


def local_maxima(vol: np.ndarray, min_distance: int, threshold: float, exclude_border: int = 1,
                 block: int = 1 << 24) -> np.ndarray:
    """`skimage.feature.peak_local_max(vol, min_distance, threshold_abs=threshold,
    exclude_border=exclude_border)` of a 3D volume, found by slabs of planes (`block` voxels
    and a margin of `min_distance` planes each side), so a memory map is never copied whole:
    the same peaks in the same order (highest first, then spaced greedily)."""
    size, nz = 2 * min_distance + 1, vol.shape[0]
    step = planes_per_block(vol.shape, 0, block)
    coords, values, trivial = [], [], True
    for z0 in range(0, nz, step):
        a, b = max(z0 - min_distance, 0), min(z0 + step + min_distance, nz)
        slab = np.asarray(vol[a:b])
        core = slab[z0 - a:z0 - a + step]  # the planes this slab answers for
        is_max = (maximum_filter(slab, size=size, mode="nearest") == slab)[z0 - a:z0 - a + step]
        trivial &= bool(is_max.all())
        is_max &= core > threshold
        coords.append(np.argwhere(is_max) + (z0, 0, 0))
        values.append(core[is_max])  # in the same (C) order as argwhere's
    coords, values = np.concatenate(coords), np.concatenate(values)
    e = exclude_border
    inside = np.all((coords >= e) & (coords < np.array(vol.shape) - e), axis=1)
    if trivial:  # a constant volume has no peaks (as skimage says)
        inside[:] = False
    coords, values = coords[inside], values[inside]
    coords = coords[np.argsort(-values, kind="stable")]
    return _spaced(coords, min_distance) if min_distance > 1 else coords


def _spaced(coords: np.ndarray, spacing: int) -> np.ndarray:
    """Greedy thinning in order: drop every point closer than `spacing` (Chebyshev) to an
    earlier kept one, as skimage's peak spacing does."""
    from scipy.spatial import cKDTree

    near = cKDTree(coords).query_ball_point(coords, r=spacing - 0.5, p=np.inf)
    dropped = np.zeros(len(coords), bool)
    for i, js in enumerate(near):
        if not dropped[i]:
            dropped[[j for j in js if j > i]] = True
    return coords[~dropped]


# --- the isotropic grid ("aligned corners", BENCHMARK.md) ----------------------------------


# z steps down to 0.9 dx are taken (near-isotropic sampling, e.g. dz 0.50 µm, dx 0.51 µm):
# the output grid then has slightly fewer planes than the stack
MIN_Z_RATIO = 0.9
RESLICE_BLOCK = 1 << 22  # output voxels interpolated at once: float64 temporaries stay small


def isotropic_depth(nz: int, dz: float, dx: float) -> int:
    """Number of output planes: round((nz - 1) * dz / dx) + 1."""
    return int(round((nz - 1) * dz / dx)) + 1


def isotropic_positions(nz: int, dz: float, dx: float) -> np.ndarray:
    """Position of each output plane in units of observed-plane index (plane k at k*dx/dz)."""
    n_out = isotropic_depth(nz, dz, dx)
    return np.clip(np.arange(n_out) * (dx / dz), 0.0, nz - 1.0)


def reslice_isotropic(vol: np.ndarray, dz: float, dx: float, order: int = 3,
                      out: np.ndarray | None = None) -> np.ndarray:
    """Interpolate `vol` along z onto the isotropic grid of spacing `dx`.

    order 1 is linear, 3 a not-a-knot cubic spline; any ratio dz/dx is allowed. Blocks of
    rows are interpolated in turn, into `out` when given (float32 of the output's shape, for
    example a memory map on disk): memory then holds little more than the input.
    """
    if dz < MIN_Z_RATIO * dx:
        raise IsonbError(f"dz={dz} is smaller than dx={dx}; the z axis is already finer than xy")
    nz = vol.shape[0]
    pos = isotropic_positions(nz, dz, dx)
    out = np.empty((len(pos), *vol.shape[1:]), np.float32) if out is None else out
    k = min(order, nz - 1)
    same_grid = len(pos) == nz and np.allclose(pos, np.arange(nz))
    rows = max(1, RESLICE_BLOCK // (len(pos) * int(np.prod(vol.shape[2:], dtype=int))))
    for a in range(0, vol.shape[1], rows):  # columns are independent: a block of rows at a time
        block = np.asarray(vol[:, a:a + rows], dtype=np.float64)
        if same_grid:
            out[:, a:a + rows] = block
        else:
            out[:, a:a + rows] = make_interp_spline(np.arange(nz, dtype=np.float64), block,
                                                    k=k, axis=0)(pos)
    return out


# --- planes --------------------------------------------------------------------------------


def xz_planes(vol: np.ndarray) -> np.ndarray:
    """(z, y, x) -> stack of xz planes (y, z, x); each plane has z as its first axis."""
    return vol.transpose(1, 0, 2)


def yz_planes(vol: np.ndarray) -> np.ndarray:
    """(z, y, x) -> stack of yz planes (x, z, y); each plane has z as its first axis."""
    return vol.transpose(2, 0, 1)


# --- the two views fused -----------------------------------------------------------------

FUSION_SCALE = 32  # px: structures wider than this are averaged in an orientation fusion


def filter_mirrored(x: np.ndarray, pad: tuple[int, int],
                    transfer: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> np.ndarray:
    """Filter the last two axes of `x` by transfer(k0, k1) (frequencies in cycles/px) in the
    Fourier domain, mirror-padded by `pad` px so that the filter does not wrap around."""
    p0, p1 = pad
    padded = np.pad(x, [(0, 0)] * (x.ndim - 2) + [(p0, p0), (p1, p1)], mode="symmetric")
    k0 = np.fft.fftfreq(padded.shape[-2])[:, None]
    k1 = np.fft.rfftfreq(padded.shape[-1])[None, :]
    out = np.fft.irfft2(np.fft.rfft2(padded) * transfer(k0, k1), s=padded.shape[-2:])
    return out[..., p0:p0 + x.shape[-2], p1:p1 + x.shape[-1]].astype(np.float32)


def xz_share(ky: np.ndarray, kx: np.ndarray) -> np.ndarray:
    """Share of the xz-restored view at each lateral frequency in an orientation fusion:
    cos^2 of its angle to the x axis, eased to 1/2 below 1/FUSION_SCALE cycles/px, which
    keeps the filter's kernel local (it decays as exp(-2 pi r / FUSION_SCALE))."""
    k2 = ky**2 + kx**2
    return 0.5 + (kx**2 - ky**2) / (2 * (k2 + FUSION_SCALE**-2))


def resolve_fusion(fusion: str, is_ldm: bool, output: str = "mean") -> str:
    """`fusion` with "auto" made concrete: by orientation for the LDM's mean (+0.026 SSIM on
    the public suite, docs/RESULTS.md); the mean of the views for the reference networks, as
    their papers do, and for a posterior sample, whose noise the orientation fusion would not
    average (a flat background 3.3x rougher than the input's noise instead of 1.8x)."""
    if check_choice("fusion", fusion, FUSIONS) != "auto":
        return fusion
    return "orientation" if is_ldm and output == "mean" else "average"


def fuse_views(xz: np.ndarray, yz: np.ndarray, fusion: str = "average") -> np.ndarray:
    """One volume from the xz- and yz-restored ones, both (z, y, x).

    "average": their mean. "orientation": each lateral frequency mostly from the view whose
    slices run along it (`xz_share`): slices are restored one by one, so a view is
    consistent along its slices and not across them (Fourier filter on xy planes,
    mirror-padded).
    """
    mean = 0.5 * (xz + yz)
    if fusion == "average":
        return mean
    if fusion != "orientation":
        raise IsonbError(f"fusion={fusion!r}; Fix: choose average or orientation")
    return mean + filter_mirrored(xz - yz, (FUSION_SCALE, FUSION_SCALE),
                                  lambda ky, kx: xz_share(ky, kx) - 0.5)


# --- patches ---------------------------------------------------------------------------------


def patchify(image: np.ndarray, patch_size: tuple[int, ...], step: int = 1) -> np.ndarray:
    """Drop-in for `patchify.patchify` (0.2.3): all windows of `patch_size` every `step`.

    A 2D (m, n) image gives (i, j, ph, pw); a 3D one (i, j, k, pd, ph, pw). Returns a view.
    """
    return view_as_windows(image, patch_size, step)


def foreground_mask(image: np.ndarray, patch_size: tuple[int, int], threshold: float = 0.4,
                    percentile: float = 99.9) -> np.ndarray:
    """Where a patch centred there holds structure (CSBDeep's patch filter).

    True where the local maximum over the patch of a lightly smoothed image exceeds
    `threshold` times its global `percentile`.
    """
    smooth = uniform_filter(np.asarray(image, dtype=np.float32), size=3)
    ref = np.percentile(smooth, percentile)
    lo = np.percentile(smooth, 1.0)
    local_max = maximum_filter(smooth, size=tuple(max(1, p // 2) for p in patch_size))
    return (local_max - lo) > threshold * (ref - lo)


def patch_corners(
    images: np.ndarray,
    patch_size: tuple[int, int],
    n: int,
    rng: np.random.Generator,
    threshold: float = 0.4,
) -> np.ndarray:
    """(n, 3) (plane, y, x) corners of random (ph, pw) patches of a stack of 2D images
    (m, h, w), favouring foreground.

    Corners are drawn uniformly among positions whose patch holds structure
    (`foreground_mask`); when a plane has none, anywhere in it.
    """
    m, h, w = images.shape
    ph, pw = patch_size
    if h < ph or w < pw:
        raise IsonbError(f"images of {h}x{w} are smaller than the patch size {ph}x{pw}; "
                         "Fix: use a smaller patch size or a larger volume")
    out = np.empty((n, 3), dtype=np.int64)
    planes = rng.integers(0, m, size=n)
    masks: dict[int, np.ndarray] = {}
    for i, p in enumerate(planes):
        if p not in masks:
            fg = foreground_mask(images[p], patch_size, threshold)
            # fg is about patch centres; move to corners and keep only valid corners
            corners = np.zeros((h - ph + 1, w - pw + 1), dtype=bool)
            corners[:] = fg[ph // 2: ph // 2 + h - ph + 1, pw // 2: pw // 2 + w - pw + 1]
            masks[p] = np.flatnonzero(corners) if corners.any() else np.arange(corners.size)
        idx = masks[p][rng.integers(0, len(masks[p]))]
        out[i] = (p, *divmod(int(idx), w - pw + 1))
    return out


def cut_patches(images: np.ndarray, corners: np.ndarray, patch_size: tuple[int, int]
                ) -> np.ndarray:
    """The (n, ph, pw) patches of `images` (m, h, w) at `corners` (n, 3) as float32."""
    ph, pw = patch_size
    out = np.empty((len(corners), ph, pw), dtype=np.float32)
    for i, (p, y, x) in enumerate(corners):
        out[i] = images[p, y:y + ph, x:x + pw]
    return out


def sample_patches(images: np.ndarray, patch_size: tuple[int, int], n: int,
                   rng: np.random.Generator, threshold: float = 0.4) -> np.ndarray:
    """`n` random (ph, pw) patches from a stack of 2D images (m, h, w), favouring foreground
    (`patch_corners`)."""
    return cut_patches(images, patch_corners(images, patch_size, n, rng, threshold), patch_size)


def augment(patch: np.ndarray, rng: np.random.Generator, lateral: bool) -> np.ndarray:
    """A random flip (and, for lateral xy patches only, a 90° rotation) of a 2D patch.

    Axial patches (z first) are only flipped along z or along their lateral axis:
    rotating them would swap the axial and lateral directions, which are not alike.
    """
    if rng.random() < 0.5:
        patch = patch[::-1]
    if rng.random() < 0.5:
        patch = patch[:, ::-1]
    if lateral and patch.shape[0] == patch.shape[1] and rng.random() < 0.5:
        patch = patch.T
    return np.ascontiguousarray(patch)


# --- tiles with halos ------------------------------------------------------------------------


def halo_tiles(size: int, core: int, halo: int, multiple: int = 1
               ) -> list[tuple[slice, slice, slice]]:
    """Cut [0, size) into cores of `core` px read with `halo` px of context on each side.

    Returns (window, core in the window, core in the output) per tile. Cores, halos and
    windows start on multiples of `multiple` (a network's stride, the latent grid), so a
    network sees every tile on the same grid as the whole image; with a halo at least its
    receptive field, the cores it returns are those of the whole image. `size` should
    itself be a multiple of `multiple` (pad first).
    """
    core, halo = (-(-v // multiple) * multiple for v in (max(core, 1), max(halo, 0)))
    tiles = []
    for start in range(0, size, core):
        stop = min(start + core, size)
        lo, hi = max(start - halo, 0), min(stop + halo, size)
        tiles.append((slice(lo, hi), slice(start - lo, stop - lo), slice(start, stop)))
    return tiles


def iter_halo_tiles(shape: tuple[int, int], core: int, halo: int, multiple: int = 1
                    ) -> Iterator[tuple[tuple[slice, slice], tuple[slice, slice],
                                        tuple[slice, slice]]]:
    """`halo_tiles` on both axes of a 2D shape: (window, core in window, core in output)."""
    rows, cols = (halo_tiles(s, core, halo, multiple) for s in shape)
    for (wy, cy, oy), (wx, cx, ox) in itertools.product(rows, cols):
        yield (wy, wx), (cy, cx), (oy, ox)
