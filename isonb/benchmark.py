"""The public benchmark suite: simulated cases spanning BENCHMARK.md's ranges."""

from __future__ import annotations

from .simulate import SimulationConfig

_SHAPE = (128, 256, 256)  # ground-truth grid; a 64x256x256 observed stack at z_step 2

# name -> config; structures, PSF models (axial/lateral FWHM ~3.8-9), z_step 1-4, SNR 5-20
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
}


def describe(cfg: SimulationConfig) -> str:
    """One line with what every quoted result must state: structure, PSF, z_step, SNR, seed."""
    if cfg.psf == "gaussian":
        psf = f"gaussian {cfg.fwhm_lateral:g}/{cfg.fwhm_axial:g} µm"
    else:
        psf = f"{cfg.psf} NA {cfg.na:g} n {cfg.n_immersion:g}"
    return (f"{cfg.structure}, {psf}, z_step {cfg.z_step}, SNR {cfg.snr:g}, seed {cfg.seed}, "
            f"grid {cfg.shape} @ {cfg.voxel_xy:g} µm")
