"""The restore stage's config and the sidecar that records each restoration (`provenance`)."""

import json

import numpy as np
import pytest

from isonb.checkpoint import save_model
from isonb.cli import main
from isonb.errors import IsonbError
from isonb.io import Stack, read_stack, write_stack
from isonb.provenance import read_config, sidecar_path
from isonb.restore import RestoreConfig, configured, load_network
from isonb.streaming import restore_to_file


def test_config_refuses_unknown_choices_and_settings():
    with pytest.raises(IsonbError, match="unknown diffusion 'maybe'; Fix: choose one of auto"):
        RestoreConfig(diffusion="maybe")
    with pytest.raises(IsonbError, match="unknown precision 'fp8'"):
        RestoreConfig(precision="fp8")
    with pytest.raises(IsonbError, match="tile=0; Fix"):
        RestoreConfig(tile=0)
    with pytest.raises(TypeError, match="no setting sampels"):
        configured(None, {"sampels": 3})
    assert configured(RestoreConfig(seed=5), {"steps": 2}) == RestoreConfig(seed=5, steps=2)


def test_sidecar_records_the_restoration_and_its_config_makes_it_again(tmp_path, tiny_ldm,
                                                                        small_case):
    model = load_network(save_model(tiny_ldm, tmp_path / "w", "ldm", {"seed": 11}), "ldm", "cpu")
    stack = Stack(small_case.observed[:, :40, :48], small_case.voxel_size, tmp_path / "in.tif")
    out, spread = tmp_path / "a.tif", tmp_path / "a_spread.tif"
    shape = restore_to_file([stack], out, model, seed=3, steps=2, samples=1, fusion="average",
                            spread=spread)
    record = json.loads(sidecar_path(out).read_text())
    assert sidecar_path(out).name == "a.tif.json"
    assert record["output"] == {"path": str(out), "shape": list(shape),
                                "voxel_size_um": [small_case.voxel_size[2]] * 3,
                                "uncertainty": str(spread)}
    assert record["inputs"][0]["voxel_size_um"] == list(small_case.voxel_size)
    assert record["weights"]["seed"] == 11 and len(record["weights"]["sha256"]) == 64
    assert record["decided"] == [{"diffusion_sampled": True, "fusion": "average",
                                  "refocused": record["decided"][0]["refocused"],
                                  "spread_scale": record["decided"][0]["spread_scale"]}]
    assert record["decided"][0]["spread_scale"] > 0
    config = read_config(sidecar_path(out))
    assert config == RestoreConfig(seed=3, steps=2, samples=1, fusion="average", uncertainty=True)

    restore_to_file([stack], tmp_path / "again.tif", model, config=config,
                    spread=tmp_path / "s.tif")
    first = read_stack(out).data
    np.testing.assert_array_equal(read_stack(tmp_path / "again.tif").data, first)
    restore_to_file([stack], tmp_path / "other.tif", model, config=config, seed=4)
    assert np.abs(read_stack(tmp_path / "other.tif").data - first).max() > 0


def test_an_existing_sidecar_is_kept_unless_asked_before_any_work(tmp_path):
    stack = Stack(np.random.default_rng(1).random((5, 8, 8)).astype(np.float32),
                  (0.2, 0.1, 0.1), tmp_path / "in.tif")
    restore_to_file([stack], tmp_path / "c.tif", None, "cubic")
    assert json.loads((tmp_path / "c.tif.json").read_text())["method"] == "cubic"
    (tmp_path / "c.tif").unlink()
    with pytest.raises(IsonbError, match=r"c\.tif\.json: exists already\. Fix: .*--overwrite"):
        restore_to_file([stack], tmp_path / "c.tif", None, "cubic")
    assert not (tmp_path / "c.tif").exists()
    restore_to_file([stack], tmp_path / "c.tif", None, "linear", overwrite=True)
    assert json.loads((tmp_path / "c.tif.json").read_text())["method"] == "linear"
    with pytest.raises(IsonbError, match="not a restoration's record"):
        read_config(tmp_path / "c.tif")


def test_restore_like_a_record_gives_the_same_volume_and_refuses_a_second_say(tmp_path, capsys,
                                                                              small_case):
    stack = write_stack(tmp_path / "in.tif", small_case.observed[:, :40, :48],
                        small_case.voxel_size)
    first, again = tmp_path / "first.tif", tmp_path / "again.tif"
    assert main(["restore", str(stack), str(first), "--seed", "3", "--samples", "1",
                 "--steps", "2", "--diffusion", "on", "--fusion", "average"]) == 0
    assert "(record: first.tif.json)" in capsys.readouterr().out
    settings = ["--settings", f"{first}.json"]
    assert main(["restore", str(stack), str(again), *settings]) == 0
    np.testing.assert_array_equal(read_stack(again).data, read_stack(first).data)
    assert read_config(f"{again}.json") == read_config(f"{first}.json")
    assert main(["restore", str(stack), str(tmp_path / "x.tif"), *settings, "--seed", "4"]) == 2
    assert "--seed and --settings" in capsys.readouterr().err
    assert main(["restore", str(stack), str(tmp_path / "x.tif"), *settings, "--method",
                 "care"]) == 2
    assert "records --method ldm. Fix: pass --method ldm" in capsys.readouterr().err
