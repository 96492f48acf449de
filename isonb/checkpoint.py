"""Saving and loading trained models: safetensors weights plus a JSON card, rebuilt strictly.

Every model folder holds weights.safetensors and model.json; the card names the method
("ldm", "care", "selfnet"), the architecture config that rebuilds the model, the training
config, seed, data, time, hardware and the weights' sha256.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from .errors import IsonbError

WEIGHTS = "weights.safetensors"
CARD = "model.json"


def device() -> torch.device:
    """The GPU when there is one, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def to_numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().float().cpu().numpy()


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def save_model(model: torch.nn.Module, folder: str | Path, method: str, card: dict,
               overwrite: bool = False) -> Path:
    """Write weights.safetensors and model.json ({method, config: asdict(model.cfg), ...card})."""
    folder = Path(folder)
    path = folder / WEIGHTS
    if path.exists() and not overwrite:
        raise IsonbError(f"{path}: exists already. Fix: choose another --out or pass --overwrite")
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(tensors, str(path))
    full = {"method": method, "config": asdict(model.cfg), **card, "weights": WEIGHTS,
            "sha256": sha256(path)}
    (folder / CARD).write_text(json.dumps(full, indent=2))
    return folder


def read_card(folder: str | Path) -> dict:
    """The model card of a weights folder, with a clear error when there is none."""
    folder = Path(folder)
    if not (folder / CARD).exists() or not (folder / WEIGHTS).exists():
        raise IsonbError(f"{folder}: no {CARD} and {WEIGHTS} there. Fix: point --weights at a "
                         "folder written by `python -m isonb train`")
    return json.loads((folder / CARD).read_text())


def load_model(folder: str | Path, method: str, build: Callable[[dict], torch.nn.Module],
               dev: str | torch.device = "cpu") -> tuple[torch.nn.Module, dict]:
    """Rebuild a model from its card with `build(config)` and load its weights strictly."""
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
    return model.to(dev).eval(), card
