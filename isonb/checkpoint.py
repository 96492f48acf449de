"""Saving and loading trained models: safetensors weights plus a JSON card, rebuilt strictly.

Every model folder holds weights.safetensors and model.json; the card names the method
("ldm", "care", "selfnet"), the architecture config that rebuilds the model, the training
config, seed, data, time, hardware and the weights' sha256.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import types
import typing
from collections.abc import Callable
from dataclasses import asdict
from importlib import resources
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from .errors import IsonbError

WEIGHTS = "weights.safetensors"
CARD = "model.json"
CARD_SCHEMA = 2  # 2: "schema", "isonb" (the version that wrote it), steps each stage ran

T = typing.TypeVar("T")


def from_dict(cls: type[T], d: dict) -> T:
    """Rebuild a config dataclass from its `asdict` form, as a card stores it: nested configs
    are rebuilt and JSON's lists become tuples where the field is a tuple. Fields a card
    lacks (written before they existed) keep their defaults; unknown ones are an error."""
    names = {f.name for f in dataclasses.fields(cls)}
    if unknown := set(d) - names:
        raise IsonbError(f"{cls.__name__} has no field {', '.join(sorted(unknown))}. Fix: read "
                         "the card with the isonb version that wrote it (its 'isonb' entry)")
    hints = typing.get_type_hints(cls)
    return cls(**{k: _from_json(hints[k], v) for k, v in d.items()})


def _from_json(tp: typing.Any, value: typing.Any) -> typing.Any:
    """`value` read from JSON as type `tp` (a dataclass, a tuple, an optional of them)."""
    if value is None:
        return None
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        tp = next(a for a in typing.get_args(tp) if a is not type(None))
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value)
    if typing.get_origin(tp) is tuple:
        return tuple(value)
    return value




def shipped_weights() -> Path:
    """The shipped generalist LDM's folder: package data (isonb/weights) in an installed
    package, `weights/` beside the package in a checkout of the repository."""
    packaged = Path(str(resources.files("isonb"))) / "weights"
    return packaged if (packaged / CARD).exists() else Path(__file__).resolve().parent.parent / \
        "weights"


def to_numpy(t: torch.Tensor) -> np.ndarray:
    """A tensor as a float32 array on the CPU (from any device or precision)."""
    return t.detach().float().cpu().numpy()


def sha256(path: Path) -> str:
    """The file's SHA-256, read a MiB at a time: the model card names its weights by it."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def save_model(model: torch.nn.Module, folder: str | Path, method: str, card: dict,
               overwrite: bool = False) -> Path:
    """Write weights.safetensors and model.json ({schema, isonb version, method, config:
    asdict(model.cfg), ...card, sha256})."""
    folder = Path(folder)
    path = folder / WEIGHTS
    if path.exists() and not overwrite:
        raise IsonbError(f"{path}: exists already. Fix: choose another --out or pass --overwrite")
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(tensors, str(path))
    from . import __version__

    full = {"schema": CARD_SCHEMA, "isonb": __version__, "method": method,
            "config": asdict(model.cfg), **card, "weights": WEIGHTS, "sha256": sha256(path)}
    (folder / CARD).write_text(json.dumps(full, indent=2))
    return folder


def read_card(folder: str | Path) -> dict:
    """The model card of a weights folder, with a clear error when there is none."""
    folder = Path(folder)
    if not (folder / CARD).exists() or not (folder / WEIGHTS).exists():
        raise IsonbError(f"{folder}: no {CARD} and {WEIGHTS} there. Fix: point --weights at a "
                         "folder written by `python -m isonb train`")
    return json.loads((folder / CARD).read_text())


def lineage(card: dict) -> list[dict]:
    """A card and the training runs it was fine-tuned from, newest first (its whole history)."""
    runs = []
    while card:
        runs.append(card)
        card = card.get("fine_tuned_from")
    return runs


def training_minutes(card: dict) -> float:
    """Minutes of training behind a model: its own run and every run it was fine-tuned from."""
    return sum(run.get("train_minutes") or 0.0 for run in lineage(card))


def load_model(folder: str | Path, method: str, build: Callable[[dict], torch.nn.Module],
               dev: str | torch.device = "cpu") -> tuple[torch.nn.Module, dict]:
    """Rebuild a model from its card with `build(config)` and load its weights strictly; the
    model's `weights_record` names them (folder, sha256, seed) for a restoration's sidecar."""
    folder = Path(folder)
    card = read_card(folder)
    if card.get("method", method) != method:
        raise IsonbError(f"{folder}: holds a {card['method']!r} model, not {method!r}. "
                         f"Fix: pass --method {card['method']}")
    path = folder / WEIGHTS
    if card.get("sha256") and card["sha256"] != sha256(path):
        raise IsonbError(f"{path}: checksum differs from {CARD}. Fix: re-copy the weights")
    try:
        model = build(card["config"])
        model.load_state_dict(load_file(str(path)), strict=True)
    except (RuntimeError, KeyError, TypeError) as err:
        first = str(err).strip().splitlines()[0][:300]
        raise IsonbError(f"{folder}: the weights do not match the config in {CARD} ({first}). "
                         "Fix: use the model.json written with these weights") from None
    model.weights_record = {"folder": str(folder.resolve()), "method": method,
                            "sha256": card.get("sha256"), "seed": card.get("seed")}
    return model.to(dev).eval(), card
