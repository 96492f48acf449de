"""Reference methods that isonb is compared with."""

from .classic import interpolate, richardson_lucy

__all__ = ["interpolate", "richardson_lucy"]
