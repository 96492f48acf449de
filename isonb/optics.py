"""The microscope's optics from a file's OME metadata (objective NA, wavelengths, acquisition
mode), and the lateral PSF width they give: what `restore --lateral-fwhm auto` deconvolves z
by, since the stack's planes alone cannot tell a sharp structure blurred by the PSF from a
blurred one (docs/RESULTS.md, "The z axis keeps the lateral PSF's blur")."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

import numpy as np

from .psf import LATERAL_FWHM_PER_WAVELENGTH

# OME's AcquisitionMode values, by the lateral PSF they give
CONFOCAL_MODES = ("LaserScanningConfocalMicroscopy", "SpinningDiskConfocal",
                  "SlitScanConfocal", "SweptFieldConfocal")
WIDEFIELD_MODES = ("WideField", "TotalInternalReflection", "TIRF")
_UM_PER = {"nm": 1e-3, "µm": 1.0, "um": 1.0, "mm": 1e3, "m": 1e6}


@dataclass(frozen=True)
class Optics:
    """What a file says of the optics that made one channel; None where it is silent."""

    na: float | None = None  # the objective's numerical aperture
    emission_um: float | None = None
    excitation_um: float | None = None
    mode: str | None = None  # OME AcquisitionMode, e.g. "WideField"


def from_ome(xml: str, image: int = 0, channel: int = 0) -> Optics:
    """The optics of one channel of one image (series) of an OME-XML document."""
    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        return Optics()
    images = _children(root, "Image")
    if not images:
        return Optics()
    img = images[min(image, len(images) - 1)]
    channels = [c for p in _children(img, "Pixels") for c in _children(p, "Channel")]
    attrs = channels[min(channel, len(channels) - 1)].attrib if channels else {}
    return Optics(na=_objective_na(root, img),
                  emission_um=_wavelength(attrs, "EmissionWavelength"),
                  excitation_um=_wavelength(attrs, "ExcitationWavelength"),
                  mode=attrs.get("AcquisitionMode"))


def _children(element: ET.Element, name: str) -> list[ET.Element]:
    """Direct children of that name, whatever the OME schema's namespace."""
    return [c for c in element if c.tag.rsplit("}", 1)[-1] == name]


def _objective_na(root: ET.Element, image: ET.Element) -> float | None:
    """LensNA of the objective the image's ObjectiveSettings name, or of the only objective."""
    objectives = [o for i in _children(root, "Instrument") for o in _children(i, "Objective")]
    wanted = [s.get("ID") for s in _children(image, "ObjectiveSettings")]
    chosen = [o for o in objectives if o.get("ID") in wanted] or \
        (objectives if len(objectives) == 1 else [])
    return _number(chosen[0].get("LensNA")) if chosen else None


def _wavelength(attrs: dict, name: str) -> float | None:
    """A wavelength attribute in µm (OME's default unit is nm)."""
    value = _number(attrs.get(name))
    scale = _UM_PER.get(attrs.get(f"{name}Unit", "nm"))
    return None if value is None or scale is None else value * scale


def _number(text: str | None) -> float | None:
    try:
        value = float(text) if text is not None else None
    except ValueError:
        return None
    return value if value is not None and np.isfinite(value) and value > 0 else None


def kind(optics: Optics) -> str | None:
    """"confocal", "widefield", or None where the mode is absent or neither."""
    if optics.mode in CONFOCAL_MODES:
        return "confocal"
    return "widefield" if optics.mode in WIDEFIELD_MODES else None


def missing(optics: Optics) -> str | None:
    """Why the lateral FWHM cannot be worked out from these optics; None when it can."""
    if optics.na is None:
        return "its metadata gives no objective NA"
    if optics.emission_um is None:
        return "its metadata gives no emission wavelength"
    if kind(optics) is None:
        mode = f"acquisition mode {optics.mode!r}" if optics.mode else "no acquisition mode"
        return f"its metadata gives {mode}, neither confocal nor widefield"
    return None


def lateral_fwhm(optics: Optics) -> float:
    """The lateral PSF's FWHM in µm: 0.51 λ / NA in widefield (λ the emission wavelength) and
    0.37 λ / NA in an ideal confocal, λ = √2 λex λem / √(λex² + λem²), the emission alone
    where the excitation is not given (within 3 % of `psf.confocal_psf`'s at NA 0.8-1.4)."""
    if why := missing(optics):
        raise ValueError(why)
    confocal = kind(optics) == "confocal"
    wavelength = optics.emission_um
    if confocal and optics.excitation_um is not None:
        ex, em = optics.excitation_um, optics.emission_um
        wavelength = np.sqrt(2) * ex * em / np.hypot(ex, em)
    return float(LATERAL_FWHM_PER_WAVELENGTH["confocal" if confocal else "widefield"]
                 * wavelength / optics.na)


def fix(optics: Optics) -> str:
    """What to pass instead, with the widths these optics give where only the mode is
    missing."""
    if optics.na is not None and optics.emission_um is not None:
        widths = {k: LATERAL_FWHM_PER_WAVELENGTH[k] * optics.emission_um / optics.na
                  for k in ("confocal", "widefield")}
        return (f"pass --lateral-fwhm UM (notebooks: LATERAL_FWHM): NA {optics.na:g} and "
                f"emission {optics.emission_um * 1e3:.0f} nm give {widths['confocal']:.3f} in a "
                f"confocal, {widths['widefield']:.3f} in widefield")
    return ("pass --lateral-fwhm UM (notebooks: LATERAL_FWHM): about 0.37 lambda / NA in a "
            "confocal, 0.51 lambda / NA in widefield")


def describe(optics: Optics) -> str:
    """One line of where a width came from, for the user and the record."""
    ex = f", excitation {optics.excitation_um * 1e3:.0f} nm" if optics.excitation_um else ""
    return (f"{kind(optics)}, NA {optics.na:g}, emission {optics.emission_um * 1e3:.0f} nm{ex}")
