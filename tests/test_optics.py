"""The lateral PSF width from a file's OME metadata (`restore --lateral-fwhm auto`)."""

import json

import numpy as np
import pytest
import tifffile

from isonb import optics, psf
from isonb.cli import main
from isonb.io import read_optics, read_stack, write_stack

CONFOCAL = "LaserScanningConfocalMicroscopy"


def ome_xml(na: float | None = 1.2, mode: str | None = CONFOCAL,
            channels: tuple = ((488, 520),), shape: tuple = (12, 40, 44),
            unit: str | None = None, objectives: int = 1) -> str:
    """An OME-XML document as a microscope's software writes it: objectives of an instrument,
    the image's ObjectiveSettings naming the last one, wavelengths in nm by default."""
    other, last = ' LensNA="0.3"', "" if na is None else f' LensNA="{na}"'
    lens = [f'<Objective ID="Objective:{i}"{last if i == objectives - 1 else other}/>'
            for i in range(objectives)]
    mode_attr = f' AcquisitionMode="{mode}"' if mode else ""
    unit_attr = (f' ExcitationWavelengthUnit="{unit}" EmissionWavelengthUnit="{unit}"'
                 if unit else "")
    chans = "".join(f'<Channel ID="Channel:0:{c}" SamplesPerPixel="1"{mode_attr}{unit_attr} '
                    f'ExcitationWavelength="{ex}" EmissionWavelength="{em}"/>'
                    for c, (ex, em) in enumerate(channels))
    nz, ny, nx = shape
    return (f'<?xml version="1.0" encoding="UTF-8"?>'
            f'<OME xmlns="http://www.openmicroscopy.org/Schemas/OME/2016-06">'
            f'<Instrument ID="Instrument:0">{"".join(lens)}</Instrument>'
            f'<Image ID="Image:0"><InstrumentRef ID="Instrument:0"/>'
            f'<ObjectiveSettings ID="Objective:{objectives - 1}" RefractiveIndex="1.33"/>'
            f'<Pixels ID="Pixels:0" DimensionOrder="XYZCT" Type="uint16" SizeX="{nx}" '
            f'SizeY="{ny}" SizeZ="{nz}" SizeC="{len(channels)}" SizeT="1" PhysicalSizeX="0.1" '
            f'PhysicalSizeY="0.1" PhysicalSizeZ="0.3">{chans}'
            f'<TiffData IFD="0" PlaneCount="{nz * len(channels)}"/></Pixels></Image></OME>')


def write_ome_tiff(path, data: np.ndarray, **meta) -> None:
    """An OME-TIFF of (z, y, x) or (z, c, y, x) data with `ome_xml`'s metadata."""
    channels = meta.pop("channels", ((488, 520),))
    shape = (data.shape[0], *data.shape[-2:])
    tifffile.imwrite(path, data, description=ome_xml(channels=channels, shape=shape, **meta),
                     metadata=None)


def test_ome_metadata_is_read_per_channel_with_its_units_and_objective():
    xml = ome_xml(na=1.4, channels=((405, 460), (0.561, 0.6)), unit=None, objectives=2)
    first, second = optics.from_ome(xml, channel=0), optics.from_ome(xml, channel=1)
    assert first == optics.Optics(1.4, 0.46, 0.405, CONFOCAL)  # the ObjectiveSettings' lens
    assert second.na == 1.4 and second.emission_um == pytest.approx(0.6e-3)  # nm by default
    micrometres = optics.from_ome(ome_xml(channels=((0.488, 0.52),), unit="µm"))
    assert micrometres.emission_um == pytest.approx(0.52)
    assert optics.from_ome("not xml") == optics.Optics()


@pytest.mark.parametrize("na", [0.8, 1.0, 1.2])
def test_the_widths_match_the_simulators_psfs(na):
    """The textbook widths agree with the Debye PSFs `simulate` blurs its cases by."""
    confocal = optics.Optics(na, 0.52, 0.488, CONFOCAL)
    widefield = optics.Optics(na, 0.52, None, "WideField")
    dx = 0.02
    measured = {"confocal": psf.psf_fwhm(psf.confocal_psf(na, 1.33, 0.488, 0.52, dx), (dx,) * 3),
                "widefield": psf.psf_fwhm(psf.widefield_psf(na, 1.33, 0.52, dx), (dx,) * 3)}
    assert optics.lateral_fwhm(confocal) == pytest.approx(measured["confocal"][1], rel=0.04)
    assert optics.lateral_fwhm(widefield) == pytest.approx(measured["widefield"][1], rel=0.04)
    assert optics.lateral_fwhm(confocal) < optics.lateral_fwhm(widefield)


def test_what_is_missing_is_named_with_a_fix_that_gives_the_numbers():
    assert optics.missing(optics.Optics(None, 0.52, None, CONFOCAL)) == \
        "its metadata gives no objective NA"
    assert "no emission wavelength" in optics.missing(optics.Optics(1.2, None, None, CONFOCAL))
    no_mode = optics.Optics(1.0, 0.52, None, None)
    assert "no acquisition mode" in optics.missing(no_mode)
    assert "0.192 in a confocal, 0.265 in widefield" in optics.fix(no_mode)
    assert "'MultiPhotonMicroscopy'" in optics.missing(optics.Optics(1.0, 0.52, None,
                                                                      "MultiPhotonMicroscopy"))
    with pytest.raises(ValueError, match="no acquisition mode"):
        optics.lateral_fwhm(no_mode)


def test_restore_auto_deconvolves_by_the_metadata_width_as_the_number_does(tmp_path, capsys):
    data = np.random.default_rng(0).integers(0, 1000, (12, 40, 44)).astype(np.uint16)
    write_ome_tiff(tmp_path / "s.ome.tif", data, na=1.0, mode="WideField")
    width = optics.lateral_fwhm(read_optics(tmp_path / "s.ome.tif")[0])
    assert width == pytest.approx(0.51 * 0.52 / 1.0)
    args = ["--samples", "1", "--steps", "1"]
    assert main(["restore", str(tmp_path / "s.ome.tif"), str(tmp_path / "auto.tif"),
                 "--lateral-fwhm", "auto", *args]) == 0
    assert f"lateral FWHM {width:.3f} µm from its metadata (widefield, NA 1" in \
        capsys.readouterr().out
    assert main(["restore", str(tmp_path / "s.ome.tif"), str(tmp_path / "given.tif"),
                 "--lateral-fwhm", str(width), *args]) == 0
    assert main(["restore", str(tmp_path / "s.ome.tif"), str(tmp_path / "none.tif"),
                 *args]) == 0
    auto, given = read_stack(tmp_path / "auto.tif").data, read_stack(tmp_path / "given.tif").data
    np.testing.assert_array_equal(auto, given)
    assert np.abs(auto - read_stack(tmp_path / "none.tif").data).max() > 1.0
    record = json.loads((tmp_path / "auto.tif.json").read_text())
    assert record["settings"]["lateral_fwhm"] == pytest.approx(width)  # the number, not "auto"


def test_each_channel_gets_its_own_width_and_the_record_replays_them(tmp_path):
    data = np.random.default_rng(1).integers(0, 1000, (12, 2, 40, 44)).astype(np.uint16)
    write_ome_tiff(tmp_path / "two.ome.tif", data, channels=((405, 460), (561, 600)))
    out, again = tmp_path / "out.tif", tmp_path / "again.tif"
    assert main(["restore", str(tmp_path / "two.ome.tif"), str(out), "--channel", "all",
                 "--lateral-fwhm", "auto", "--samples", "1", "--steps", "1"]) == 0
    widths = json.loads((tmp_path / "out.tif.json").read_text())["settings"]["lateral_fwhm"]
    assert widths == pytest.approx([0.37 * np.sqrt(2) * ex * em / np.hypot(ex, em) / 1.2
                                    for ex, em in ((0.405, 0.46), (0.561, 0.6))])
    assert main(["restore", str(tmp_path / "two.ome.tif"), str(again), "--channel", "all",
                 "--settings", str(tmp_path / "out.tif.json")]) == 0
    np.testing.assert_array_equal(read_stack(again, channel=0).data,
                                  read_stack(out, channel=0).data)
    np.testing.assert_array_equal(read_stack(again, channel=1).data,
                                  read_stack(out, channel=1).data)


def test_a_file_without_the_optics_gets_one_line_naming_it_and_the_fix(tmp_path, capsys):
    stack = tmp_path / "imagej.tif"
    write_stack(stack, np.random.default_rng(0).uniform(0, 1, (8, 32, 32)).astype(np.float32),
                (0.3, 0.1, 0.1))
    assert main(["restore", str(stack), str(tmp_path / "o.tif"), "--lateral-fwhm", "auto"]) == 2
    err = capsys.readouterr().err.strip()
    assert f"{stack}: --lateral-fwhm auto: its metadata gives no objective NA. Fix: pass " \
           "--lateral-fwhm UM (notebooks: LATERAL_FWHM)" in err and "\n" not in err
    assert not (tmp_path / "o.tif").exists()
    with pytest.raises(SystemExit):
        main(["restore", str(stack), str(tmp_path / "o.tif"), "--lateral-fwhm", "wide"])
    assert "'wide' is neither a width in µm nor 'auto'" in capsys.readouterr().err


def test_the_notebooks_auto_width_is_the_commands(tmp_path):
    from isonb.checkpoint import shipped_weights
    from isonb.notebook import restore_stacks, stack_manifest

    data = np.random.default_rng(2).integers(0, 1000, (12, 40, 44)).astype(np.uint16)
    (tmp_path / "data").mkdir()
    stack = tmp_path / "data" / "s.ome.tif"
    write_ome_tiff(stack, data, na=0.9)
    manifest = stack_manifest(tmp_path, str(tmp_path / "data"))
    outputs = restore_stacks(tmp_path, manifest, {"ldm": str(shipped_weights())}, samples=1,
                             steps=1, uncertainty=False, lateral_fwhm="auto")
    assert main(["restore", str(stack), str(tmp_path / "cli.tif"), "--samples", "1", "--steps",
                 "1", "--lateral-fwhm", "auto"]) == 0
    restored = outputs[str(stack)]["ldm"]
    np.testing.assert_array_equal(read_stack(restored).data, read_stack(tmp_path / "cli.tif").data)
    record = json.loads((tmp_path / "cli.tif.json").read_text())
    assert record["settings"]["lateral_fwhm"] == pytest.approx(
        optics.lateral_fwhm(optics.Optics(0.9, 0.52, 0.488, CONFOCAL)))


def test_per_channel_widths_are_refused_for_one_stack_and_split_by_channel():
    from isonb.errors import IsonbError
    from isonb.restore import RestoreConfig, restore_network_slabs

    cfg = RestoreConfig(lateral_fwhm=[0.2, 0.3])  # as a record's JSON holds them
    assert cfg.lateral_fwhm == (0.2, 0.3) and cfg.channel(1).lateral_fwhm == 0.3
    assert RestoreConfig(lateral_fwhm=0.2).channel(1).lateral_fwhm == 0.2
    with pytest.raises(IsonbError, match="one per channel"):
        next(restore_network_slabs(np.ones((4, 16, 16), np.float32), (0.3, 0.1, 0.1), None,
                                   cfg))
    with pytest.raises(IsonbError, match="lateral FWHM 20.0 µm is outside"):
        RestoreConfig(lateral_fwhm=(0.2, 20.0))
