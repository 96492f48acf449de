import json
import re

import numpy as np
import pytest
import tifffile

from isonb.cli import _RESTORE_SCOPES, _scope_title, main
from isonb.io import read_stack, write_stack


@pytest.mark.parametrize("verb", ["info", "simulate", "prepare", "train", "restore", "evaluate",
                                  "demo"])
def test_every_verb_has_help(verb, capsys):
    with pytest.raises(SystemExit) as e:
        main([verb, "--help"])
    assert e.value.code == 0
    assert "usage: isonb " + verb in capsys.readouterr().out


def test_restore_help_lists_each_option_under_the_methods_that_use_it(capsys):
    with pytest.raises(SystemExit):
        main(["restore", "--help"])
    text = capsys.readouterr().out
    titles = [_scope_title(methods) + ":" for _, methods in _RESTORE_SCOPES]
    starts = [text.index("\n" + t + "\n") for t in titles]  # each heading once, in order
    assert starts == sorted(starts)
    ends = starts[1:] + [text.index("\nexamples:")]
    for (options, _), a, b in zip(_RESTORE_SCOPES, starts, ends):
        for name in options:
            flag = "--output" if name == "output_kind" else "--" + name.replace("_", "-")
            listed = re.compile(r"^  " + flag + r"\b(?!-)", re.M)  # an option's own line
            assert len(listed.findall(text[a:b])) == 1, (flag, text[a:b])
            assert not listed.search(text[:a]) and not listed.search(text[b:]), flag


def test_simulate_restore_evaluate(tmp_path, capsys):
    sim = tmp_path / "sim"
    assert main(["simulate", str(sim), "--structure", "membranes", "--shape", "25", "48", "48",
                 "--z-step", "3", "--snr", "15", "--seed", "4"]) == 0
    meta = json.loads((sim / "meta.json").read_text())
    assert meta["config"]["z_step"] == 3 and meta["config"]["snr"] == 15
    out = tmp_path / "restored.tif"
    assert main(["restore", str(sim / "observed.tif"), str(out), "--method", "rl",
                 "--psf", str(sim / "psf.tif")]) == 0
    restored = read_stack(out)
    assert restored.data.shape == read_stack(sim / "gt.tif").data.shape
    assert restored.voxel_size == pytest.approx((0.1, 0.1, 0.1))
    capsys.readouterr()
    assert main(["evaluate", str(out), "--ground-truth", str(sim / "gt.tif"), "--json"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert set(scores) == {"method", "ssim", "psnr", "mse", "coc", "ssim_xy"}
    assert scores["coc"] > 0.8


def test_evaluate_names_a_ground_truths_axes_and_a_shape_mismatch(tmp_path, capsys):
    sim = tmp_path / "sim"
    assert main(["simulate", str(sim), "--shape", "25", "48", "48", "--seed", "4"]) == 0
    gt = read_stack(sim / "gt.tif").data
    tifffile.imwrite(tmp_path / "gt_as_channels.tif", gt, imagej=True)  # axes CYX
    assert main(["evaluate", str(sim / "gt.tif"), "--ground-truth",
                 str(tmp_path / "gt_as_channels.tif")]) == 2
    assert "--axes ZYX" in capsys.readouterr().err
    assert main(["evaluate", str(sim / "gt.tif"), "--ground-truth",
                 str(tmp_path / "gt_as_channels.tif"), "--axes", "ZYX", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["psnr"] > 100  # the ground truth itself
    assert main(["evaluate", str(sim / "observed.tif"), "--ground-truth",
                 str(sim / "gt.tif")]) == 2
    err = capsys.readouterr().err
    assert re.search(r"observed\.tif: shape \(13, 48, 48\) is not its ground truth's "
                     r"\(25, 48, 48\) \(.*gt\.tif\)\. Fix: ", err), err


def test_restore_and_evaluate_a_folder_into_one_table(tmp_path, capsys):
    sim = tmp_path / "sim"
    assert main(["simulate", str(sim), "--shape", "25", "48", "48", "--seed", "4"]) == 0
    stacks = tmp_path / "stacks"
    stacks.mkdir()
    for name in ("a.tif", "b.tif"):
        (stacks / name).write_bytes((sim / "observed.tif").read_bytes())
    assert main(["restore", str(stacks), str(tmp_path / "out.tif"), "--method", "cubic"]) == 2
    assert main(["restore", str(stacks), str(tmp_path / "out"), "--method", "cubic"]) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "a.tif", "a.tif.json", "b.tif", "b.tif.json"]  # each with the record of its making
    assert main(["restore", str(sim / "observed.tif"), str(tmp_path / "out" / "rl.tif"),
                 "--method", "rl", "--psf", str(sim / "psf.tif")]) == 0
    capsys.readouterr()
    csv = tmp_path / "scores.csv"
    assert main(["evaluate", str(tmp_path / "out"), "--ground-truth", str(sim / "gt.tif"),
                 "--csv", str(csv)]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].startswith("| method | ssim | psnr |") and len(table) == 2 + 3
    rows = {r.split(",")[0]: float(r.split(",")[1]) for r in csv.read_text().splitlines()[1:]}
    assert rows["a"] == rows["b"] < rows["rl"]  # same stack, same score; RL ahead of cubic
    assert main(["evaluate", str(tmp_path / "out" / "a.tif")]) == 0  # no ground truth
    assert "fwhm_ratio" in capsys.readouterr().out
    cubic = read_stack(tmp_path / "out" / "a.tif")
    write_stack(tmp_path / "shifted.tif", np.roll(cubic.data, 4, axis=0), cubic.voxel_size)
    assert main(["evaluate", str(tmp_path / "out" / "a.tif"), str(tmp_path / "shifted.tif"),
                 "--observed", str(sim / "observed.tif"), "--json"]) == 0
    residual = {r["method"]: r["data_residual"] for r in json.loads(capsys.readouterr().out)}
    assert residual["a"] < 1.0  # interpolation keeps the data's noise: below the noise floor
    assert residual["shifted"] > 5 * residual["a"]  # contradicts the data
    crop = read_stack(sim / "observed.tif")
    write_stack(tmp_path / "crop.tif", crop.data[:, :, :40], crop.voxel_size)
    assert main(["evaluate", str(tmp_path / "out" / "a.tif"), "--observed",
                 str(tmp_path / "crop.tif")]) == 2  # not the stack it was restored from
    assert "Fix: pass the stack it was restored from" in capsys.readouterr().err


def test_bad_input_exits_2_with_one_line(tmp_path, capsys):
    flat = tmp_path / "flat.tif"
    tifffile.imwrite(flat, np.random.default_rng(0).random((16, 16)).astype(np.float32))
    assert main(["restore", str(flat), str(tmp_path / "o.tif")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "flat.tif" in err and "Fix:" in err
    nometa = tmp_path / "nometa.tif"
    data = np.random.default_rng(0).random((4, 16, 16)).astype(np.float32)
    tifffile.imwrite(nometa, data, photometric="minisblack")
    assert main(["restore", str(nometa), str(tmp_path / "o.tif")]) == 2
    assert "--voxel-size" in capsys.readouterr().err
    assert main(["restore", str(nometa), str(tmp_path / "o.tif"), "--voxel-size", "0.3", "0.1",
                 "0.1"]) == 0
    assert main(["restore", str(nometa), str(tmp_path / "o.tif"), "--voxel-size", "0.3", "0.1",
                 "0.1"]) == 2
    assert "exists already" in capsys.readouterr().err
    assert main(["simulate", str(tmp_path / "s"), "--case", "nope"]) == 2


def test_help_imports_neither_torch_nor_scipy():
    import subprocess
    import sys

    code = ("import sys, isonb.cli as c; c.build_parser().format_help(); "
            "print(sorted(m for m in ('torch', 'scipy', 'numpy', 'tifffile') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("args, flag", [(["--method", "cubic", "--samples", "4"], "--samples"),
                                        (["--method", "rl", "--weights", "w"], "--weights"),
                                        (["--method", "care", "--iterations", "5"], "--iterations"),
                                        (["--method", "cubic", "--uncertainty", "u.tif"],
                                         "--uncertainty"),
                                        (["--method", "care", "--lateral-fwhm", "0.2"],
                                         "--lateral-fwhm")])
def test_options_that_do_not_apply_are_refused(tmp_path, capsys, args, flag):
    assert main(["restore", str(tmp_path / "in.tif"), str(tmp_path / "o.tif"), *args]) == 2
    err = capsys.readouterr().err
    assert f"{flag} does not apply to --method" in err and "\n" not in err.strip()


def test_a_bug_is_not_reported_as_bad_input(monkeypatch):
    import isonb.cli as cli

    def broken(a):
        raise ValueError("a bug")

    monkeypatch.setattr(cli, "cmd_evaluate", broken)
    with pytest.raises(ValueError, match="a bug"):  # a traceback, not a one-line "error"
        main(["evaluate", "x.tif"])


def test_ome_zarr_in_and_out_restores_with_the_formats_extra(tmp_path):
    pytest.importorskip("bioio_ome_zarr")
    from isonb.io import write_stack

    data = np.random.default_rng(2).random((6, 24, 28)).astype(np.float32)
    write_stack(tmp_path / "in.ome.zarr", data, (0.3, 0.1, 0.1))
    assert main(["restore", str(tmp_path / "in.ome.zarr"), str(tmp_path / "out.ome.zarr"),
                 "--method", "cubic"]) == 0
    tif = tmp_path / "out.tif"
    assert main(["restore", str(tmp_path / "in.ome.zarr"), str(tif), "--method", "cubic"]) == 0
    out = read_stack(tmp_path / "out.ome.zarr")
    assert out.data.shape == (16, 24, 28) and out.voxel_size == pytest.approx((0.1,) * 3)
    np.testing.assert_array_equal(out.data, read_stack(tif).data)


def test_all_channels_restore_into_one_multichannel_tif(tmp_path, tiny_ldm):
    from isonb import ldm as L

    L.save(tiny_ldm, tmp_path / "w", {"seed": 0})
    data = np.random.default_rng(3).random((5, 2, 24, 28)).astype(np.float32)
    data[:, 1] *= 50  # channels of their own brightness
    src = tmp_path / "zcyx.tif"
    tifffile.imwrite(src, data, imagej=True, resolution=(10.0, 10.0),
                     metadata={"axes": "ZCYX", "spacing": 0.3, "unit": "um"})
    both = tmp_path / "both.tif"
    assert main(["restore", str(src), str(both), "--channel", "all", "--weights",
                 str(tmp_path / "w"), "--steps", "1", "--diffusion", "off"]) == 0
    for c in (0, 1):
        one = tmp_path / f"c{c}.tif"
        assert main(["restore", str(src), str(one), "--channel", str(c), "--weights",
                     str(tmp_path / "w"), "--steps", "1", "--diffusion", "off"]) == 0
        np.testing.assert_array_equal(read_stack(both, channel=c).data, read_stack(one).data)
    assert read_stack(both, channel=1).voxel_size == pytest.approx((0.1, 0.1, 0.1))
    assert main(["train", str(src), "--channel", "all", "--out", str(tmp_path / "t")]) == 2


def test_every_time_point_restores_into_one_hyperstack_with_its_map(tmp_path, tiny_ldm):
    from isonb import ldm as L

    L.save(tiny_ldm, tmp_path / "w", {"seed": 0})
    data = np.random.default_rng(4).random((3, 5, 2, 24, 28)).astype(np.float32)
    data[1] *= 20  # time points of their own brightness
    src = tmp_path / "tzcyx.tif"
    tifffile.imwrite(src, data, imagej=True, resolution=(10.0, 10.0),
                     metadata={"axes": "TZCYX", "spacing": 0.3, "unit": "um"})
    net = ["--weights", str(tmp_path / "w"), "--steps", "1", "--samples", "2"]
    out, spread = tmp_path / "all.tif", tmp_path / "all_spread.tif"
    assert main(["restore", str(src), str(out), "--time", "all", "--channel", "all", *net,
                 "--uncertainty", str(spread), "--uncertainty-samples", "2"]) == 0
    with tifffile.TiffFile(out) as tif:
        assert tif.series[0].axes == "TZCYX" and tif.series[0].shape == (3, 13, 2, 24, 28)
    assert tifffile.imread(spread).shape == (3, 13, 2, 24, 28)
    for t, c in ((0, 0), (1, 1), (2, 0)):
        one = tmp_path / f"t{t}c{c}.tif"
        assert main(["restore", str(src), str(one), "--time", str(t), "--channel", str(c),
                     *net]) == 0
        np.testing.assert_array_equal(read_stack(out, time=t, channel=c).data,
                                      read_stack(one).data)
    assert json.loads((tmp_path / "all.tif.json").read_text())["time_points"] == 3
    assert main(["train", str(src), "--time", "all", "--channel", "0", "--out",
                 str(tmp_path / "t")]) == 2


def test_time_all_on_a_stack_without_time_is_the_stack_and_zarr_is_refused_first(tmp_path,
                                                                                capsys):
    data = np.random.default_rng(5).random((6, 20, 22)).astype(np.float32)
    write_stack(tmp_path / "zyx.tif", data, (0.3, 0.1, 0.1))
    for name, time in (("all.tif", ["--time", "all"]), ("plain.tif", [])):
        assert main(["restore", str(tmp_path / "zyx.tif"), str(tmp_path / name), "--method",
                     "cubic", *time]) == 0
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "all.tif"),
                                  tifffile.imread(tmp_path / "plain.tif"))
    series = tmp_path / "tzyx.tif"
    tifffile.imwrite(series, np.stack([data, data]), imagej=True, resolution=(10.0, 10.0),
                     metadata={"axes": "TZYX", "spacing": 0.3, "unit": "um"})
    capsys.readouterr()
    assert main(["restore", str(series), str(tmp_path / "o.ome.zarr"), "--time", "all"]) == 2
    err = capsys.readouterr()
    assert "OME-Zarr output takes one channel and time point" in err.err
    assert "time point 0" not in err.out and not (tmp_path / "o.ome.zarr").exists()


@pytest.mark.slow
def test_demo_restores_and_scores_the_default_stack(tmp_path, monkeypatch, capsys):
    """The README's main command, on the quick default dataset (a 128 px field)."""
    monkeypatch.setenv("ISONB_QUICK", "1")
    monkeypatch.setenv("ISONB_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "out"
    assert main(["demo", "--out", str(out)]) == 0
    rows = {r["method"]: r for r in json.loads((out / "metrics.json").read_text())}
    assert set(rows) == {"cubic", "rl", "ldm"}
    assert rows["ldm"]["ssim"] > rows["rl"]["ssim"] > rows["cubic"]["ssim"]
    assert read_stack(out / "restored_ldm.tif").data.shape == \
        read_stack(out / "uncertainty_ldm.tif").data.shape
    assert (out / "comparison.png").stat().st_size > 10_000
    assert "| ldm |" in capsys.readouterr().out
    assert main(["demo", "--out", str(out)]) == 2  # nothing overwritten without --overwrite


def test_lateral_fwhm_is_refused_for_axial_slices_and_outside_microscopy(tmp_path, capsys):
    write_stack(tmp_path / "xz.tif", np.ones((20, 32), np.float32), None)
    assert main(["restore", str(tmp_path / "xz.tif"), str(tmp_path / "o.tif"), "--axial-slices",
                 "--lateral-fwhm", "0.2"]) == 2
    assert "--lateral-fwhm needs the stack's voxel size" in capsys.readouterr().err
    stack = tmp_path / "s.tif"
    write_stack(stack, np.random.default_rng(0).uniform(0, 1, (8, 32, 32)).astype(np.float32),
                (0.3, 0.1, 0.1))
    assert main(["restore", str(stack), str(tmp_path / "o.tif"), "--lateral-fwhm", "180"]) == 2
    assert "lateral FWHM 180.0 µm is outside" in capsys.readouterr().err
