import json

import numpy as np
import pytest
import tifffile

from isonb.cli import build_parser, main
from isonb.io import read_stack


@pytest.mark.parametrize("verb", ["simulate", "restore", "evaluate", "demo"])
def test_every_verb_has_help(verb, capsys):
    with pytest.raises(SystemExit) as e:
        main([verb, "--help"])
    assert e.value.code == 0
    assert "usage: isonb " + verb in capsys.readouterr().out


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
    assert main(["evaluate", str(out), str(sim / "gt.tif"), "--json"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert set(scores) == {"ssim", "psnr", "mse", "coc", "ssim_xy"} and scores["coc"] > 0.8


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


def test_parser_lists_the_methods():
    text = build_parser().format_help()
    for verb in ("simulate", "restore", "evaluate", "demo"):
        assert verb in text
