"""The notebooks' package calls on a user's folder of stacks (no ground truth), quickly."""

import json
from pathlib import Path

import numpy as np
import pytest
import tifffile

from isonb import cli
from isonb.baselines import interpolate
from isonb.checkpoint import read_card, shipped_weights
from isonb.errors import IsonbError
from isonb.io import Stack, read_stack, write_stack
from isonb.notebook import (
    MAP_ON_CPU_VOXELS,
    read_stacks,
    restoration_records,
    restore_stacks,
    score_restorations,
    shown_volumes,
    stack_label,
    stack_manifest,
    wants_map,
)
from isonb.simulate import SimulationConfig, simulate


def test_a_users_stacks_are_named_by_file_and_scored_without_ground_truth(tmp_path):
    data = tmp_path / "my stacks"
    for name, seed in (("liver_a", 1), ("liver_b", 2)):
        case = simulate(SimulationConfig(shape=(25, 48, 48), z_step=3, seed=seed))
        write_stack(data / f"{name}.tif", case.observed, case.voxel_size)
    work = tmp_path / "work"
    work.mkdir()
    manifest = stack_manifest(work, str(data))
    assert manifest["ground_truth"] == {} and len(manifest["test"]) == 2
    rows, results = score_restorations(manifest, {p: {} for p in manifest["test"]})
    assert [r["stack"] for r in rows] == ["liver_a", "liver_b"]  # not both "my stacks"
    assert all("ssim" not in r and np.isfinite(r["fwhm_ratio"]) for r in rows)
    assert all(gt is None for _, gt, _ in results.values())


def test_a_simulated_case_is_named_by_its_folder():
    assert stack_label("/data/default/test/observed.tif") == "test"
    assert stack_label("/data/stacks/liver_a.ome.tif") == "liver_a.ome"


def test_restoring_without_the_map_writes_none_and_removes_an_earlier_one(tmp_path):
    case = simulate(SimulationConfig(shape=(25, 48, 48), z_step=3, seed=1))
    write_stack(tmp_path / "data" / "liver_a.tif", case.observed, case.voxel_size)
    manifest = stack_manifest(tmp_path, str(tmp_path / "data"))
    models = {"ldm": str(shipped_weights())}
    with_map = restore_stacks(tmp_path, manifest, models, samples=1, steps=1)
    restored = next(iter(with_map.values()))["ldm"]
    spread = restored.replace(".tif", "_uncertainty.tif")
    assert np.isfinite(read_stack(spread).data).all()
    sampled = read_stack(restored).data
    without = restore_stacks(tmp_path, manifest, models, samples=1, steps=1, uncertainty=False)
    assert without == with_map and not Path(spread).exists()
    table = restoration_records(without).splitlines()  # from the records beside the files
    assert table[0].startswith("| stack | method | weights (sha256) | seed |")
    sha = read_card(shipped_weights())["sha256"][:12]
    assert len(table) == 4 and table[2] == "| liver_a | cubic | - | - | - | - | - | - |"
    *cells, refocused = table[3].split(" | ")
    assert " | ".join(cells) == f"| liver_a | ldm | {sha} | 0 | 1 x 1 | skipped | orientation"
    assert refocused in ("True |", "False |")
    # the shipped weights' refine weight is 0.00: the skipped diffusion changed nothing
    assert np.abs(read_stack(restored).data - sampled).max() <= 1e-3 * np.ptp(sampled)


def test_the_map_is_skipped_on_a_cpu_only_for_large_stacks_and_says_so(capsys):
    import torch

    net = torch.nn.Linear(1, 1)  # on the CPU
    small = Stack(np.broadcast_to(np.float32(0), (41, 256, 256)), (0.2, 0.1, 0.1), Path("a.tif"))
    large = Stack(np.broadcast_to(np.float32(0), (100, 1024, 1024)), (0.4, 0.1, 0.1),
                  Path("b.tif"))  # 397 x 1024 x 1024 output voxels
    assert 81 * 256 * 256 <= MAP_ON_CPU_VOXELS < 397 * 1024 * 1024
    assert wants_map("auto", small, net) and capsys.readouterr().out == ""
    assert not wants_map("auto", large, net)
    assert "b.tif: skipped on the CPU (397 x 1024 x 1024" in capsys.readouterr().out
    assert wants_map(True, large, net) and not wants_map(False, small, net)


def test_the_notebook_restores_as_the_command_does_and_shows_memory_maps(tmp_path):
    case = simulate(SimulationConfig(shape=(25, 48, 56), z_step=3, seed=2))
    stack = write_stack(tmp_path / "data" / "liver_a.tif", case.observed, case.voxel_size)
    manifest = stack_manifest(tmp_path, str(tmp_path / "data"))
    outputs = restore_stacks(tmp_path, manifest, {"ldm": str(shipped_weights())}, samples=1,
                             steps=1)
    cli.main(["restore", str(stack), str(tmp_path / "cli.tif"), "--samples", "1", "--steps",
              "1", "--uncertainty", str(tmp_path / "cli_map.tif")])
    shown, spacing = shown_volumes(manifest, outputs, str(stack))
    assert list(shown) == ["input (cubic)", "isonb (LDM)", "uncertainty (LDM)"]
    assert spacing == case.voxel_size[2]
    assert all(isinstance(v, np.memmap) for v in shown.values())  # none held in memory
    np.testing.assert_array_equal(shown["input (cubic)"],
                                  interpolate(case.observed, case.voxel_size))
    np.testing.assert_array_equal(shown["isonb (LDM)"], read_stack(tmp_path / "cli.tif").data)
    np.testing.assert_array_equal(shown["uncertainty (LDM)"],
                                  read_stack(tmp_path / "cli_map.tif").data)


def test_a_time_series_without_axis_metadata_is_read_as_the_parameters_say(tmp_path):
    rng = np.random.default_rng(0)
    series = rng.uniform(0, 1000, (3, 6, 40, 48)).astype(np.float32)  # (t, z, y, x)
    (tmp_path / "data").mkdir()
    tifffile.imwrite(tmp_path / "data" / "live.tif", series)  # its shape kept, no axes (QQYX)
    size = (0.5, 0.25, 0.25)
    no_axes = stack_manifest(tmp_path, str(tmp_path / "data"), size)
    with pytest.raises(IsonbError, match="notebooks: CHANNEL, TIME, AXES"):
        read_stacks(no_axes)
    no_time = stack_manifest(tmp_path, str(tmp_path / "data"), size, axes="TZYX")
    with pytest.raises(IsonbError, match=r"has 3 time entries .* \(notebooks: TIME = K\)"):
        read_stacks(no_time)
    manifest = stack_manifest(tmp_path, str(tmp_path / "data"), size, None, 1, "TZYX")
    assert {k: manifest[k] for k in ("channel", "time", "axes")} == {
        "channel": None, "time": 1, "axes": "TZYX"}
    np.testing.assert_array_equal(read_stacks(manifest)[0].data, series[1])
    outputs = restore_stacks(tmp_path, manifest, {})  # cubic only; the time point in its name
    cubic = outputs[str(tmp_path / "data" / "live.tif")]["cubic"]
    assert Path(cubic).name == "data_live_t1_cubic.tif"
    np.testing.assert_array_equal(read_stack(cubic).data, interpolate(series[1], size))


def test_the_notebooks_lateral_fwhm_restores_as_the_command_does_and_is_recorded(tmp_path):
    case = simulate(SimulationConfig(shape=(25, 48, 48), z_step=3, seed=3))
    stack = write_stack(tmp_path / "data" / "liver_a.tif", case.observed, case.voxel_size)
    manifest = stack_manifest(tmp_path, str(tmp_path / "data"))
    models = {"ldm": str(shipped_weights())}
    outputs = restore_stacks(tmp_path, manifest, models, samples=1, steps=1, uncertainty=False,
                             lateral_fwhm=0.2)
    cli.main(["restore", str(stack), str(tmp_path / "cli.tif"), "--samples", "1", "--steps",
              "1", "--lateral-fwhm", "0.2"])
    restored = outputs[str(stack)]["ldm"]
    np.testing.assert_array_equal(read_stack(restored).data, read_stack(tmp_path / "cli.tif").data)
    record = json.loads(Path(restored + ".json").read_text())
    assert record["settings"]["lateral_fwhm"] == 0.2


def test_per_stack_models_each_train_on_their_stack_and_restore_it(tmp_path):
    from conftest import make_tiny_config

    from isonb.notebook import train_ldm, train_references, weights_for

    for i, z_step in enumerate((2, 3)):  # two stacks of their own sampling
        case = simulate(SimulationConfig(shape=(24, 72, 72), z_step=z_step, seed=20 + i))
        write_stack(tmp_path / "data" / f"s{i}.tif", case.observed, case.voxel_size)
    manifest = stack_manifest(tmp_path, str(tmp_path / "data"))
    stacks = read_stacks(manifest)
    models = {"ldm": train_ldm(tmp_path, manifest, stacks, None,
                               make_tiny_config(steps=2, minutes=0.05), per_stack=True)}
    assert sorted(models["ldm"]) == sorted(str(s.path) for s in stacks)
    for s in stacks:  # each model's card names its own stack, and only it
        card = read_card(weights_for(models, "ldm", s.path))
        assert [Path(d["file"]).name for d in card["training_data"]] == [s.path.name]
    models = train_references(tmp_path, stacks, models, ["care"], mode="smoke")
    assert models["care"][str(stacks[1].path)].endswith("care_s1")
    outputs = restore_stacks(tmp_path, manifest, models, samples=1, steps=1, uncertainty=False)
    for s in stacks:
        for method in ("ldm", "care"):
            record = json.loads(Path(outputs[str(s.path)][method] + ".json").read_text())
            assert record["weights"]["folder"] == str(
                Path(weights_for(models, method, s.path)).resolve())
