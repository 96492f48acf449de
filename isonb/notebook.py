"""What the four notebooks share: the working folder and the files they pass to each other.

Each notebook must also run alone on a fresh runtime (Colab opens every badge on a runtime
of its own): whatever an earlier notebook would have written is rebuilt here by the same
package calls, and the shipped model stands in for training that did not happen.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .io import Stack, find_stacks, read_stack
from .patches import TrainingData

if TYPE_CHECKING:
    import torch

DRIVE_ROOT = Path("/content/drive")


def in_colab() -> bool:
    """Whether this runs in Google Colab."""
    return "google.colab" in sys.modules


def work_folder(name: str = "isonb-work", drive: bool = False) -> Path:
    """The folder the notebooks pass their results through; with `drive` on Colab, a folder
    of the user's Google Drive (mounted here), so that runs outlive the runtime."""
    if drive and in_colab():
        from google.colab import drive as gdrive

        gdrive.mount(str(DRIVE_ROOT))
        folder = DRIVE_ROOT / "MyDrive" / name
    else:
        folder = Path(name)
    folder.mkdir(parents=True, exist_ok=True)
    print(f"working folder: {folder.resolve()}")
    return folder


def report_device() -> str:
    """One line on where the networks will run, and how to get a GPU when there is none."""
    import torch

    if torch.cuda.is_available():
        line = f"GPU: {torch.cuda.get_device_name(0)}"
    elif torch.backends.mps.is_available():
        line = "GPU: Apple (mps)"
    else:
        line = "no GPU: networks run on the CPU (slower; quick mode and restoring still work)"
        if in_colab():
            line += ". For a GPU: Runtime > Change runtime type > T4 GPU, then run again"
    return line


def stack_manifest(work: Path, data_dir: str | None = None, voxel_size=None,
                   channel: int | None = None, time: int | None = None, axes: str | None = None,
                   rebuild: bool = False) -> dict:
    """The stacks to work on (manifest.json): the user's folder of stacks, or the embedded
    default with its ground truth and PSF, and how to read them (voxel size, channel, time
    point, axes of files without metadata: as `read_stack`). Read when an earlier notebook
    wrote it for the same data parameters and `rebuild` is off; made (and written) otherwise."""
    path = work / "manifest.json"
    asked = {"data_dir": None if data_dir is None else str(data_dir),
             "voxel_size": None if voxel_size is None else list(voxel_size), "channel": channel,
             "time": time, "axes": axes}
    if path.exists() and not rebuild:
        manifest = json.loads(path.read_text())
        if {k: manifest.get(k) for k in asked} == asked:
            return manifest
        print("the data parameters differ from those of the stack list in the working "
              "folder: making it anew")
    if data_dir is None:
        from .data import default_dataset

        ds = default_dataset()
        manifest = {"stacks": [str(p) for p in [ds.test, *ds.train]], "test": [str(ds.test)],
                    "ground_truth": {str(ds.test): str(ds.test_gt)},
                    "psf": {str(ds.test): str(ds.test_psf)}}
    else:
        paths = [str(p) for p in find_stacks(data_dir)]
        manifest = {"stacks": paths, "test": paths, "ground_truth": {}, "psf": {}}
    manifest.update(asked)
    path.write_text(json.dumps(manifest, indent=2))
    return manifest


def read_stacks(manifest: dict, key: str = "stacks") -> list[Stack]:
    """The manifest's stacks (or its test stacks, key="test")."""
    return [read_manifest_stack(manifest, p) for p in manifest[key]]


def read_manifest_stack(manifest: dict, path: str) -> Stack:
    """One stack read as the manifest says: its voxel size, channel, time point and axes."""
    return read_stack(path, voxel_size=manifest["voxel_size"], channel=manifest["channel"],
                      time=manifest.get("time"), axes=manifest.get("axes"),
                      require_voxel_size=True)


def training_set(work: Path, stacks: list[Stack], cfg) -> TrainingData:
    """01's training set (work/patches), or, when 01 did not run here, the set it would have
    drawn for `cfg` (a `TrainConfig`: its patch size, pool size and seed), saved there."""
    from . import patches

    folder = work / "patches"
    if patches.is_prepared(folder):
        return patches.load(folder)
    print("no training set from 01_prepare_data in this working folder: drawing it now")
    data = patches.prepare(stacks, cfg.patch, cfg.n_patches, cfg.seed)
    patches.save(data, folder)
    return data


# method -> weights folder, or (02's PER_STACK) method -> {stack path -> weights folder}
Models = dict[str, str | dict[str, str]]


def weights_for(models: Models, method: str, stack_path: str | Path) -> str:
    """The weights `method` restores a stack with: the stack's own, or those of every stack."""
    folder = models[method]
    return folder[str(stack_path)] if isinstance(folder, dict) else folder


def train_ldm(work: Path, manifest: dict, stacks: list[Stack], data: TrainingData | None,
              cfg, per_stack: bool = True) -> str | dict[str, str]:
    """02's LDM (`cfg`: a `TrainConfig`): with `per_stack`, one per test stack trained on its
    own planes alone, as `isonb train STACK.tif` trains it (work/model_<stack>; on three
    public cases of other PSFs and structures, 0.50 dB above one model for all three,
    docs/RESULTS.md "One model per stack"); else one on every stack, from 01's training set
    `data` (work/model)."""
    from .train import train

    if not per_stack:
        return str(train(data, work / "model", cfg, overwrite=True))
    folders = {}
    for s in (x for x in stacks if str(x.path) in manifest["test"]):
        print(f"--- {stack_label(s.path)}: a model of its own, on its own planes")
        out = work / f"model_{stack_label(s.path)}"
        folders[str(s.path)] = str(train([s], out, cfg, overwrite=True))
    return folders


def train_references(work: Path, stacks: list[Stack], models: Models, methods, seed: int = 0,
                     mode: str = "full", minutes: float = 0.0) -> Models:
    """`models` with CARE-iso and Self-Net (`methods`) trained as 02 trains them: on the
    stacks the LDM trained on (each test stack alone where it has a model of its own), each
    for as long as that LDM trained (`minutes` where given; 5 for the shipped weights,
    trained elsewhere)."""
    from .baselines import train_reference
    from .checkpoint import read_card, shipped_weights

    ldm = models["ldm"]
    groups = ({path: [s for s in stacks if str(s.path) == path] for path in ldm}
              if isinstance(ldm, dict) else {None: stacks})
    for method in methods:
        trained = {}
        for path, group in groups.items():
            folder = ldm[path] if path else ldm
            budget = minutes or (5.0 if Path(folder) == shipped_weights() else
                                 read_card(folder)["train_minutes"])
            out = work / (method if path is None else f"{method}_{stack_label(path)}")
            print(f"{method} on {len(group)} stack(s), {budget:.2f} min")
            trained[path] = str(train_reference(method, group, out, seed=seed, minutes=budget,
                                                mode=mode, overwrite=True))
        models[method] = trained[None] if None in trained else trained
    return models


def trained_models(work: Path) -> Models:
    """Method -> weights folder, as 02_train wrote them; without them, the shipped LDM."""
    path = work / "models.json"
    if path.exists():
        return json.loads(path.read_text())
    from .checkpoint import shipped_weights

    print("no models.json from 02_train in this working folder: using the shipped LDM")
    return {"ldm": str(shipped_weights())}


def restore_stacks(work: Path, manifest: dict, models: Models, samples: int = 2,
                   steps: int = 4, seed: int = 0, uncertainty: bool | str = "auto",
                   lateral_fwhm: float | str | None = None) -> dict[str, dict[str, str]]:
    """Restore every test stack by cubic interpolation and with every model into
    work/restored, as `isonb restore` does (`streaming.restore_to_file`: memory bounded by a
    slab, not the volume). With `uncertainty` (True, False or "auto": `wants_map`) the LDM's
    map goes beside it; without, its diffusion is sampled only where it changes the output
    (`--diffusion auto`). `lateral_fwhm` (µm, or "auto": each file's metadata): the LDM's z
    also deconvolved by the lateral PSF (`restore --lateral-fwhm`). Writes and returns
    restored.json: stack -> method -> .tif."""
    from .io import metadata_lateral_fwhms
    from .restore import load_network
    from .streaming import restore_to_file

    outputs: dict[str, dict[str, str]] = {}
    stacks = read_stacks(manifest, "test")
    for s in stacks:  # the viewers' and scores' reference, on disk
        out = _restored_path(work, s, "cubic", manifest)
        restore_to_file([s], out, None, "cubic", overwrite=True)
        outputs[str(s.path)] = {"cubic": str(out)}
    for method in models:
        nets: dict[str, torch.nn.Module] = {}  # by weights folder: loaded once
        for s in stacks:
            folder = weights_for(models, method, s.path)
            if folder not in nets:
                nets[folder] = load_network(folder, method)
            net = nets[folder]
            t = time.perf_counter()
            out = _restored_path(work, s, method, manifest)
            map_path = _restored_path(work, s, f"{method}_uncertainty", manifest)
            with_map = method == "ldm" and wants_map(uncertainty, s, net)
            extra = {}
            if method == "ldm":
                extra["lateral_fwhm"] = (lateral_fwhm if lateral_fwhm != "auto" else
                                         metadata_lateral_fwhms(s.path, None,
                                                                [manifest["channel"]])[0])
            shape = restore_to_file([s], out, net, method, spread=map_path if with_map else None,
                                    overwrite=True, samples=samples, steps=steps, seed=seed,
                                    diffusion="auto", **extra)
            if not with_map:  # an earlier run's map would be shown beside this restoration
                map_path.unlink(missing_ok=True)
            outputs.setdefault(str(s.path), {})[method] = str(out)
            print(f"{method:8s} {s.path.name}: {s.data.shape} -> {shape} in "
                  f"{time.perf_counter() - t:.0f} s")
    (work / "restored.json").write_text(json.dumps(outputs, indent=2))
    return outputs


RECORD_COLUMNS = ("stack", "method", "weights (sha256)", "seed", "samples x steps",
                  "diffusion", "fusion", "refocused")


def restoration_records(restored: dict[str, dict[str, str]]) -> str:
    """How each of 03's restorations was made, from the record beside it (`provenance`), as a
    markdown table: the weights, the seed, the sampling and what the stack decided."""
    from .provenance import sidecar_path

    lines = ["| " + " | ".join(RECORD_COLUMNS) + " |", "|" + "---|" * len(RECORD_COLUMNS)]
    for stack, files in restored.items():
        for method, path in files.items():
            record = sidecar_path(path)
            if record.exists():
                cells = _record_cells(json.loads(record.read_text()))
                lines.append("| " + " | ".join([stack_label(stack), method, *cells]) + " |")
    return "\n".join(lines)


def _record_cells(record: dict) -> list[str]:
    """A record's cells after stack and method: "-" where the method has no such setting (the
    seed and sampling are the LDM's; interpolation has none)."""
    weights, decided = record.get("weights") or {}, (record.get("decided") or [{}])[0]
    if not weights:
        return ["-"] * (len(RECORD_COLUMNS) - 2)
    ldm = record["settings"] if record["method"] == "ldm" else None
    sampling = ["-"] * 3 if ldm is None else [
        str(ldm["seed"]), f"{ldm['samples']} x {ldm['steps']}",
        "sampled" if decided.get("diffusion_sampled") else "skipped"]
    return [str(weights.get("sha256"))[:12], *sampling, str(decided.get("fusion", "-")),
            str(decided.get("refocused", "-"))]


MAP_ON_CPU_VOXELS = 1 << 24  # "auto" computes the map on a CPU up to this many output voxels


def wants_map(uncertainty: bool | str, stack: Stack, net: torch.nn.Module) -> bool:
    """Whether to compute the LDM's uncertainty map: `uncertainty` when True or False; for
    "auto", on a CUDA GPU always, elsewhere up to `MAP_ON_CPU_VOXELS` output voxels (the map's
    further samples make a CPU's restoring about 7x slower: 16.5 against 2.3 minutes on a
    40 x 512 x 512 stack), saying so when it skips it."""
    if uncertainty != "auto":
        return bool(uncertainty)
    from .volume import isotropic_depth

    dz, _, dx = stack.voxel_size
    shape = (isotropic_depth(stack.data.shape[0], dz, dx), *stack.data.shape[1:])
    if next(net.parameters()).device.type == "cuda" or np.prod(shape) <= MAP_ON_CPU_VOXELS:
        return True
    print(f"uncertainty map of {stack.path.name}: skipped on the CPU ({shape[0]} x {shape[1]} x "
          f"{shape[2]} output voxels; it would make the restoring about 7x slower). "
          "UNCERTAINTY = True computes it")
    return False


def _restored_path(work: Path, stack: Stack, what: str, manifest: dict) -> Path:
    """Where 03 writes `what` (a method, its map, a sample) of a stack: work/restored, the
    channel and time point read in the name when the manifest chose them."""
    chosen = "".join(f"_{a}{manifest.get(k)}" for a, k in (("c", "channel"), ("t", "time"))
                     if manifest.get(k) is not None)
    return work / "restored" / f"{stack.path.parent.name}_{stack.path.stem}{chosen}_{what}.tif"


def shown_volumes(manifest: dict, restored: dict[str, dict[str, str]], stack_path: str
                  ) -> tuple[dict[str, np.ndarray], float]:
    """What 03's viewer shows of one stack: cubic interpolation, every model's restoration
    and the LDM's uncertainty map where there is one (memory-mapped from work/restored), and
    the isotropic grid's spacing in µm."""
    from .baselines import LABELS

    s = read_manifest_stack(manifest, stack_path)
    shown = {"input (cubic)": _cubic(s, restored[stack_path])}
    for method, path in restored[stack_path].items():
        if method != "cubic":
            shown[LABELS.get(method, "isonb (LDM)")] = read_stack(path, mmap=True).data
    spread = Path(restored[stack_path].get("ldm", "").replace(".tif", "_uncertainty.tif"))
    if spread.suffix and spread.exists():
        shown["uncertainty (LDM)"] = read_stack(spread, mmap=True).data
    return shown, s.voxel_size[2]


def _cubic(stack: Stack, restored: dict[str, str]) -> np.ndarray:
    """The stack's cubic interpolation: 03's file (memory-mapped), or computed when an older
    restored.json has none."""
    from .baselines import interpolate

    if "cubic" in restored:
        return read_stack(restored["cubic"], mmap=True).data
    return interpolate(stack.data, stack.voxel_size)


def posterior_sample(work: Path, stack_path: str, manifest: dict, models: Models,
                     steps: int = 4, seed: int = 0) -> str:
    """One posterior sample of the LDM for one stack (`restore --output sample`), written
    beside its mean in work/restored: the texture the diffusion draws, for looking at."""
    from .restore import load_network
    from .streaming import restore_to_file

    s = next(x for x in read_stacks(manifest, "test") if str(x.path) == stack_path)
    t = time.perf_counter()
    out = _restored_path(work, s, f"ldm_sample_seed{seed}", manifest)
    restore_to_file([s], out, load_network(weights_for(models, "ldm", s.path), "ldm"),
                    overwrite=True, steps=steps, seed=seed, output="sample")
    print(f"sample   {s.path.name}: seed {seed}, in {time.perf_counter() - t:.0f} s")
    return str(out)


def restorations(work: Path, manifest: dict, samples: int = 2, steps: int = 4,
                 seed: int = 0) -> dict[str, dict[str, str]]:
    """restored.json as 03_inference wrote it; without it, the restorations made now."""
    path = work / "restored.json"
    if path.exists():
        return json.loads(path.read_text())
    print("no restored.json from 03_inference in this working folder: restoring now")
    return restore_stacks(work, manifest, trained_models(work), samples, steps, seed)


def stack_label(path: str | Path) -> str:
    """A stack's name in tables: its file's stem, or for a simulated case's observed.tif (the
    embedded default's layout) its folder's name."""
    path = Path(path)
    return path.parent.name if path.stem == "observed" else path.stem


def score_restorations(manifest: dict, restored: dict[str, dict[str, str]],
                       extra: dict[str, str] | None = None) -> tuple[list[dict], dict]:
    """Score every test stack's restorations: cubic interpolation, Richardson-Lucy with the
    true PSF (simulated stacks), every model's restoration and `extra` ones (name -> .tif).

    Returns (rows: the benchmark's metrics where there is ground truth and the no-reference
    figures always, one row per stack and method; stack -> (volumes, ground truth or None,
    voxel size)). Restored volumes and ground truths are memory-mapped (`read_stack(mmap=True)`):
    what is kept for the viewers costs no memory.
    """
    from . import metrics
    from .baselines import LABELS, richardson_lucy
    from .degrade import estimate_degradation
    from .io import read_image

    names = {"ldm": "ours (isonb LDM)", **{m: f"{n} (same budget)" for m, n in LABELS.items()}}
    rows, results = [], {}
    for p in manifest["test"]:
        s = read_manifest_stack(manifest, p)
        vols = {"input (cubic)": _cubic(s, restored[p])}
        if p in manifest["psf"]:
            vols["Richardson-Lucy (true PSF)"] = richardson_lucy(
                s.data, s.voxel_size, read_image(manifest["psf"][p]))
        ordered = sorted(((m, f) for m, f in restored[p].items() if m != "cubic"),
                         key=lambda mf: mf[0] == "ldm")  # isonb last
        vols.update({names[m]: read_stack(f, mmap=True).data for m, f in ordered})
        vols.update({name: read_stack(f, mmap=True).data for name, f in (extra or {}).items()})
        gt = read_stack(manifest["ground_truth"][p], mmap=True).data \
            if p in manifest["ground_truth"] else None
        deg = estimate_degradation(s.data, s.voxel_size)
        for method, vol in vols.items():
            scores = metrics.evaluate(vol, gt) if gt is not None else {}
            rows.append({"stack": stack_label(p), "method": method, **scores,
                         **metrics.no_reference(vol, s.data, deg)})
        results[p] = (vols, gt, s.voxel_size)
    return rows, results
