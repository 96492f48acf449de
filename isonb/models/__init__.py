"""The networks of the latent diffusion model: a small autoencoder and UNets."""

from .autoencoder import Autoencoder
from .unet import UNet

__all__ = ["Autoencoder", "UNet"]
