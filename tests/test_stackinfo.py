"""`python -m isonb info`: what isonb reads in a file and what restoring it involves."""

import numpy as np
import tifffile
from test_optics import write_ome_tiff

from isonb import optics
from isonb.cli import main
from isonb.degrade import estimate_degradation
from isonb.io import read_optics, read_stack, write_stack
from isonb.stackinfo import describe, outside_shipped_range


def test_a_two_channel_ome_tiff_is_described_as_isonb_reads_it(tmp_path):
    path = tmp_path / "cells.ome.tif"
    rng = np.random.default_rng(0)
    data = rng.integers(100, 4000, (12, 2, 40, 44)).astype(np.uint16)  # (z, c, y, x)
    write_ome_tiff(path, data, na=1.2, channels=((488, 520), (561, 600)))
    text = "\n".join(describe(path))
    assert "12 planes of 40 x 44 px (z, y, x), 2 channel(s), 1 time point(s)" in text
    assert "voxel size (dz, dy, dx): 0.3, 0.1, 0.1 µm (from its metadata), dz/dx 3.00" in text
    assert "restored: 34 x 40 x 44 (z, y, x)" in text  # round(11 * 3) + 1 planes
    widths = [optics.lateral_fwhm(o) for o in read_optics(path, None, [0, 1])]
    for c, width in enumerate(widths):
        assert f"channel {c}: optics: lateral FWHM {width:.3f} µm" in text
    deg = estimate_degradation(read_stack(path, channel=1).data, (0.3, 0.1, 0.1))
    assert f"channel 1: intensities {data[:, 1].min()}..{data[:, 1].max()}" in text
    assert deg.describe(0.1, "intensity units") in text
    assert "restore cells.ome.tif" not in text  # the path as given, and every channel:
    out, model = tmp_path / "cells_isotropic.tif", tmp_path / "cells_model"  # beside it
    assert f"python -m isonb restore {path} {out} --channel all" in text
    assert f"python -m isonb train {path} --out {model} --quick --channel 0" in text


def test_files_of_one_name_in_several_folders_get_outputs_that_do_not_collide(tmp_path):
    """The embedded default's train_1/, train_2/ and test/ each hold an observed.tif."""
    for name in ("train_1", "test"):
        (tmp_path / name).mkdir()
        write_stack(tmp_path / name / "observed.tif",
                    np.random.default_rng(2).random((6, 16, 16)), (0.4, 0.2, 0.2))
    text = "\n".join(line for name in ("train_1", "test")
                     for line in describe(tmp_path / name / "observed.tif", estimate=False))
    for name in ("train_1", "test"):
        assert f"observed.tif {tmp_path / name / 'observed_isotropic.tif'}" in text
        assert f"--out {tmp_path / name / 'observed_model'} --quick" in text


def test_a_stack_without_voxel_size_says_so_and_what_to_pass(tmp_path):
    path = write_stack(tmp_path / "plain.tif", np.random.default_rng(1).random((5, 16, 16)),
                       None)
    text = "\n".join(describe(path))
    assert "voxel size: unusable: " in text and "no voxel size" in text
    assert "estimated" not in text and "restored:" not in text
    assert text.count("--voxel-size DZ DY DX") == 3  # the fix, the restore and train commands
    given = "\n".join(describe(path, voxel_size=(0.5, 0.2, 0.2)))
    assert "(given), dz/dx 2.50" in given and "--voxel-size 0.5 0.2 0.2" in given


def test_sampling_outside_the_shipped_models_range_is_named():
    assert outside_shipped_range((0.3, 0.1, 0.1)) == []
    far = outside_shipped_range((10.0, 2.0, 2.0))
    assert len(far) == 1 and far[0].startswith("pixel size 2 µm (trained on ")


def test_the_info_verb_describes_a_folder_and_a_stack_saved_as_channels(tmp_path, capsys):
    data = np.random.default_rng(2).integers(0, 1000, (6, 24, 24)).astype(np.uint16)
    (tmp_path / "in").mkdir()
    write_stack(tmp_path / "in" / "a.tif", data, (0.4, 0.2, 0.2))
    tifffile.imwrite(tmp_path / "in" / "b.tif", data, imagej=True)  # planes as channels
    assert main(["info", str(tmp_path / "in" / "a.tif"), "--no-estimate"]) == 0
    out = capsys.readouterr().out
    assert "6 planes of 24 x 24 px" in out and "estimated" not in out
    assert main(["info", str(tmp_path / "in")]) == 2  # every file said; b.tif with its fix
    said = capsys.readouterr()
    assert "a.tif\n  read as: 6 planes" in said.out
    assert "b.tif\n  cannot be read: " in said.out and "--axes ZYX" in said.out
    assert "1 of 2 files cannot be read" in said.err
    assert main(["info", str(tmp_path / "in" / "b.tif"), "--axes", "ZYX"]) == 0
    out = capsys.readouterr().out
    assert "6 planes of 24 x 24 px" in out and "--axes ZYX" in out


def test_a_time_series_is_described_with_its_time_points(tmp_path):
    path = tmp_path / "live.tif"
    data = np.random.default_rng(3).integers(0, 1000, (3, 6, 24, 24)).astype(np.uint16)
    tifffile.imwrite(path, data, imagej=True, metadata={"axes": "TZYX"})
    text = "\n".join(describe(path, voxel_size=(0.4, 0.2, 0.2)))
    assert "1 channel(s), 3 time point(s)" in text and "--time all" in text
    assert "--time 0" in text  # training takes one time point
