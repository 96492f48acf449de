"""The one training loop: every network isonb trains (the LDM's stages, the learned
degradation, CARE-iso, Self-Net) runs through `fit`.

A stage is its modules and optimisers and a `step(i)` that makes one iteration's update and
returns the loss to log; how a method updates (one loss, or Self-Net's generators,
discriminators every second iteration and deblurring net) is its step's business. `fit` owns
the rest: the learning-rate schedule, a time budget, an EMA copy, the progress bar, and
checkpoints every few iterations that hold everything the next iteration depends on (weights,
optimiser moments, random states, a method's own state such as image pools), so an
interrupted run resumes to the weights an uninterrupted one would have reached.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from .checkpoint import WEIGHTS
from .errors import IsonbError


@dataclass
class Stage:
    """One training stage: what `fit` updates, checkpoints and resumes."""

    name: str
    modules: dict[str, torch.nn.Module]  # trained, checkpointed, put in eval mode at the end
    optimizers: dict[str, torch.optim.Optimizer]
    step: Callable[[int], float]  # iteration i's update; returns its loss
    steps: int
    lr: Callable[[int], float] | None = None  # learning rate at iteration i (every group)
    rng: np.random.Generator | None = None  # random states the steps draw from
    gen: torch.Generator | None = None
    ema: tuple[torch.nn.Module, torch.nn.Module, float] | None = None  # (copy, source, decay)
    state: dict[str, object] = field(default_factory=dict)  # more: state_dict/load_state_dict


def descend(loss: torch.Tensor, opt: torch.optim.Optimizer, clip: float | None = None) -> float:
    """One gradient step on `loss` (its gradient norm clipped to `clip`); returns the loss."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    if clip is not None:
        torch.nn.utils.clip_grad_norm_([p for g in opt.param_groups for p in g["params"]], clip)
    opt.step()
    return loss.item()


def fit(stage: Stage, ckpt: Path, deadline: float = float("inf"), checkpoint_every: int = 250,
        progress: bool = True) -> list[float]:
    """Run `stage` to `stage.steps` iterations or `deadline` (time.monotonic()), resuming from
    and checkpointing to `ckpt`; returns every iteration's loss, those before a resume too."""
    losses, start = _resume(stage, ckpt)
    if start is None:
        return losses
    for module in stage.modules.values():
        module.train()
    bar = tqdm(range(start, stage.steps), desc=stage.name, disable=not progress,
               initial=start, total=stage.steps)
    i = start
    for i in bar:
        if time.monotonic() > deadline:
            print(f"{stage.name}: time budget reached at step {i}/{stage.steps}")
            break
        if stage.lr is not None:
            for opt in stage.optimizers.values():
                for group in opt.param_groups:
                    group["lr"] = stage.lr(i)
        losses.append(stage.step(i))
        if stage.ema is not None:
            copy, source, decay = stage.ema
            with torch.no_grad():
                for pe, pm in zip(copy.parameters(), source.parameters()):
                    pe.lerp_(pm, 1.0 - decay)
        if i % 20 == 0:
            bar.set_postfix(loss=f"{np.mean(losses[-20:]):.4g}")
        if (i + 1) % checkpoint_every == 0:
            _save(stage, ckpt, losses, i + 1, False)
    else:
        i = stage.steps
    _save(stage, ckpt, losses, i, True)
    for module in stage.modules.values():
        module.eval()
    return losses


def _save(stage: Stage, ckpt: Path, losses: list[float], step: int, done: bool) -> None:
    torch.save({"modules": {k: m.state_dict() for k, m in stage.modules.items()},
                "optimizers": {k: o.state_dict() for k, o in stage.optimizers.items()},
                "ema": stage.ema[0].state_dict() if stage.ema else None,
                "state": {k: s.state_dict() for k, s in stage.state.items()},
                "np_rng": json.dumps(stage.rng.bit_generator.state) if stage.rng else None,
                "torch_rng": stage.gen.get_state() if stage.gen is not None else None,
                "losses": losses, "step": step, "done": done}, ckpt)


def _resume(stage: Stage, ckpt: Path) -> tuple[list[float], int | None]:
    """(losses so far, iteration to continue from; None when the stage is done)."""
    if not ckpt.exists():
        return [], 0
    saved = torch.load(ckpt, weights_only=True)
    for k, module in stage.modules.items():
        module.load_state_dict(saved["modules"][k])
    for k, opt in stage.optimizers.items():
        opt.load_state_dict(saved["optimizers"][k])
    if stage.ema:
        stage.ema[0].load_state_dict(saved["ema"])
    for k, s in stage.state.items():
        s.load_state_dict(saved["state"][k])
    if stage.rng is not None:
        stage.rng.bit_generator.state = json.loads(saved["np_rng"])
    if stage.gen is not None:
        stage.gen.set_state(saved["torch_rng"])
    losses = list(saved["losses"])
    if saved["done"]:
        for module in stage.modules.values():
            module.eval()
        return losses, None
    return losses, int(saved["step"])


def checkpoint_folder(out: str | Path, cfg: object, overwrite: bool) -> Path:
    """`out`/checkpoints, ready for a run of `cfg` (a dataclass): kept when it holds the same
    configuration's interrupted run (which then resumes), refused when it holds finished
    weights or another configuration's run, unless `overwrite` (which starts afresh)."""
    out = Path(out)
    folder = out / "checkpoints"
    if (out / WEIGHTS).exists():
        if not overwrite:
            raise IsonbError(f"{out}: holds trained weights already. Fix: choose another --out "
                             "or pass --overwrite")
        shutil.rmtree(folder, ignore_errors=True)  # finished: nothing to resume
    saved = folder / "train_config.json"
    config = json.loads(json.dumps(asdict(cfg)))
    if saved.exists() and json.loads(saved.read_text()) != config:
        if not overwrite:
            raise IsonbError(f"{out}: has checkpoints of a different configuration. Fix: "
                             "choose another --out, or pass --overwrite to start afresh")
        shutil.rmtree(folder)  # asked to overwrite: stale checkpoints go too
    folder.mkdir(parents=True, exist_ok=True)
    saved.write_text(json.dumps(config, indent=2))
    return folder


def cosine_lr(lr: float, steps: int) -> Callable[[int], float]:
    """Cosine decay from `lr` to 10 % of it over `steps` iterations."""
    return lambda i: float(lr * (0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * min(i / max(steps, 1),
                                                                           1.0)))))


def deadline_after(minutes: float) -> float:
    """time.monotonic() `minutes` from now; no deadline for 0."""
    return time.monotonic() + (minutes * 60 if minutes > 0 else float("inf"))
