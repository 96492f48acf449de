"""Restoration at real sizes: tiles equal to whole slices, streaming equal to in memory."""

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter

from isonb import ldm as L
from isonb import restore as R
from isonb.baselines.care import CAREConfig, CAREUNet
from isonb.cli import main
from isonb.errors import IsonbError
from isonb.io import read_stack, write_stack
from isonb.models.gan import GANConfig, ResnetGenerator
from isonb.volume import halo_tiles

REFERENCE_NETWORKS = {"care": lambda: CAREUNet(CAREConfig()).eval(),
                      "selfnet": lambda: ResnetGenerator(GANConfig(ngf=8, blocks=6)).eval()}


def wide_slices(n: int = 2, depth: int = 37, width: int = 613) -> np.ndarray:
    """Smooth random axial slices wider than 600 px, intensities in about [0, 1]."""
    x = gaussian_filter(np.random.default_rng(0).random((n, depth, width)), (0, 2, 2)) * 6 - 2.5
    return x.astype(np.float32)


@pytest.mark.parametrize("name", ["ldm", *REFERENCE_NETWORKS])
def test_tiles_give_the_whole_slice(name, tiny_ldm):
    torch.manual_seed(0)
    model = tiny_ldm if name == "ldm" else REFERENCE_NETWORKS[name]()
    images = wide_slices()
    kw = dict(progress=False, spread_samples=3)  # the map's own-noise samples too (LDM)
    whole, whole_var = R.restore_slices(model, images, tile=4096, **kw)
    tiled, tiled_var = R.restore_slices(model, images, tile=128, **kw)
    span = whole.max() - whole.min()
    error = np.abs(tiled - whole).max()
    assert error <= 1e-4 * span  # the issue asks for 1 %
    assert np.abs(np.sqrt(tiled_var) - np.sqrt(whole_var)).max() <= 1e-4 * span
    assert (whole_var.max() > 0) == (name == "ldm")
    bare, _ = R.restore_slices(model, images, tile=128, halo=0, progress=False)
    assert np.abs(bare - whole).max() > 10 * max(error, 1e-6 * span)  # the halo is what helps


def test_halo_tiles_cover_each_pixel_once_on_the_grid():
    for size, core, halo, multiple in ((616, 128, 64, 8), (40, 128, 64, 8), (1000, 100, 30, 4)):
        covered = np.zeros(size, int)
        for window, inner, out in halo_tiles(size, core, halo, multiple):
            assert window.start % multiple == 0
            assert inner.stop - inner.start == out.stop - out.start
            assert out.start == window.start + inner.start
            covered[out] += 1
        assert (covered == 1).all()


def test_streaming_through_scratch_files_and_slabs_equals_in_memory(stack, tiny_ldm,
                                                                   monkeypatch, tmp_path):
    st, _ = stack
    kw = dict(samples=2, steps=2, progress=False)
    model = tiny_ldm
    memory, spread = R.restore_network(st.data, st.voxel_size, model, slab=1000, **kw)
    monkeypatch.setattr(R, "IN_MEMORY_BYTES", 0)
    streamed, streamed_spread = R.restore_network(st.data, st.voxel_size, model,
                                                  scratch=tmp_path, slab=3, **kw)
    assert spread is not None and len(memory) > 3
    assert np.array_equal(memory, streamed) and np.array_equal(spread, streamed_spread)
    assert list(tmp_path.iterdir()) == []  # scratch files are removed


def test_views_are_fused_by_orientation_for_the_ldm_and_averaged_for_references(stack,
                                                                                tiny_ldm):
    st, _ = stack
    kw = dict(samples=1, steps=1, progress=False, uncertainty=False, diffusion="off")
    for model, auto_is in ((tiny_ldm, "orientation"), (REFERENCE_NETWORKS["care"](), "average")):
        vols = {f: R.restore_network(st.data, st.voxel_size, model, fusion=f, **kw)[0]
                for f in ("auto", "average", "orientation")}
        assert np.array_equal(vols["auto"], vols[auto_is])
        assert np.abs(vols["average"] - vols["orientation"]).max() > 1e-3 * np.ptp(vols["average"])


def test_a_restoration_that_goes_nan_stops_with_one_line_instead_of_writing_it(
        stack, tiny_ldm, monkeypatch):
    st, _ = stack
    monkeypatch.setattr(R.degrade, "refocus", lambda vol, deg: vol * np.nan)
    monkeypatch.setattr(R, "_refocus_degradation", lambda deg: deg)
    with pytest.raises(IsonbError, match="NaN/inf.*--no-refocus"):
        R.restore_network(st.data, st.voxel_size, tiny_ldm, progress=False,
                          uncertainty=False, diffusion="off")
    monkeypatch.undo()
    vol, _ = R.restore_network(st.data, st.voxel_size, tiny_ldm, progress=False,
                               uncertainty=False, diffusion="off")
    assert np.isfinite(vol).all()


def test_diffusion_auto_skips_a_negligible_correction_and_says_so(stack, tiny_ldm, capsys):
    st, _ = stack
    model = tiny_ldm
    kw = dict(samples=2, steps=2, progress=False, uncertainty=False)
    model.refine_weight.fill_(0.0)  # no correction at all
    vol, spread = R.restore_network(st.data, st.voxel_size, model, diffusion="auto", **kw)
    assert spread is None and "skipped" in capsys.readouterr().out
    plain, _ = R.restore_network(st.data, st.voxel_size, model, diffusion="off", **kw)
    assert np.array_equal(vol, plain)
    model.refine_weight.fill_(1.0)  # a random denoiser's correction is far from negligible
    R.restore_network(st.data, st.voxel_size, model, diffusion="auto", **kw)
    assert "sampled" in capsys.readouterr().out


def test_cli_tile_option_agrees_with_the_default_on_a_wide_stack(tiny_ldm, tmp_path):
    L.save(tiny_ldm, tmp_path / "w", {"seed": 0})
    rng = np.random.default_rng(1)
    data = gaussian_filter(rng.random((6, 48, 616)), 1.5).astype(np.float32)
    write_stack(tmp_path / "wide.tif", data, (0.3, 0.1, 0.1))
    outs = []
    for extra in ([], ["--tile", "128"]):
        out = tmp_path / f"out{len(outs)}.tif"
        assert main(["restore", str(tmp_path / "wide.tif"), str(out), "--weights",
                     str(tmp_path / "w"), "--steps", "2", "--diffusion", "on", *extra]) == 0
        outs.append(read_stack(out).data)
    span = outs[0].max() - outs[0].min()
    assert outs[0].shape == (16, 48, 616)
    assert np.abs(outs[1] - outs[0]).max() <= 0.01 * span


def test_mixed_precision_stays_close_to_fp32_and_unknown_precision_is_refused(tiny_ldm):
    images = wide_slices(width=96)
    full, _ = R.restore_slices(tiny_ldm, images, samples=2, steps=2, progress=False,
                               precision="fp32")
    half, _ = R.restore_slices(tiny_ldm, images, samples=2, steps=2, progress=False,
                               precision="fp16")  # what "auto" runs on a CUDA GPU
    span = full.max() - full.min()
    difference = np.abs(half - full).max()
    assert 0 < difference <= 0.005 * span  # fp16 keeps 11 bits of mantissa: it does change
    auto, _ = R.restore_slices(tiny_ldm, images, samples=2, steps=2, progress=False)
    assert np.array_equal(auto, full)  # "auto" is fp32 on a CPU
    with pytest.raises(R.IsonbError, match="precision"):
        R.restore_slices(tiny_ldm, images, progress=False, precision="fp8")


def test_sample_output_is_one_unshrunk_draw_tied_to_the_seed_and_exact_in_tiles(tiny_ldm):
    images = wide_slices(width=200)
    kw = dict(steps=2, progress=False)
    tiny_ldm.refine_weight.fill_(0.3)  # a sample is not shrunk by the refine weight
    sample, _ = R.restore_slices(tiny_ldm, images, samples=2, output="sample", **kw)
    e, (h, w) = R.EDGE, images.shape[1:]  # lateral edges are mirrored, then cropped
    mirrored = np.pad(images, ((0, 0), (0, 0), (e, e)), mode="reflect")
    x = L.pad_to(torch.from_numpy(mirrored)[:, None], tiny_ldm.multiple)[0]
    noise = R.drifting_noise(tiny_ldm, mirrored.shape[1:], 0, 0, np.arange(len(images)))
    draw = tiny_ldm.restore(x, noise[..., :x.shape[-2] // 4, :x.shape[-1] // 4], 2,
                            refine=False)[0, :, 0, :h, e:e + w]
    span = sample.max() - sample.min()
    assert np.abs(sample - draw.numpy()).max() <= 1e-5 * span
    mean, _ = R.restore_slices(tiny_ldm, images, samples=2, **kw)
    assert np.abs(sample - mean).mean() > 0.01 * span  # a draw, not the mean
    again, _ = R.restore_slices(tiny_ldm, images, output="sample", **kw)
    other, _ = R.restore_slices(tiny_ldm, images, output="sample", seed=1, **kw)
    tiled, _ = R.restore_slices(tiny_ldm, images, output="sample", tile=64, **kw)
    assert np.array_equal(again, sample) and np.abs(other - sample).mean() > 0.01 * span
    assert np.abs(tiled - sample).max() <= 1e-4 * span
    with pytest.raises(R.IsonbError, match="sample needs the LDM's diffusion"):
        R.restore_slices(tiny_ldm, images, output="sample", diffusion="off", **kw)
    with pytest.raises(R.IsonbError, match="choose one of mean, sample"):
        R.restore_slices(tiny_ldm, images, output="median", **kw)


def test_drifting_noise_is_standard_normal_agrees_with_neighbours_and_repeats_nowhere(
        tiny_ldm):
    period = R.SAMPLE_DRIFT
    noise = R.drifting_noise(tiny_ldm, (128, 128), 0, 0, np.arange(4 * period))[0]
    flat = noise.flatten(1).numpy()  # (slices, C * h * w)
    assert np.allclose(flat.std(1), 1, atol=0.03) and np.abs(flat.mean(1)).max() < 0.03
    corr = np.corrcoef(flat)
    near = np.diag(corr, 1)  # cos(pi / 2 period) on every pair, across anchors too
    assert np.allclose(near, np.cos(np.pi / 2 / period), atol=0.03)
    assert np.abs(np.diag(corr, 2 * period)).max() < 0.05  # two anchors on: independent
    window = R.drifting_noise(tiny_ldm, (128, 128), 0, 0, np.arange(period - 1, period + 2))
    assert torch.equal(window[0], noise[period - 1:period + 2])  # tied to the slice index
    other_view = R.drifting_noise(tiny_ldm, (128, 128), 0, 1, np.arange(3))[0]
    assert np.abs(np.corrcoef(other_view.flatten(1).numpy(), flat[:3])[:3, 3:]).max() < 0.05


def test_a_sample_of_identical_slices_drifts_slowly(tiny_ldm):
    """Neighbouring slices' samples agree more than slices two anchors apart do."""
    images = np.repeat(wide_slices(n=1, width=96), 2 * R.SAMPLE_DRIFT + 1, axis=0)
    sample, _ = R.restore_slices(tiny_ldm, images, steps=2, progress=False, output="sample")
    step = np.abs(np.diff(sample, axis=0)).mean()
    far = np.abs(sample[2 * R.SAMPLE_DRIFT] - sample[0]).mean()
    assert 0 < step < 0.5 * far
    fast, _ = R.restore_slices(tiny_ldm, images, steps=2, progress=False, output="sample",
                               drift=1)  # every slice its own anchor: neighbours as far apart
    assert np.abs(np.diff(fast, axis=0)).mean() > 2 * step


def test_cli_sample_output_samples_even_on_auto_and_is_refused_where_nothing_samples(
        stack, tiny_ldm, tmp_path, capsys):
    st, _ = stack
    L.save(tiny_ldm, tmp_path / "w", {"seed": 0})
    tiny_ldm.refine_weight.fill_(0.0)
    L.save(tiny_ldm, tmp_path / "w0", {"seed": 0})  # "auto" would skip this one's diffusion
    common = [str(st.path), "--steps", "2", "--weights", str(tmp_path / "w0")]
    assert main(["restore", common[0], str(tmp_path / "mean.tif"), *common[1:]]) == 0
    assert "skipped" in capsys.readouterr().out
    assert main(["restore", common[0], str(tmp_path / "s.tif"), *common[1:],
                 "--output", "sample"]) == 0
    mean, sample = (read_stack(tmp_path / f).data for f in ("mean.tif", "s.tif"))
    assert sample.shape == mean.shape and np.abs(sample - mean).mean() > 0
    for bad in (["--method", "cubic"], ["--weights", str(tmp_path / "w"), "--diffusion", "off"]):
        assert main(["restore", common[0], str(tmp_path / "x.tif"), "--output", "sample",
                     *bad]) == 2
        assert "--output" in capsys.readouterr().err
    assert not (tmp_path / "x.tif").exists()


@pytest.mark.parametrize("output", ["mean", "sample"])
def test_shipped_model_invents_no_structure_in_a_known_absence_and_bounds_the_halo(output):
    """The bounds (fractions of the box's contrast): background level within 1 %; halo
    beside the edge and overshoot inside the box within 1 % and 3 %; flat background
    smoother than the input's noise for the mean, at most 3x rougher for a sample (which
    draws texture, noise included, as the xy planes have it). Measured with the shipped
    weights of this commit (stage 3, retargeted 750 steps): mean: level 0.1 %, halo 0.7 %,
    overshoot 2.9 % (close to the bound), roughness 0.10x; sample: 0.0 %, 0.4 %, 1.4 %,
    0.52x. Stage 2's mean (fused by orientation, the default): halo 0.5 %, overshoot 1.0 %;
    stage 1's 1.9 % (the background 50 fell to 32) and 6.4 %; a stage 3 retargeted 2500
    steps (not shipped) 1.0 % and 5.2 %."""
    from isonb.benchmark import box_artefacts, box_phantom
    from isonb.checkpoint import shipped_weights

    model = R.load_network(shipped_weights(), "ldm", "cpu")
    out, _ = R.restore_network(box_phantom(), (0.4, 0.2, 0.2), model, output=output,
                               diffusion="on", uncertainty=False, progress=False)
    a = box_artefacts(out)
    assert abs(a["level"]) <= 0.01 and a["halo"] <= 0.01 and a["overshoot"] <= 0.03
    assert abs(a["plateau"]) <= 0.1 and abs(a["edge"] - 47.5) <= 0.5  # the edge stays put
    assert a["roughness"] <= (0.5 if output == "mean" else 3.0)


def test_box_artefacts_are_zero_on_the_truth_and_see_a_halo():
    from isonb.benchmark import box_artefacts, box_phantom

    truth = box_phantom()
    a = box_artefacts(truth)
    assert abs(a["level"]) < 1e-3 and abs(a["plateau"]) < 1e-3 and abs(a["edge"] - 47.5) < 0.05
    assert a["halo"] < 0.01 and 0.9 < a["roughness"] < 1.1  # the noise alone
    ringing = truth.copy()
    ringing[:, :, 44:48] -= 30.0  # a dark band beside the edge
    assert abs(box_artefacts(ringing)["halo"] - 30 / 950) < 0.01
    smooth = np.full_like(truth, 50.0)
    smooth[:, 32:64, 48:80] = 1000.0
    assert box_artefacts(smooth)["roughness"] == 0


def test_lateral_fwhm_deconvolves_only_the_ldms_z_by_that_gaussian(stack, tiny_ldm):
    from isonb.degrade import deblur_axial

    st, case = stack
    fwhm = case.stats["psf_fwhm_lateral_um"]
    kw = dict(samples=1, steps=1, progress=False, uncertainty=False, diffusion="off")
    plain, _ = R.restore_network(st.data, st.voxel_size, tiny_ldm, **kw)
    deblurred, _ = R.restore_network(st.data, st.voxel_size, tiny_ldm, lateral_fwhm=fwhm, **kw)
    sigma = fwhm / st.voxel_size[2] / 2.3548
    # the fusion and refocusing are linear and lateral: filtering z before them is after them
    expected = deblur_axial(plain.transpose(1, 0, 2), sigma).transpose(1, 0, 2)
    assert np.abs(deblurred - plain).max() > 0.01 * np.ptp(plain)
    np.testing.assert_allclose(deblurred, expected, atol=1e-4 * np.ptp(plain))
    care = REFERENCE_NETWORKS["care"]()  # the references stay as their papers describe them
    assert np.array_equal(R.restore_network(st.data, st.voxel_size, care, **kw)[0],
                          R.restore_network(st.data, st.voxel_size, care, lateral_fwhm=fwhm,
                                            **kw)[0])
    with pytest.raises(IsonbError, match="lateral FWHM 200.0 µm.*Fix: give it in µm"):
        R.RestoreConfig(lateral_fwhm=200.0)


def test_deblur_axial_undoes_a_gaussian_blur_along_z_and_keeps_the_mean():
    from isonb.degrade import deblur_axial

    rng = np.random.default_rng(0)
    noise = rng.normal(size=(3, 96, 40)).astype(np.float32)
    sharp = gaussian_filter(noise, (0, 1.5, 0), mode="mirror") + 1  # (slices, z, x)
    blurred = gaussian_filter(sharp, (0, 1.0, 0), mode="mirror")
    restored = deblur_axial(blurred, 1.0)
    assert np.mean((restored - sharp) ** 2) < 0.2 * np.mean((blurred - sharp) ** 2)
    assert abs(restored.mean() - blurred.mean()) < 1e-4
    np.testing.assert_allclose(deblur_axial(np.full((2, 30, 5), 7.0), 1.5), 7.0, rtol=1e-5)
