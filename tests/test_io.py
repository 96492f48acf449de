import re
import sys

import numpy as np
import pytest
import tifffile

from isonb.errors import IsonbError
from isonb.io import read_image, read_stack, write_stack, write_stack_planes


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_imagej_roundtrip_keeps_data_and_voxel_size(tmp_path, dtype):
    data = (np.arange(4 * 5 * 6) % 200).reshape(4, 5, 6).astype(dtype)
    path = write_stack(tmp_path / "a.tif", data, (0.75, 0.13, 0.13))
    stack = read_stack(path)
    assert stack.data.dtype == np.float32
    np.testing.assert_array_equal(stack.data, data.astype(np.float32))
    assert stack.voxel_size == pytest.approx((0.75, 0.13, 0.13), rel=1e-6)


def test_ome_physical_sizes_are_read(tmp_path):
    path = tmp_path / "ome.tif"
    data = np.random.default_rng(0).random((3, 8, 8)).astype(np.float32)
    tifffile.imwrite(path, data, ome=True, metadata={
        "axes": "ZYX", "PhysicalSizeZ": 0.5, "PhysicalSizeY": 100.0, "PhysicalSizeX": 100.0,
        "PhysicalSizeYUnit": "nm", "PhysicalSizeXUnit": "nm"})
    assert read_stack(path).voxel_size == pytest.approx((0.5, 0.1, 0.1))


def test_voxel_size_argument_overrides_metadata(tmp_path):
    data = np.random.default_rng(0).random((3, 8, 8))
    path = write_stack(tmp_path / "a.tif", data, (1.0, 0.2, 0.2))
    assert read_stack(path, voxel_size=(0.6, 0.3, 0.3)).voxel_size == (0.6, 0.3, 0.3)


def test_missing_voxel_size_names_file_and_fix(tmp_path):
    path = tmp_path / "plain.tif"
    data = np.random.default_rng(0).random((3, 8, 8)).astype(np.float32)
    tifffile.imwrite(path, data, photometric="minisblack")
    assert read_stack(path).voxel_size is None
    with pytest.raises(IsonbError, match=r"plain\.tif.*voxel size.*--voxel-size"):
        read_stack(path, require_voxel_size=True)


def test_2d_image_is_refused_with_axial_slices_hint(tmp_path):
    path = tmp_path / "slice.tif"
    tifffile.imwrite(path, np.random.default_rng(0).random((16, 16)).astype(np.float32))
    with pytest.raises(IsonbError, match=r"slice\.tif.*2D image.*--axial-slices"):
        read_stack(path)
    assert read_image(path).shape == (16, 16)


def test_channels_need_a_choice_and_the_error_lists_the_axes(tmp_path):
    path = tmp_path / "multi.tif"
    data = np.random.default_rng(1).random((4, 2, 8, 8)).astype(np.float32)
    tifffile.imwrite(path, data, imagej=True, metadata={"axes": "ZCYX"})
    with pytest.raises(IsonbError, match=r"multi\.tif.*2 channel.*Z=4, C=2.*--channel"):
        read_stack(path)
    np.testing.assert_array_equal(read_stack(path, channel=1).data, data[:, 1])
    with pytest.raises(IsonbError, match="out of range"):
        read_stack(path, channel=2)


def test_time_series_needs_a_choice(tmp_path):
    path = tmp_path / "movie.tif"
    data = np.random.default_rng(1).random((3, 4, 2, 8, 8)).astype(np.float32)
    tifffile.imwrite(path, data, imagej=True, metadata={"axes": "TZCYX"})
    with pytest.raises(IsonbError, match=r"3 time"):
        read_stack(path, channel=0)
    np.testing.assert_array_equal(read_stack(path, channel=0, time=2).data, data[2, :, 0])


@pytest.mark.parametrize("bad, message", [
    (np.full((3, 8, 8), np.nan, dtype=np.float32), "NaN"),
    (np.ones((3, 8, 8), dtype=np.float32), "constant"),
    (np.random.default_rng(0).random((1, 8, 8)).astype(np.float32), "2D image"),
])
def test_bad_values_are_refused(tmp_path, bad, message):
    path = tmp_path / "bad.tif"
    tifffile.imwrite(path, bad, photometric="minisblack")
    with pytest.raises(IsonbError, match=rf"bad\.tif.*{message}.*Fix"):
        read_stack(path)


def test_non_finite_values_are_counted_over_a_memory_mapped_stack(tmp_path):
    data = np.random.default_rng(0).random((40, 256, 512)).astype(np.float32)  # 2 blocks
    data[0, 1, 2] = data[39, 3, 4] = np.nan
    data[20, 5, 6] = np.inf
    path = tmp_path / "holes.tif"
    tifffile.imwrite(path, data)
    for mmap in (False, True):
        with pytest.raises(IsonbError, match=r"holes\.tif.*contains 3 NaN/inf values.*Fix"):
            read_stack(path, voxel_size=(0.2, 0.1, 0.1), mmap=mmap)


def test_single_plane_stack_is_refused(tmp_path):
    path = tmp_path / "thin.tif"
    data = np.random.default_rng(0).random((1, 2, 8, 8)).astype(np.float32)  # Z=1, 2 channels
    tifffile.imwrite(path, data, imagej=True, metadata={"axes": "ZCYX"})
    with pytest.raises(IsonbError, match="2D image"):
        read_stack(path, channel=0)


def test_missing_file_and_non_tiff(tmp_path):
    with pytest.raises(IsonbError, match="no such file"):
        read_stack(tmp_path / "nope.tif")
    junk = tmp_path / "junk.tif"
    junk.write_text("not a tiff")
    with pytest.raises(IsonbError, match="not a readable TIFF"):
        read_stack(junk)


def test_write_never_overwrites_unless_asked(tmp_path):
    path = write_stack(tmp_path / "a.tif", np.zeros((2, 4, 4), np.float32), None)
    with pytest.raises(IsonbError, match="exists already.*--overwrite"):
        write_stack(path, np.ones((2, 4, 4), np.float32), None)
    write_stack(path, np.ones((2, 4, 4), np.float32), None, overwrite=True)
    assert tifffile.imread(path).max() == 1


def test_non_square_pixels_are_refused(tmp_path):
    data = np.random.default_rng(0).random((3, 8, 8))
    path = write_stack(tmp_path / "a.tif", data, (1.0, 0.2, 0.3))
    with pytest.raises(IsonbError, match="not square"):
        read_stack(path)


def test_planar_rgb_samples_count_as_channels(tmp_path):
    path = tmp_path / "rgb.tif"
    data = np.random.default_rng(2).random((3, 16, 16)).astype(np.float32)
    tifffile.imwrite(path, data, photometric="rgb", planarconfig="separate")
    with pytest.raises(IsonbError, match=r"rgb\.tif.*3 channel.*--channel"):
        read_stack(path)


def test_find_stacks(tmp_path):
    from isonb.io import find_stacks

    with pytest.raises(IsonbError, match="no .tif"):
        find_stacks(tmp_path)
    for name in ("b.tif", "a.TIFF", "notes.txt"):
        (tmp_path / name).write_bytes(b"")
    assert [p.name for p in find_stacks(tmp_path)] == ["a.TIFF", "b.tif"]
    with pytest.raises(IsonbError, match="not a folder"):
        find_stacks(tmp_path / "b.tif")


def test_planes_written_one_by_one_read_back_as_a_stack(tmp_path):
    data = np.random.default_rng(3).random((5, 7, 9)).astype(np.float32)
    path = write_stack_planes(tmp_path / "p.tif", iter(data), data.shape, (0.4, 0.2, 0.2))
    stack = read_stack(path)
    np.testing.assert_array_equal(stack.data, data)
    assert stack.voxel_size == pytest.approx((0.4, 0.2, 0.2))
    with pytest.raises(IsonbError, match="exists already"):
        write_stack_planes(path, iter(data), data.shape, None)


def test_an_uncompressed_stack_is_memory_mapped_and_a_compressed_one_read(tmp_path):
    data = np.random.default_rng(4).random((5, 7, 9)).astype(np.float32)
    path = write_stack_planes(tmp_path / "p.tif", iter(data), data.shape, (0.4, 0.2, 0.2))
    mapped = read_stack(path, mmap=True)
    assert isinstance(mapped.data, np.memmap) and not mapped.data.flags.writeable
    np.testing.assert_array_equal(mapped.data, data)
    assert mapped.voxel_size == pytest.approx((0.4, 0.2, 0.2))
    packed = tmp_path / "z.tif"
    tifffile.imwrite(packed, data, imagej=True, compression="zlib", metadata={"axes": "ZYX"})
    read = read_stack(packed, mmap=True, voxel_size=(0.4, 0.2, 0.2)).data
    assert not isinstance(read, np.memmap)
    np.testing.assert_array_equal(read, data)


def test_a_pixel_calibration_is_no_voxel_size(tmp_path):
    path = tmp_path / "pixels.tif"
    tifffile.imwrite(path, np.random.default_rng(0).random((3, 8, 8)).astype(np.float32),
                     imagej=True, resolution=(1.0, 1.0),
                     metadata={"axes": "ZYX", "spacing": 1.0, "unit": "pixel"})
    assert read_stack(path).voxel_size is None
    with pytest.raises(IsonbError, match=r"pixels\.tif.*'pixel'.*--voxel-size DZ DY DX"):
        read_stack(path, require_voxel_size=True)


@pytest.mark.parametrize("size, message", [
    ((500.0, 100.0, 100.0), r"dx=100 µm.*outside.*100 nm is 0\.1"),  # nm typed as µm
    ((0.5, 0.005, 0.005), r"dx=0\.005 µm.*outside"),
    ((0.1, 0.5, 0.5), r"dz=0\.1.*smaller than dx=0\.5.*DZ DY DX, z first")])
def test_implausible_voxel_sizes_stop_with_the_fix(tmp_path, size, message):
    path = write_stack(tmp_path / "s.tif", np.random.default_rng(0).random((3, 8, 8)), None)
    with pytest.raises(IsonbError, match=r"s\.tif: .*" + message):
        read_stack(path, voxel_size=size, require_voxel_size=True)
    assert read_stack(path, voxel_size=size).voxel_size == size  # only restoring needs them


def test_a_file_sampled_finer_in_z_than_in_xy_is_told_to_bin_z(tmp_path):
    path = write_stack(tmp_path / "s.tif", np.random.default_rng(0).random((6, 8, 8)),
                       (0.08, 0.1, 0.1))
    with pytest.raises(IsonbError, match=r"s\.tif: dz=0\.08.*metadata.*bin its planes by 2 "
                                         r"along z"):
        read_stack(path, require_voxel_size=True)


def test_sizes_in_x_y_z_order_get_the_order_named(tmp_path):
    path = write_stack(tmp_path / "s.tif", np.random.default_rng(0).random((3, 8, 8)), None)
    with pytest.raises(IsonbError, match=r"s\.tif: .*not square.*x, y, z order.*DZ DY DX"):
        read_stack(path, voxel_size=(0.1, 0.1, 0.5))


def test_axes_name_a_file_without_metadata(tmp_path):
    path = tmp_path / "czyx.tif"
    data = np.random.default_rng(2).random((2, 4, 8, 8)).astype(np.float32)
    tifffile.imwrite(path, data, photometric="minisblack")  # axes QQYX: no names
    with pytest.raises(IsonbError, match=r"czyx\.tif.*--axes CZYX"):
        read_stack(path)
    np.testing.assert_array_equal(read_stack(path, axes="CZYX", channel=1).data, data[1])
    with pytest.raises(IsonbError, match="does not fit its 4 axes"):
        read_stack(path, axes="ZYX")


@pytest.mark.parametrize("axes", ["CYX", "TYX"])
def test_a_z_stack_saved_as_channels_or_frames_is_told_to_name_its_axes(tmp_path, axes):
    path = tmp_path / "planes.tif"
    data = np.random.default_rng(3).random((5, 8, 8)).astype(np.float32)
    # tifffile.imwrite(path, data, imagej=True) alone writes CYX: the pitfall itself
    tifffile.imwrite(path, data, imagej=True, metadata={"axes": axes})
    with pytest.raises(IsonbError, match=r"planes\.tif: has 5 (channel|time) entries and no z "
                                         r"axis.*--axes ZYX"):
        read_stack(path)
    np.testing.assert_array_equal(read_stack(path, axes="ZYX").data, data)
    both = tmp_path / "czyx.tif"
    tifffile.imwrite(both, np.stack([data, data], 1), imagej=True, metadata={"axes": "ZCYX"})
    with pytest.raises(IsonbError, match=r"has 2 channel entries \(axes") as err:
        read_stack(both)  # a real channel axis beside z: choose a channel, as before
    assert "--axes ZYX" not in str(err.value)


def test_axes_in_another_order_are_put_in_z_y_x_order(tmp_path, capsys):
    path = tmp_path / "yxz.tif"
    data = np.random.default_rng(5).random((6, 10, 16)).astype(np.float32)  # (z, y, x)
    tifffile.imwrite(path, data.transpose(1, 2, 0))  # saved (y, x, z), no axis names
    assert read_stack(path).data.shape == (10, 16, 6)  # as the file says, with a notice
    assert "more planes than pixels along x" in capsys.readouterr().out
    np.testing.assert_array_equal(read_stack(path, axes="YXZ").data, data)
    cyzx = tmp_path / "cyzx.tif"
    tifffile.imwrite(cyzx, np.stack([data, 2 * data]).transpose(0, 2, 1, 3))
    np.testing.assert_array_equal(read_stack(cyzx, axes="CYZX", channel=1).data, 2 * data)
    read_stack(tmp_path / "yxz.tif", axes="YXZ")
    assert capsys.readouterr().out == ""


def test_multi_series_files_say_so_and_take_series(tmp_path, capsys):
    path = tmp_path / "positions.ome.tif"
    rng = np.random.default_rng(4)
    a, b = rng.random((3, 8, 8)).astype(np.float32), rng.random((3, 8, 8)).astype(np.float32)
    with tifffile.TiffWriter(path, ome=True) as tw:
        tw.write(a, metadata={"axes": "ZYX"})
        tw.write(b, metadata={"axes": "ZYX"})
    np.testing.assert_array_equal(read_stack(path).data, a)
    assert "2 series" in capsys.readouterr().out
    np.testing.assert_array_equal(read_stack(path, series=1).data, b)
    with pytest.raises(IsonbError, match=r"series 2 out of range 0\.\.1"):
        read_stack(path, series=2)


@pytest.mark.parametrize("name", ["scan.czi", "exp.lif", "cells.nd2", "vol.ome.zarr"])
def test_microscope_formats_need_bioio_or_name_the_extra(tmp_path, name, monkeypatch):
    path = tmp_path / name
    path.write_bytes(b"not really")
    monkeypatch.setitem(sys.modules, "bioio", None)  # as without the formats extra
    with pytest.raises(IsonbError, match=re.escape(name) + r".*isonb\[formats\]"):
        read_stack(path)


def test_ome_zarr_round_trip_with_voxel_size(tmp_path):
    pytest.importorskip("bioio_ome_zarr")
    data = np.random.default_rng(6).random((20, 30, 40)).astype(np.float32)
    path = write_stack(tmp_path / "v.ome.zarr", data, (0.5, 0.1, 0.1))
    stack = read_stack(path)
    np.testing.assert_array_equal(stack.data, data)
    assert stack.voxel_size == pytest.approx((0.5, 0.1, 0.1))
    with pytest.raises(IsonbError, match="exists already"):
        write_stack(path, data, None)


def test_near_isotropic_z_steps_are_taken(tmp_path):
    path = write_stack(tmp_path / "s.tif", np.random.default_rng(0).random((5, 8, 8)), None)
    stack = read_stack(path, voxel_size=(0.4994, 0.5119, 0.5119), require_voxel_size=True)
    assert stack.voxel_size[0] < stack.voxel_size[2]  # a real stack's dz 2.5 % below dx
