"""isonb on the real stacks of ../shared/data, met as a user meets them: their metadata, a
two-channel file, a field 667 px wide and the shipped model's restoration. Skipped where
the folder is absent (its README says what each stack is)."""

from pathlib import Path

import numpy as np
import pytest

from isonb import metrics
from isonb.cli import main
from isonb.errors import IsonbError
from isonb.io import read_channels, read_stack, write_stack

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
pytestmark = pytest.mark.skipif(not DATA.exists(), reason=f"{DATA}: no real stacks here")

# file -> (shape, voxel size (dz, dy, dx) in µm), as ../shared/data/README.md lists them
STACKS = {
    "brain_cells.tif": ((30, 510, 667), (5.0, 2.0, 2.0)),
    "spots.tif": ((17, 88, 89), (0.40, 0.094, 0.094)),
    "golgi_airyscan.tif": ((25, 137, 147), (0.39, 0.35, 0.35)),
}
TWO_CHANNELS = "dna_confocal_widefield.tif"  # (45, 2, 130, 133) ZCYX


@pytest.mark.parametrize("name", STACKS)
def test_real_stacks_read_with_their_voxel_sizes(name):
    shape, size = STACKS[name]
    stack = read_stack(DATA / name, require_voxel_size=True)
    assert stack.data.shape == shape
    assert stack.voxel_size == pytest.approx(size, rel=0.01)  # spots: an escaped µ unit tag


def test_a_two_channel_stack_asks_for_a_channel_in_one_line_and_reads_each():
    with pytest.raises(IsonbError) as e:
        read_stack(DATA / TWO_CHANNELS)
    message = str(e.value)
    assert TWO_CHANNELS in message and "--channel" in message and "\n" not in message
    confocal, widefield = read_channels(DATA / TWO_CHANNELS, require_voxel_size=True)
    assert confocal.data.shape == widefield.data.shape == (45, 130, 133)
    assert confocal.voxel_size == pytest.approx((0.50, 0.51, 0.51), rel=0.01)
    assert not np.array_equal(confocal.data, widefield.data)


def test_the_shipped_model_makes_real_spots_rounder_than_cubic(tmp_path):
    restored, cubic = tmp_path / "restored.tif", tmp_path / "cubic.tif"
    assert main(["restore", str(DATA / "spots.tif"), str(restored)]) == 0  # the shipped LDM
    assert main(["restore", str(DATA / "spots.tif"), str(cubic), "--method", "cubic"]) == 0
    out = read_stack(restored)
    assert out.data.shape == (69, 88, 89)  # (17 - 1) * 0.40 / 0.094 = 68 steps of dx
    assert out.voxel_size == pytest.approx((0.094,) * 3, rel=0.01)
    assert np.isfinite(out.data).all()
    # axial / lateral FWHM of the spots: 4.46 interpolated, 1.86 restored (real_data.md)
    assert metrics.fwhm_ratio(out.data) < 0.6 * metrics.fwhm_ratio(read_stack(cubic).data)


def test_every_channel_of_a_real_stack_restores_into_one_file(tmp_path):
    out = tmp_path / "both.tif"
    assert main(["restore", str(DATA / TWO_CHANNELS), str(out), "--channel", "all"]) == 0
    channels = read_channels(out)
    assert len(channels) == 2 and channels[0].data.shape == (44, 130, 133)
    assert not np.array_equal(channels[0].data, channels[1].data)


def test_tiles_of_a_wide_real_field_agree_with_the_whole_slice(tmp_path):
    """Issue 14: on a stack at least 600 px wide, `--tile 128` and the default agree within
    1 % of the intensity range at every voxel; with the shipped model they agree within
    1e-4, what the halo is sized for. Its regressor alone (`--diffusion off`), whose tiles
    are read with the narrower halo: with 32 px of it the volumes differ by 2e-4 of the
    range, with none by 5.6 %."""
    brain = read_stack(DATA / "brain_cells.tif")
    crop = tmp_path / "crop.tif"
    write_stack(crop, brain.data[:, 200:216], brain.voxel_size)  # 16 rows, 667 px wide
    whole, tiled = tmp_path / "whole.tif", tmp_path / "tiled.tif"
    off = ["--diffusion", "off"]
    assert main(["restore", str(crop), str(whole), *off]) == 0
    assert main(["restore", str(crop), str(tiled), "--tile", "128", *off]) == 0
    a, b = read_stack(whole).data, read_stack(tiled).data
    assert a.shape == (73, 16, 667)
    assert np.abs(a - b).max() <= 1e-4 * float(a.max() - a.min())
