import torch

from isonb.diffusion import alpha_sigma, ddim_sample, v_loss


def oracle(z0: torch.Tensor):
    """A denoiser that knows the clean latent: returns the exact v for any z_t."""
    def denoiser(inp: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        zt = inp[:, : z0.shape[1]]
        a, s = alpha_sigma(t[0])
        eps = (zt - a * z0) / s
        return a * eps - s * z0
    return denoiser


def test_schedule_preserves_variance_and_ends_near_noise():
    t = torch.linspace(0, 1, 11)
    a, s = alpha_sigma(t)
    torch.testing.assert_close(a**2 + s**2, torch.ones(11))
    assert a[0] == 1 and s[0] == 0 and a[-1] < 0.01


def test_ddim_with_an_oracle_recovers_the_clean_latent():
    gen = torch.Generator().manual_seed(0)
    z0 = torch.randn(3, 4, 8, 8, generator=gen)
    noise = torch.randn(3, 4, 8, 8, generator=gen)
    cond = torch.zeros(3, 2, 8, 8)
    for steps in (1, 4, 10):
        torch.testing.assert_close(ddim_sample(oracle(z0), cond, noise, steps), z0,
                                   atol=1e-4, rtol=1e-4)


def test_ddim_is_deterministic_given_the_noise():
    net = torch.nn.Conv2d(6, 4, 3, padding=1)
    den = lambda x, t: net(x) * t[:, None, None, None]  # noqa: E731
    cond = torch.randn(2, 2, 8, 8)
    noise = torch.randn(2, 4, 8, 8)
    a = ddim_sample(den, cond, noise, 4)
    b = ddim_sample(den, cond, noise.clone(), 4)
    assert torch.equal(a, b)
    assert not torch.equal(a, ddim_sample(den, cond, torch.randn(2, 4, 8, 8), 4))


def test_v_loss_is_zero_for_the_oracle_and_positive_otherwise():
    z0 = torch.randn(4, 2, 8, 8)
    cond = torch.zeros(4, 1, 8, 8)

    def exact(inp, t):
        a, s = alpha_sigma(t)
        a, s = a[:, None, None, None], s[:, None, None, None]
        eps = (inp[:, :2] - a * z0) / s
        return a * eps - s * z0

    assert v_loss(exact, z0, cond, torch.Generator().manual_seed(1)) < 1e-6
    assert v_loss(lambda x, t: torch.zeros_like(z0), z0, cond) > 0.1
