"""Pictures of volumes: side-by-side xy / xz / yz comparisons saved as PNG."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def orthogonal_views(vol: np.ndarray, z: int | None = None, y: int | None = None,
                     x: int | None = None) -> dict[str, np.ndarray]:
    """The xy, xz and yz planes through (z, y, x), centre by default; axial planes have z down."""
    nz, ny, nx = vol.shape
    z = nz // 2 if z is None else z
    y = ny // 2 if y is None else y
    x = nx // 2 if x is None else x
    return {"xy": vol[z], "xz": vol[:, y, :], "yz": vol[:, :, x]}


def display_range(vol: np.ndarray, pmin: float = 0.5, pmax: float = 99.8) -> tuple[float, float]:
    """Contrast limits from percentiles, so one bright voxel does not wash out the picture."""
    lo, hi = np.percentile(vol, [pmin, pmax])
    return float(lo), float(hi if hi > lo else lo + 1)


def save_comparison(volumes: dict[str, np.ndarray], path: str | Path,
                    views: tuple[str, ...] = ("xy", "xz"), aspect: dict | None = None) -> Path:
    """One column per volume (e.g. input / restored / ground truth), one row per view.

    All volumes must share the isotropic grid; each is shown with its own percentile contrast.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    names = list(volumes)
    first = orthogonal_views(volumes[names[0]])
    heights = [first[v].shape[0] / first[v].shape[1] for v in views]
    fig, axes = plt.subplots(len(views), len(names), squeeze=False,
                             figsize=(3.2 * len(names), 3.2 * sum(heights) + 0.4 * len(views)),
                             gridspec_kw={"height_ratios": heights})
    for j, name in enumerate(names):
        vol = volumes[name]
        lo, hi = display_range(vol)
        planes = orthogonal_views(vol)
        for i, view in enumerate(views):
            ax = axes[i, j]
            ax.imshow(planes[view], cmap="gray", vmin=lo, vmax=hi, interpolation="nearest")
            ax.set_title(f"{name} ({view})", fontsize=10)
            ax.axis("off")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
