import json

import numpy as np
import pytest
import torch

from isonb import ldm as L
from isonb.checkpoint import CARD, WEIGHTS
from isonb.errors import IsonbError
from isonb.models.autoencoder import AutoencoderConfig
from isonb.models.unet import UNetConfig
from isonb.restore import restore_slices

TINY = L.LDMConfig(AutoencoderConfig(ch=8, latent_ch=4), UNetConfig(1, 1, 8, (1, 2, 4)),
                   UNetConfig(12, 4, 16, (1, 2), time=True))


@pytest.fixture
def model():
    torch.manual_seed(0)
    return L.LDM(TINY).eval()


def test_restore_shapes_and_padding(model):
    x = torch.rand(3, 1, 40, 56)
    xp, (h, w) = L.pad_to(x, model.multiple)
    assert (h, w) == (40, 56) and xp.shape[-2] % 8 == 0 and xp.shape[-1] % 8 == 0
    noise = torch.randn(2, 4, xp.shape[-2] // 4, xp.shape[-1] // 4)
    assert model.restore(xp, noise, steps=2).shape == (2, 3, 1, *xp.shape[-2:])


def test_refine_weight_scales_the_correction_and_keeps_the_spread(model):
    x, noise = torch.rand(2, 1, 32, 32), torch.randn(3, 4, 8, 8)
    x_hat, base, xk = model.samples(x, noise, steps=2)
    model.refine_weight.fill_(0.0)
    off = model.restore(x, noise, steps=2)
    assert torch.allclose(off.mean(0), x_hat, atol=1e-5)  # w = 0: the regressor's estimate
    model.refine_weight.fill_(1.0)
    on = model.restore(x, noise, steps=2)
    assert torch.allclose(on.mean(0), x_hat + xk.mean(0) - base, atol=1e-5)
    assert torch.allclose(on.std(0), xk.std(0), atol=1e-5)  # spread of the samples either way
    assert torch.allclose(off.std(0), on.std(0), atol=1e-5) and on.std(0).mean() > 0


def test_save_load_roundtrip_gives_identical_outputs(tmp_path, model):
    L.save(model, tmp_path / "w", {"seed": 0})
    loaded, card = L.load(tmp_path / "w")
    assert card["config"]["autoencoder"]["latent_ch"] == 4 and len(card["sha256"]) == 64
    x = torch.rand(1, 1, 32, 32)
    noise = torch.randn(1, 4, 8, 8)
    assert torch.equal(model.restore(x, noise, 2), loaded.restore(x, noise, 2))
    with pytest.raises(IsonbError, match="exists already"):
        L.save(model, tmp_path / "w", {})


def test_mismatched_config_gives_a_clear_error(tmp_path, model):
    L.save(model, tmp_path / "w", {})
    card = json.loads((tmp_path / "w" / CARD).read_text())
    card["config"]["regressor"]["ch"] = 16
    (tmp_path / "w" / CARD).write_text(json.dumps(card))
    with pytest.raises(IsonbError, match="do not match the config"):
        L.load(tmp_path / "w")


def test_corrupted_or_missing_weights(tmp_path, model):
    with pytest.raises(IsonbError, match="--weights"):
        L.load(tmp_path / "nothing")
    L.save(model, tmp_path / "w", {})
    with open(tmp_path / "w" / WEIGHTS, "r+b") as f:
        f.seek(-4, 2)
        f.write(b"\x00\x01\x02\x03")
    with pytest.raises(IsonbError, match="checksum"):
        L.load(tmp_path / "w")


def test_same_seed_same_output_other_seed_other_output(model):
    images = np.random.default_rng(1).random((2, 32, 32)).astype(np.float32)
    a, _ = restore_slices(model, images, samples=2, steps=2, seed=3, progress=False)
    b, _ = restore_slices(model, images, samples=2, steps=2, seed=3, progress=False)
    c, _ = restore_slices(model, images, samples=2, steps=2, seed=4, progress=False)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
