"""Looking at volumes: side-by-side xy / xz / yz pictures, an interactive slice viewer with
synced sliders, line profiles with FWHM, and the plots the notebooks show.

Everything works without widgets (static matplotlib figures); with ipywidgets (JupyterLab,
classic Notebook, Colab) `view` adds sliders for z / y / x, a view switch and contrast.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .degrade import Degradation
from .psf import FWHM_PER_SIGMA, fwhm_1d


def orthogonal_views(vol: np.ndarray, z: int | None = None, y: int | None = None,
                     x: int | None = None) -> dict[str, np.ndarray]:
    """The xy, xz and yz planes through (z, y, x), centre by default; axial planes have z down."""
    nz, ny, nx = vol.shape
    z = nz // 2 if z is None else z
    y = ny // 2 if y is None else y
    x = nx // 2 if x is None else x
    return {"xy": vol[z], "xz": vol[:, y, :], "yz": vol[:, :, x]}


DISPLAY_VOXELS = 1 << 24  # contrast of larger volumes from evenly spaced planes of them


def display_range(vol: np.ndarray, pmin: float = 0.5, pmax: float = 99.8) -> tuple[float, float]:
    """Contrast limits from percentiles, so one bright voxel does not wash out the picture
    (of a volume above `DISPLAY_VOXELS`, from every k-th plane: no copy of the whole)."""
    k = -(-vol.size // DISPLAY_VOXELS)
    lo, hi = np.percentile(vol[::k], [pmin, pmax])
    return float(lo), float(hi if hi > lo else lo + 1)


def _plt():
    import matplotlib

    if matplotlib.get_backend().lower() not in ("module://matplotlib_inline.backend_inline",
                                                "nbagg", "widget", "ipympl"):
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def comparison_figure(volumes: dict[str, np.ndarray], views: tuple[str, ...] = ("xy", "xz"),
                      point: tuple[int, int, int] | None = None,
                      percentiles: tuple[float, float] = (0.5, 99.8)):
    """A figure with one column per volume and one row per view, all through `point`.

    Volumes named "uncertainty ..." (spread maps) are drawn in a colour map from zero, with a
    colour bar in the stack's intensity units (the spread is one standard deviation).
    """
    plt = _plt()
    names = list(volumes)
    z, y, x = point if point is not None else (None, None, None)
    first = orthogonal_views(volumes[names[0]], z, y, x)
    heights = [first[v].shape[0] / first[v].shape[1] for v in views]
    fig, axes = plt.subplots(len(views), len(names), squeeze=False,
                             figsize=(3.2 * len(names), 3.2 * sum(heights) + 0.4 * len(views)),
                             gridspec_kw={"height_ratios": heights})
    for j, name in enumerate(names):
        vol = volumes[name]
        is_map = is_uncertainty(name)
        lo, hi = (0.0, display_range(vol, 0, percentiles[1])[1]) if is_map else \
            display_range(vol, *percentiles)
        planes = orthogonal_views(vol, z, y, x)
        for i, view in enumerate(views):
            ax = axes[i, j]
            image = ax.imshow(planes[view], cmap="magma" if is_map else "gray", vmin=lo,
                              vmax=hi, interpolation="nearest")
            ax.set_title(f"{name} ({view})", fontsize=10)
            ax.axis("off")
            if is_map:
                bar = fig.colorbar(image, ax=ax, fraction=0.046, pad=0.02)
                bar.ax.tick_params(labelsize=7)
                if i == 0:
                    bar.set_label("spread (1 s.d., intensity units)", fontsize=7)
    fig.tight_layout()
    return fig


def is_uncertainty(name: str) -> bool:
    """Whether a volume shown under `name` is an uncertainty (spread) map."""
    return name.lower().startswith("uncertainty")


def save_comparison(volumes: dict[str, np.ndarray], path: str | Path,
                    views: tuple[str, ...] = ("xy", "xz")) -> Path:
    """Save `comparison_figure` as a PNG (e.g. input / restored / ground truth)."""
    plt = _plt()
    fig = comparison_figure(volumes, views)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def profiles(vol: np.ndarray, point: tuple[int, int, int], half: int = 12
             ) -> dict[str, np.ndarray]:
    """Intensity through `point` along z (axial) and along x (lateral), `half` px each side."""
    z, y, x = point
    return {"axial (z)": vol[max(z - half, 0):z + half + 1, y, x],
            "lateral (x)": vol[z, y, max(x - half, 0):x + half + 1]}


def profile_figure(volumes: dict[str, np.ndarray], point: tuple[int, int, int],
                   spacing: float = 1.0, half: int = 12):
    """Line profiles through `point` in every volume, axial vs lateral, with their FWHM."""
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(9, 3))
    for name, vol in volumes.items():
        for ax, (direction, prof) in zip(axes, profiles(vol, point, half).items()):
            p = (prof - prof.min()) / max(float(np.ptp(prof)), 1e-12)
            w = fwhm_1d(prof, spacing)
            ax.plot((np.arange(len(p)) - len(p) // 2) * spacing, p,
                    label=f"{name}: FWHM {w:.2f}" if np.isfinite(w) else name)
            ax.set_title(direction)
    for ax in axes:
        ax.set_xlabel("µm" if spacing != 1.0 else "px")
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def brightest_point(vol: np.ndarray, margin: int = 12) -> tuple[int, int, int]:
    """The brightest voxel away from the borders: a handy default for line profiles."""
    inner = vol[margin:-margin, margin:-margin, margin:-margin]
    idx = np.unravel_index(int(np.argmax(inner)), inner.shape)
    return tuple(int(i) + margin for i in idx)  # type: ignore[return-value]


def small_structure_point(vol: np.ndarray) -> tuple[int, int, int]:
    """The brightest point-like structure (`metrics.small_structures`): line profiles through
    it measure the resolution, where one through a nucleus would measure the nucleus; the
    brightest voxel when there is none."""
    from .metrics import small_structures

    found = small_structures(vol)
    if not found:
        return brightest_point(vol)
    return max((p for p, _, _ in found), key=lambda p: vol[p])


def widgets_available() -> bool:
    """Whether interactive ipywidgets viewers can be shown (in a notebook kernel)."""
    try:
        import ipywidgets  # noqa: F401
        from IPython import get_ipython
    except ImportError:
        return False
    return get_ipython() is not None


def view(volumes: dict[str, np.ndarray], spacing: float = 1.0, interactive: bool | None = None):
    """Show volumes side by side: a static picture of the central planes (kept, as a JPEG, in
    saved notebooks), plus (with widgets) a slice viewer with synced z / y / x sliders, a view
    switch, percentile contrast and line profiles, drawn below it once a control moves."""
    import io

    from IPython.display import Image, display

    plt = _plt()
    interactive = widgets_available() if interactive is None else interactive
    fig = comparison_figure(volumes, ("xy", "xz", "yz"))
    picture = io.BytesIO()
    fig.savefig(picture, format="jpeg", dpi=80, pil_kwargs={"quality": 85})
    plt.close(fig)
    display(Image(data=picture.getvalue(), format="jpeg"))
    if not interactive:
        return None
    import ipywidgets as w

    nz, ny, nx = next(iter(volumes.values())).shape
    z = w.IntSlider(nz // 2, 0, nz - 1, description="z")
    y = w.IntSlider(ny // 2, 0, ny - 1, description="y")
    x = w.IntSlider(nx // 2, 0, nx - 1, description="x")
    views = w.SelectMultiple(options=["xy", "xz", "yz"], value=["xy", "xz"], description="views")
    contrast = w.FloatRangeSlider(value=(0.5, 99.8), min=0, max=100, step=0.1,
                                  description="contrast %")
    show_profiles = w.Checkbox(False, description="line profiles through (z, y, x)")

    untouched = [True]  # the static picture above is the first view: no second copy

    def draw(z, y, x, views, contrast, show_profiles):
        if untouched[0]:
            untouched[0] = False
            return
        fig = comparison_figure(volumes, tuple(views) or ("xy",), (z, y, x), contrast)
        plt.show()
        plt.close(fig)
        if show_profiles:
            fig = profile_figure(volumes, (z, y, x), spacing)
            plt.show()
            plt.close(fig)

    out = w.interactive_output(draw, dict(z=z, y=y, x=x, views=views, contrast=contrast,
                                          show_profiles=show_profiles))
    ui = w.VBox([w.HBox([z, y, x]), w.HBox([views, contrast, show_profiles]), out])
    display(ui)
    return ui


def montage(patches: np.ndarray, n: int = 16, title: str = ""):
    """The first `n` patches in a grid."""
    plt = _plt()
    n = min(n, len(patches))
    cols = min(8, n)
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(1.6 * cols, 1.6 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, p in zip(axes.ravel(), patches[:n]):
        ax.imshow(p, cmap="gray", interpolation="nearest")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def degradation_figure(deg: Degradation, dx: float, lateral_fwhm_um: float | None = None):
    """The estimated extra axial blur: profiles (coarsest and finest lateral detail, and the
    lateral PSF when known) and its FWHM by band of lateral frequency."""
    plt = _plt()
    fwhm = [s * FWHM_PER_SIGMA * dx for s in deg.band_sigmas] or [deg.fwhm_axial_extra(dx)]
    freqs = [f / dx for f in deg.band_freqs] or [0.0]
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(10, 3))
    r = np.linspace(-2, 2, 401) * max(max(fwhm), lateral_fwhm_um or 0.0)
    profiles = {"extra axial blur, coarse detail": fwhm[0],
                "extra axial blur, fine detail": fwhm[-1], "lateral PSF": lateral_fwhm_um}
    for label, f in profiles.items():
        if f:
            ax.plot(r, np.exp(-0.5 * (r * FWHM_PER_SIGMA / f) ** 2),
                    label=f"{label}, FWHM {f:.2f} µm")
    ax.set_xlabel("µm")
    ax.legend(fontsize=8)
    bx.plot(freqs, fwhm, "o-", label="by band (used for training)")
    bx.axhline(deg.fwhm_axial_extra(dx), color="gray", ls="--", label="one Gaussian")
    bx.set_xlabel("lateral frequency (cycles/µm)")
    bx.set_ylabel("extra axial FWHM (µm)")
    bx.legend(fontsize=8)
    fig.tight_layout()
    return fig


def metric_bars(rows: list[dict], keys: tuple[str, ...] = ("ssim", "psnr", "coc", "ssim_xy")):
    """One bar chart per metric, one bar per method (rows as from `metrics.evaluate`)."""
    plt = _plt()
    methods = [r["method"] for r in rows]
    fig, axes = plt.subplots(1, len(keys), figsize=(3.2 * len(keys), 3))
    for ax, k in zip(axes, keys):
        ax.bar(range(len(rows)), [r[k] for r in rows], color="tab:blue")
        ax.set_xticks(range(len(rows)), methods, rotation=60, ha="right", fontsize=8)
        ax.set_title(k)
    fig.tight_layout()
    return fig


def error_maps(volumes: dict[str, np.ndarray], gt: np.ndarray, y: int | None = None):
    """|prediction - ground truth| on the central xz plane, after the benchmark's scaling."""
    from .metrics import affine_fit, gt_limits

    plt = _plt()
    y = gt.shape[1] // 2 if y is None else y
    lo, scale = gt_limits(gt)
    g = (np.asarray(gt[:, y], dtype=np.float64) - lo) / scale  # the plane, not the volume
    fig, axes = plt.subplots(1, len(volumes), figsize=(3.2 * len(volumes), 2.2), squeeze=False)
    for ax, (name, vol) in zip(axes[0], volumes.items()):
        err = np.abs(affine_fit(vol[:, y], g) - g)
        ax.imshow(err, cmap="magma", vmin=0, vmax=0.5)
        ax.set_title(f"{name}: |error| (xz)", fontsize=9)
        ax.axis("off")
    fig.tight_layout()
    return fig
