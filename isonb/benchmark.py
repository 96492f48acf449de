"""The public benchmark suite: simulated cases spanning BENCHMARK.md's ranges, and a
known-absence phantom whose ideal restoration is itself."""

from __future__ import annotations

import numpy as np

from .simulate import SimulationConfig

_SHAPE = (128, 256, 256)  # ground-truth grid; a 64x256x256 observed stack at z_step 2

# name -> config; structures, PSF models (axial/lateral FWHM ~3.1-9), z_step 1-4, SNR 5-20
CASES: dict[str, SimulationConfig] = {
    "nuclei-gauss4-z1-snr20": SimulationConfig(
        structure="nuclei", shape=_SHAPE, psf="gaussian", fwhm_lateral=0.25, fwhm_axial=1.0,
        z_step=1, snr=20, seed=11),
    "membranes-confocal1.0-z2-snr10": SimulationConfig(
        structure="membranes", shape=_SHAPE, psf="confocal", na=1.0, z_step=2, snr=10, seed=12),
    "sinusoids-widefield0.8-z3-snr15": SimulationConfig(
        structure="sinusoids", shape=_SHAPE, psf="widefield", na=0.8, z_step=3, snr=15, seed=13),
    "canaliculi-confocal0.8-z4-snr5": SimulationConfig(
        structure="canaliculi", shape=_SHAPE, psf="confocal", na=0.8, z_step=4, snr=5, seed=14),
    "mixed-gauss9-z2-snr8": SimulationConfig(
        structure="mixed", shape=_SHAPE, psf="gaussian", fwhm_lateral=0.25, fwhm_axial=2.25,
        z_step=2, snr=8, seed=15),
    "mixed-widefield1.0-z2-snr12": SimulationConfig(
        structure="mixed", shape=_SHAPE, psf="widefield", na=1.0, z_step=2, snr=12, seed=16),
    "puncta-confocal0.9-z3-snr6": SimulationConfig(
        structure="puncta", shape=_SHAPE, psf="confocal", na=0.9, z_step=3, snr=6, seed=17),
    "beads-confocal1.2-z3-snr10": SimulationConfig(  # the microscopist's first check
        structure="beads", shape=_SHAPE, psf="confocal", na=1.2, z_step=3, snr=10, seed=18),
}


def describe(cfg: SimulationConfig) -> str:
    """One line with what every quoted result must state: structure, PSF, z_step, SNR, seed."""
    if cfg.psf == "gaussian":
        psf = f"gaussian {cfg.fwhm_lateral:g}/{cfg.fwhm_axial:g} µm"
    else:
        psf = f"{cfg.psf} NA {cfg.na:g} n {cfg.n_immersion:g}"
    return (f"{cfg.structure}, {psf}, z_step {cfg.z_step}, SNR {cfg.snr:g}, seed {cfg.seed}, "
            f"grid {cfg.shape} @ {cfg.voxel_xy:g} µm")


# --- a known absence ---------------------------------------------------------------------

BOX_BACKGROUND, BOX_LEVEL, BOX_NOISE = 50.0, 1000.0, 5.0


def box_phantom(depth: int = 17, seed: int = 0) -> np.ndarray:
    """A z-invariant bright box (1000, x in [48, 80), y in [32, 64)) on a flat background (50)
    of 96x96 px, Gaussian noise of 5: the axial blur does not change it, so its ideal
    restoration is itself, and the background far from the box is a known absence."""
    vol = np.full((depth, 96, 96), BOX_BACKGROUND, np.float32)
    vol[:, 32:64, 48:80] = BOX_LEVEL
    rng = np.random.default_rng(seed)
    return vol + rng.normal(0, BOX_NOISE, vol.shape).astype(np.float32)


def box_artefacts(restored: np.ndarray) -> dict[str, float]:
    """What a restoration of `box_phantom` adds, as fractions of the box's contrast (950),
    4 planes from the top and bottom: `level` (the far background's offset), `halo` (its
    fall beside the box's left edge; negative where the edge spreads into the background
    instead), `overshoot` (inside the box, above its plateau),
    `plateau` (the plateau's error); `roughness`: the far background's std over the input
    noise's; `edge` (px): where the profile crosses half height, against the true 47.5."""
    contrast = BOX_LEVEL - BOX_BACKGROUND
    inner = restored[4:-4]
    far = inner[:, 8:88, 4:36]  # at least 12 px from the box
    profile = inner[:, 40:56, :].mean((0, 1))
    plateau = float(np.median(profile[56:72]))
    half = (BOX_BACKGROUND + plateau) / 2
    i = int(np.argmax(profile[36:60] >= half)) + 35  # the last pixel below half height
    edge = i + (half - profile[i]) / (profile[i + 1] - profile[i])
    return {"level": float(far.mean() - BOX_BACKGROUND) / contrast,
            "halo": float(BOX_BACKGROUND - profile[36:48].min()) / contrast,
            "overshoot": float(profile[48:80].max() - plateau) / contrast,
            "plateau": (plateau - BOX_LEVEL) / contrast,
            "roughness": float(far.std()) / BOX_NOISE, "edge": float(edge)}
