"""Where and in what precision the networks run: a CUDA GPU, an Apple GPU or the CPU."""

from __future__ import annotations

import contextlib

import torch

from .choices import DEVICES, PRECISIONS, check_choice
from .errors import IsonbError


def resolve_device(name: str | torch.device | None = "auto") -> torch.device:
    """The torch device for `name`: "auto" (or None) is the CUDA GPU, else Apple's GPU (mps),
    else the CPU; asking for a device this machine lacks is an error that says what to do."""
    if isinstance(name, torch.device):
        return name
    name = name or "auto"
    has = {"cuda": torch.cuda.is_available(), "mps": torch.backends.mps.is_available(),
           "cpu": True}
    if name == "auto":
        return torch.device(next(d for d in ("cuda", "mps", "cpu") if has[d]))
    check_choice("device", name, DEVICES)
    if not has[name]:
        raise IsonbError(f"no {name} device on this machine (torch {torch.__version__}); Fix: "
                         "use --device auto or cpu (on Colab: Runtime > Change runtime type "
                         "> GPU)")
    return torch.device(name)


def autocast(dev: torch.device, precision: str = "auto") -> contextlib.AbstractContextManager:
    """Inference precision on `dev`: "auto" is fp16 mixed precision on a CUDA GPU (tensor
    cores; layer norms and reductions stay in fp32) and fp32 elsewhere; "fp32", "fp16" and
    "bf16" force one. `benchmarks/results/precision.md` measures what it changes."""
    check_choice("precision", precision, PRECISIONS)
    if precision == "auto":
        precision = "fp16" if dev.type == "cuda" else "fp32"
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.float16 if precision == "fp16" else torch.bfloat16
    return torch.autocast(dev.type, dtype=dtype)


def device() -> torch.device:
    """The best device there is (`resolve_device("auto")`)."""
    return resolve_device("auto")


def available_memory() -> int | None:
    """Bytes of memory the system can give without swapping (Linux's MemAvailable); None
    where it does not say."""
    try:
        with open("/proc/meminfo") as f:
            fields = dict(line.split(":", 1) for line in f)
        return int(fields["MemAvailable"].split()[0]) * 1024
    except (OSError, KeyError, ValueError):
        return None
