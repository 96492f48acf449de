"""The names a user chooses between, apart from the stages that implement them, so that the
command line can list them without importing torch or scipy."""

from collections.abc import Iterable

from .errors import IsonbError

CLASSIC_METHODS = ("linear", "cubic", "rl")  # restoration without training
NETWORKS = ("ldm", "care", "selfnet")  # trained per stack (or shipped, for the LDM)
METHODS = (*CLASSIC_METHODS, *NETWORKS)
DEVICES = ("auto", "cuda", "mps", "cpu")  # where networks run
PRECISIONS = ("auto", "fp32", "fp16", "bf16")  # their arithmetic (`devices.autocast`)
DIFFUSION = ("auto", "on", "off")  # whether the LDM's diffusion is sampled
OUTPUTS = ("mean", "sample")  # the LDM's output: its MMSE estimate, or one posterior sample
# how the xz and yz restorations are combined; "auto": by orientation for the LDM's mean,
# their mean for a sample and for the reference networks (`volume.resolve_fusion`)
FUSIONS = ("auto", "average", "orientation")
DEGRADATIONS = ("psf", "learned")  # how the LDM's training inputs are made
STRUCTURES = ("nuclei", "membranes", "sinusoids", "canaliculi", "puncta", "mixed", "beads")
MIXED = ("nuclei", "membranes", "sinusoids", "canaliculi", "puncta")  # what "mixed" holds
PSF_MODELS = ("gaussian", "widefield", "confocal")
UNCERTAINTY_SAMPLES = 4  # samples per slice, with noise of their own, for the uncertainty map


def check_choice(what: str, value: str, allowed: Iterable[str]) -> str:
    """`value` when it is one of `allowed`; else an error naming `what` and the choices."""
    allowed = tuple(allowed)
    if value not in allowed:
        raise IsonbError(f"unknown {what} {value!r}; Fix: choose one of {', '.join(allowed)}")
    return value
