"""Training the latent diffusion model on the stacks to restore: unpaired, no ground truth.

Four stages (five with a learned degradation), each checkpointed and resumable
(`loop.fit`), then one calibration:
  0. degrader     synthetic -> real axial patches (degradation="learned" only)   CycleGAN
  1. autoencoder  on xy and axial patches of the stacks          L1 + 0.2 (1 - SSIM)
  2. regressor    on recorrupted (synthetic axial, xy) pairs     L1
  2b. retarget    the regressor again, on pairs whose targets are the xy planes of its own
                  restoration of each stack's central window, in rounds: each restores
                  the window again with the regressor the last one trained   L1
  3. diffusion    on (synthetic axial, xy) pairs: residual latents   v-prediction MSE, EMA
  4. refine weight: least-squares weight of the diffusion's correction, on held-out pairs
Synthetic axial patches come from real xy patches degraded with the degradation estimated
from each stack (`patches.prepare`): the target domain is the xy planes, the source domain
the resliced xz/yz planes. With degradation="learned", a CycleGAN generator trained first
(`isonb.learned_degradation`) makes the synthetic patches look like the real ones.
Recorrupted pairs (R2R) have independent noise in input and target, so the regressor
learns noise-free images although no clean image is ever seen. An observed xy plane is
itself blurred by the axial PSF where structure is oblique to it (an inclined membrane is
wide in it); the restored volume's xy planes are not, or less, so stage 2b learns sharper
targets than the stack shows, from no ground truth, and a second round's restoration is
sharper again (measured in docs/RESULTS.md).
Every 10th xy patch is held out of all training, for the autoencoder's PSNR and step 4.
With `init` (the quick presets: the shipped generalist) every stage starts from trained
weights, so a per-stack budget is spent adapting to the stack rather than learning to see.
"""

from __future__ import annotations

import platform
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from . import ldm as ldm_lib
from . import patches
from .checkpoint import from_dict, lineage, read_card, shipped_weights, training_minutes
from .choices import DEGRADATIONS, check_choice
from .devices import device
from .diffusion import v_loss
from .errors import IsonbError
from .io import Stack
from .ldm import LDM, LDMConfig
from .learned_degradation import CycleGAN, DegraderConfig, as_transform
from .loop import Stage, checkpoint_folder, cosine_lr, descend, fit
from .models.autoencoder import Autoencoder, ssim_loss
from .patches import PairSampler, TrainingData
from .restore import restore_network
from .volume import augment

# each stage's share of a --minutes budget, normalised over the stages that run (the
# retargeting's is split between its rounds)
SHARE = {"degrader": 0.2, "autoencoder": 0.15, "regressor": 0.4, "retarget": 0.2,
         "diffusion": 0.25}
SEED_INDEX = {"autoencoder": 0, "regressor": 1, "diffusion": 2, "calibration": 3, "degrader": 4,
              "retarget": 5}
HOLD_OUT = 10  # every HOLD_OUT-th xy patch is held out of training
GPU_REGRESSOR_STEPS = 2400  # the quick preset's regressor steps on a CUDA GPU (CPU: 600)


@dataclass
class TrainConfig:
    """One training run; saved in the model card next to the weights it produced."""

    seed: int = 0
    degradation: str = "psf"  # "psf": the estimated PSF model; "learned": + a CycleGAN on it
    patch: int = 64  # square patch side (px); a multiple of 8
    n_patches: int = 3000  # xy patches drawn from the stacks (and as many axial ones)
    batch: int = 16
    autoencoder_steps: int = 2000
    regressor_steps: int = 2000
    retarget_steps: int = 1000  # the regressor's steps on its own restoration's planes (0: off)
    retarget_rounds: int = 2  # rounds sharing those steps; each restores the windows anew
    retarget_voxels: int = patches.WINDOW_VOXELS  # isotropic voxels restored per stack for it
    diffusion_steps: int = 3000
    degrader_steps: int = 1500  # with degradation="learned"
    lr: float = 5e-4  # AdamW, cosine decay to 10% over each stage
    recorrupt: float = 0.5  # R2R strength a of the regressor's pairs (0: plain noisy targets)
    ema: float = 0.999  # EMA decay of the denoiser's weights
    checkpoint_every: int = 250
    minutes: float = 0.0  # time cap of the stages, shared by SHARE (0: none)
    init: str = ""  # weights to fine-tune: "shipped", a weights folder, or "" (random start)
    model: LDMConfig = field(default_factory=LDMConfig)
    degrader: DegraderConfig = field(default_factory=DegraderConfig)

    @classmethod
    def quick(cls, gpu: bool | None = None, **overrides) -> TrainConfig:
        """Few steps on small pools: a per-stack run of a few minutes on a laptop CPU, which
        fine-tunes the shipped generalist rather than learning to see from random weights.
        On a CUDA GPU (`gpu`; None: whether training will run on one), where those minutes
        are seconds, the regressor, whose estimate is the output, trains `GPU_REGRESSOR_STEPS`
        steps: on the 8 public cases +0.0029 SSIM / +0.15 dB on the mean over 600, SSIM
        higher on each (docs/RESULTS.md, "Longer per-stack training")."""
        if gpu is None:
            gpu = device().type == "cuda"
        base = dict(n_patches=800, autoencoder_steps=300,
                    regressor_steps=GPU_REGRESSOR_STEPS if gpu else 600,
                    retarget_steps=300, diffusion_steps=400, degrader_steps=300,
                    checkpoint_every=100, init="shipped")
        return cls(**{**base, **overrides})

    @classmethod
    def smoke(cls, **overrides) -> TrainConfig:
        """A minute-long run that only proves the pipeline works (notebooks in CI)."""
        base = dict(n_patches=200, autoencoder_steps=40, regressor_steps=40,
                    retarget_steps=20, retarget_voxels=1 << 20, diffusion_steps=40,
                    degrader_steps=20, checkpoint_every=20, init="shipped")
        return cls(**{**base, **overrides})


@dataclass
class Run:
    """What the stages of one training share: the data, the model, and the clock."""

    cfg: TrainConfig
    data: TrainingData
    model: LDM
    held: PairSampler  # every HOLD_OUT-th xy patch and its pairs
    pairs: PairSampler  # the others: what the stages train on
    held_xy: np.ndarray  # the held-out observed xy patches (the autoencoder's PSNR)
    ckpt: Path
    dev: torch.device
    budget: float  # seconds for all stages (inf: none)
    progress: bool
    started: float = field(default_factory=time.monotonic)
    losses: dict[str, list[float]] = field(default_factory=dict)

    @property
    def stages(self) -> tuple[str, ...]:
        """The stages this run trains, in order."""
        return ((("degrader",) if self.cfg.degradation == "learned" else ())
                + ("autoencoder", "regressor") + retarget_stages(self.cfg.retarget_rounds)
                + ("diffusion",))

    def share(self, stage: str) -> float:
        """The stage's share of a time budget (`SHARE`)."""
        if stage.startswith("retarget"):
            return SHARE["retarget"] / self.cfg.retarget_rounds
        return SHARE[stage]

    def tensor(self, a: np.ndarray) -> torch.Tensor:
        """An array as a float32 tensor on the run's device."""
        return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).to(self.dev)

    def rng(self, stage: str) -> np.random.Generator:
        """The stage's own generator, which the samplers draw from during it."""
        rng = np.random.default_rng([self.cfg.seed, seed_index(stage)])
        self.pairs.rng = self.held.rng = rng
        return rng

    def seconds_for(self, stage: str) -> float:
        """The stage's share of the budget still left, among the stages from it on (inf
        without a budget)."""
        left = self.budget - (time.monotonic() - self.started)
        return left * self.share(stage) / sum(self.share(s) for s in self.stages[
            self.stages.index(stage):])

    def fit(self, stage: Stage) -> list[float]:
        """`loop.fit` with the stage's share of the budget still left as its deadline."""
        self.losses[stage.name] = fit(stage, self.ckpt / f"{stage.name}.pt",
                                      time.monotonic() + self.seconds_for(stage.name),
                                      self.cfg.checkpoint_every, self.progress)
        return self.losses[stage.name]


def adamw(module: torch.nn.Module, lr: float, betas: tuple[float, float] = (0.9, 0.999)
          ) -> torch.optim.AdamW:
    """AdamW over the module's parameters, with the weight decay every stage uses."""
    return torch.optim.AdamW(module.parameters(), lr=lr, betas=betas, weight_decay=1e-4)


def generator(cfg: TrainConfig, stage: str) -> torch.Generator:
    """The stage's own torch generator, seeded by the run's seed and the stage."""
    return torch.Generator().manual_seed(cfg.seed * 1000 + seed_index(stage))


def retarget_stages(rounds: int) -> tuple[str, ...]:
    """The retargeting rounds' stage names: "retarget", then "retarget-2" and on."""
    return tuple("retarget" if r == 1 else f"retarget-{r}" for r in range(1, rounds + 1))


def seed_index(stage: str) -> int:
    """The stage's place among the seeds: `SEED_INDEX`'s, 100 + r for retargeting's round
    r >= 2 (so round 1 draws as a single round did)."""
    rounds = stage.removeprefix("retarget-")
    return 100 + int(rounds) if rounds != stage else SEED_INDEX[stage]


def train(stacks: list[Stack] | TrainingData, out: str | Path, cfg: TrainConfig | None = None,
          overwrite: bool = False, progress: bool = True) -> Path:
    """Train the LDM on `stacks` (or on their prepared set, `patches.load`) and write
    weights.safetensors + model.json into `out`.

    Re-running an interrupted training with the same `out` and configuration resumes from
    the stage checkpoints in out/checkpoints; `overwrite` retrains a finished one afresh.
    A prepared set brings its own patch size, pool size and seed.
    """
    cfg = cfg or TrainConfig()
    check_choice("degradation", cfg.degradation, DEGRADATIONS)
    if isinstance(stacks, TrainingData):
        m = stacks.meta
        cfg = replace(cfg, patch=m["patch"], n_patches=m["n_patches"], seed=m["seed"])
    ckpt = checkpoint_folder(out, cfg, overwrite)
    run = _start(stacks, cfg, ckpt, progress)
    pretrained = _initialise(run)
    if cfg.degradation == "learned":
        _degrader(run)
    _autoencoder(run)
    _regressor(run)
    retarget = _retarget(run)
    _diffusion(run)
    run.held.rng = np.random.default_rng([cfg.seed, SEED_INDEX["calibration"]])
    refine = calibrate_refine_weight(run.model, run.held, cfg,
                                     torch.Generator().manual_seed(cfg.seed))
    run.model.refine_weight.fill_(refine["refine_weight"])
    return _finish(run, Path(out), refine, pretrained, retarget)


def init_folder(init: str) -> Path:
    """The weights folder `TrainConfig.init` names ("shipped": the generalist)."""
    return shipped_weights() if init == "shipped" else Path(init)


def _initialise(run: Run) -> dict | None:
    """Start from trained weights when `cfg.init` names them (fine-tuning); returns what
    their card says of how they were made (and what they were fine-tuned from), for the new
    card."""
    if not run.cfg.init:
        return None
    folder = init_folder(run.cfg.init)
    card = read_card(folder)
    if card.get("method") != "ldm" or from_dict(LDMConfig, card["config"]) != run.cfg.model:
        raise IsonbError(f"{folder}: holds another network than this training's, so it "
                         "cannot be fine-tuned. Fix: pass --from-scratch, or --init with LDM "
                         "weights of the same architecture")
    run.model.load_state_dict(ldm_lib.load(folder, run.dev)[0].state_dict())
    print(f"  fine-tuning {folder} ({training_minutes(card):.0f} min of training over "
          f"{len(lineage(card))} run(s), the "
          f"last on {len(card.get('training_data', []))} stack(s)); --from-scratch starts from "
          "random weights")
    return {"weights": str(folder), "sha256": card.get("sha256"), "seed": card.get("seed"),
            "steps_done": card.get("steps_done"), "train_minutes": card.get("train_minutes"),
            "hardware": card.get("hardware"),
            "training_data": [d["file"] for d in card.get("training_data", [])],
            "fine_tuned_from": card.get("fine_tuned_from")}  # the earlier stages, in turn


def _start(stacks: list[Stack] | TrainingData, cfg: TrainConfig, ckpt: Path, progress: bool
           ) -> Run:
    """Seed, draw (or take) the training data, say what was estimated, build the model."""
    dev = device()
    data = stacks if isinstance(stacks, TrainingData) else None
    n = len(data.meta["stacks"]) if data else len(stacks)
    print(f"isonb train: seed {cfg.seed}, device {dev}, {n} stack(s); steps: autoencoder "
          f"{cfg.autoencoder_steps}, regressor {cfg.regressor_steps}, retargeting "
          f"{cfg.retarget_steps} in {cfg.retarget_rounds} rounds, diffusion {cfg.diffusion_steps}"
          + (f", degrader {cfg.degrader_steps}" if cfg.degradation == "learned" else ""))
    torch.manual_seed(cfg.seed)
    data = data or patches.prepare(stacks, cfg.patch, cfg.n_patches, cfg.seed)
    for stack, deg in zip(data.meta["stacks"], data.degradations):
        print(f"  {Path(stack['file']).name}: estimated "
              f"{deg.describe(stack['voxel_size_um'][2])}")
    held, pairs = data.pairs.split(HOLD_OUT)
    budget = cfg.minutes * 60 if cfg.minutes > 0 else float("inf")
    return Run(cfg, data, LDM(cfg.model).to(dev), held, pairs, held.patches, ckpt, dev, budget,
               progress)


def _degrader(run: Run) -> None:
    """0. the learned degradation: synthetic axial patches made to look like real ones."""
    cfg, axial = run.cfg, run.data.axial
    if len(axial) == 0:
        names = ", ".join(s["file"] for s in run.data.meta["stacks"])
        raise IsonbError(f"{names}: resliced, thinner than the {cfg.patch}-px patch, so there "
                         "are no real axial patches to learn the degradation from. Fix: pass "
                         "a smaller --patch, or --degradation psf")
    rng = run.rng("degrader")
    gan = CycleGAN(cfg.degrader).to(run.dev)
    opt = adamw(gan, cfg.degrader.lr, (0.5, 0.999))

    def step(i: int) -> float:
        a = run.tensor(run.pairs.draw(cfg.batch)[0])
        b = np.stack([augment(axial[j], rng, lateral=False)
                      for j in rng.integers(0, len(axial), cfg.batch)])
        return descend(gan.loss(a, run.tensor(b[:, None])), opt)

    run.fit(Stage("degrader", {"model": gan}, {"opt": opt}, step, cfg.degrader_steps,
                  cosine_lr(cfg.degrader.lr, cfg.degrader_steps), rng,
                  generator(cfg, "degrader")))
    run.pairs.transform = run.held.transform = as_transform(gan, run.dev)


def _autoencoder(run: Run) -> None:
    """1. the autoencoder, on xy and axial patches; then its latent scale, measured."""
    cfg, ae = run.cfg, run.model.autoencoder
    pool = np.concatenate([run.pairs.patches, run.data.axial])
    rng = run.rng("autoencoder")
    opt = adamw(ae, cfg.lr)

    def step(i: int) -> float:
        x = run.tensor(pool[rng.integers(0, len(pool), cfg.batch)][:, None])
        y = ae(x)
        return descend(torch.mean(torch.abs(y - x)) + 0.2 * ssim_loss(y, x), opt, clip=1.0)

    run.fit(Stage("autoencoder", {"model": ae}, {"opt": opt}, step, cfg.autoencoder_steps,
                  cosine_lr(cfg.lr, cfg.autoencoder_steps), rng, generator(cfg, "autoencoder")))
    with torch.no_grad():  # unit-variance latents, measured on data
        z = ae.encoder(run.tensor(run.pairs.patches[:256, None]))
        ae.latent_scale.fill_(1.0 / float(z.std()))


def _regressor(run: Run) -> None:
    """2. the regressor, on recorrupted (synthetic axial, xy) pairs: it learns noise-free
    images."""
    _fit_regressor(run, "regressor", run.cfg.regressor_steps, run.cfg.recorrupt,
                   run.rng("regressor"))


def _fit_regressor(run: Run, stage: str, steps: int, recorrupt: float,
                   rng: np.random.Generator) -> None:
    """The regressor's L1 descent on `run.pairs` (stages 2 and 2b)."""
    cfg, model = run.cfg, run.model
    opt = adamw(model.regressor, cfg.lr)

    def step(i: int) -> float:
        x, y = (run.tensor(a) for a in run.pairs.draw(cfg.batch, recorrupt))
        return descend(torch.mean(torch.abs(model.estimate(x) - y)), opt, clip=1.0)

    run.fit(Stage(stage, {"model": model.regressor}, {"opt": opt}, step, steps,
                  cosine_lr(cfg.lr, steps), rng, generator(cfg, stage)))


def _retarget(run: Run) -> dict | None:
    """2b. the regressor, on pairs whose xy targets are cut from its own restoration (the
    regression estimate, no refocusing) of each stack's central window, in
    `cfg.retarget_rounds` rounds that share its steps, each restoring the windows with the
    regressor as the last round left it; the later stages train and calibrate on the last
    round's pairs. A round whose share of a time budget is below the last restoration's
    time is skipped, with the rounds after it. Returns what the card records of it."""
    cfg, data = run.cfg, run.data
    if cfg.retarget_steps <= 0:
        return None
    if cfg.retarget_rounds < 1:
        raise IsonbError(f"retarget_rounds={cfg.retarget_rounds}; Fix: 1 or more (or "
                         "retarget_steps=0 for none)")
    if len(data.windows) != len(data.degradations):
        print("  retarget: skipped, the prepared set keeps no stack windows (prepared by an "
              "older isonb); prepare it again to train with it")
        return None
    ratios = [s["voxel_size_um"][0] / s["voxel_size_um"][2] for s in data.meta["stacks"]]
    seconds = []
    for r, stage in enumerate(retarget_stages(cfg.retarget_rounds)):
        seconds_left = run.seconds_for(stage)
        if seconds and seconds_left < seconds[-1]:  # a --minutes budget nearly spent
            print(f"  {stage}: skipped, its share of the time left ({seconds_left:.0f} s) is "
                  f"below a window's restoration ({seconds[-1]:.0f} s)")
            break
        t = time.monotonic()
        restored = _restored_windows(run, ratios)
        seconds.append(time.monotonic() - t)
        print(f"  {stage}: {len(restored)} window(s) restored in {seconds[-1]:.0f} s "
              f"({', '.join('x'.join(map(str, v.shape)) for v in restored)}); their xy "
              "planes are the regressor's targets from here on")
        rng = run.rng(stage)
        run.held, run.pairs = patches.retargeted(data.pairs, restored, ratios, rng).split(
            HOLD_OUT)
        steps = cfg.retarget_steps // cfg.retarget_rounds + (
            r < cfg.retarget_steps % cfg.retarget_rounds)
        _fit_regressor(run, stage, steps, 0.0, rng)  # targets denoised already
    return {"windows": [list(v.shape) for v in restored], "rounds": len(seconds),
            "restore_seconds": sum(seconds)}


def _restored_windows(run: Run, ratios: list[float]) -> list[np.ndarray]:
    """Each stack's central window restored by the regression estimate (no diffusion, no
    refocusing) onto the isotropic grid."""
    restored = []
    for window, stack, ratio in zip(run.data.windows, run.data.meta["stacks"], ratios):
        window = window[patches.central_window(window.shape, ratio, run.cfg.patch,
                                               run.cfg.retarget_voxels)]
        vol, _ = restore_network(window, tuple(stack["voxel_size_um"]), run.model,
                                 diffusion="off", refocus=False, uncertainty=False,
                                 progress=False)
        restored.append(vol)
    return restored


def _diffusion(run: Run) -> None:
    """3. the diffusion, on the residual latents the regressor misses (EMA weights kept)."""
    cfg, model = run.cfg, run.model
    rng, gen = run.rng("diffusion"), generator(cfg, "diffusion")
    with torch.no_grad():
        x, y = (run.tensor(a) for a in run.pairs.draw(64))
        z_hat, _ = model.condition(x, model.estimate(x))
        model.residual_scale.fill_(float((model.autoencoder.encode(y) - z_hat).std()))
    ema = LDM(cfg.model).denoiser.to(run.dev)
    ema.load_state_dict(model.denoiser.state_dict())
    opt = adamw(model.denoiser, cfg.lr)

    def step(i: int) -> float:
        x, y = (run.tensor(a) for a in run.pairs.draw(cfg.batch))
        with torch.no_grad():
            z_hat, cond = model.condition(x, model.estimate(x))
            z0 = (model.autoencoder.encode(y) - z_hat) / model.residual_scale
        return descend(v_loss(model.denoiser, z0, cond, gen), opt, clip=1.0)

    run.fit(Stage("diffusion", {"model": model.denoiser}, {"opt": opt}, step,
                  cfg.diffusion_steps, cosine_lr(cfg.lr, cfg.diffusion_steps), rng, gen,
                  ema=(ema, model.denoiser, cfg.ema)))
    model.denoiser.load_state_dict(ema.state_dict())
    model.eval()


def _finish(run: Run, out: Path, refine: dict[str, float], pretrained: dict | None,
            retarget: dict | None) -> Path:
    """Write the weights with their card and the loss curves."""
    cfg, losses = run.cfg, run.losses
    minutes = (time.monotonic() - run.started) / 60
    ae_psnr = autoencoder_psnr(run.model, run.tensor(run.held_xy[:, None]))
    card = {
        "description": "isonb latent diffusion (unpaired, self-supervised)",
        "train_config": asdict(cfg),
        "seed": cfg.seed,
        "training_data": run.data.meta["stacks"],
        "degradation": [asdict(d) for d in run.data.degradations],
        "steps_done": {stage: len(v) for stage, v in losses.items()},  # a time cap stops early
        "fine_tuned_from": pretrained,  # None: trained from random weights
        "retarget": retarget,  # None: the observed xy planes were the targets throughout
        "metrics": {"autoencoder_psnr_heldout_xy_db": ae_psnr, **refine,
                    "final_losses": {k: float(np.mean(v[-50:])) for k, v in losses.items() if v}},
        "train_minutes": minutes,
        "hardware": f"{platform.machine()}, {torch.get_num_threads()} threads, {run.dev}",
        "torch": torch.__version__,
    }
    ldm_lib.save(run.model, out, card, overwrite=True)
    save_loss_curves(losses, out / "loss_curves.png")
    print(f"trained in {minutes:.1f} min; autoencoder held-out xy PSNR {ae_psnr:.1f} dB; "
          f"refine weight {refine['refine_weight']:.2f} -> {out}")
    return out


@torch.no_grad()
def calibrate_refine_weight(model: LDM, held: PairSampler, cfg: TrainConfig,
                            gen: torch.Generator, n: int = 64, samples: int = 2,
                            steps: int = 4) -> dict[str, float]:
    """Least-squares weight w in [0, 1] of the diffusion's correction, on held-out pairs.

    With d = mean_k x_k - D(E(x_hat)), w minimises |x_hat + w d - y|^2 over recorrupted
    held-out pairs (targets with noise independent of the inputs, so w is not fitted to
    noise). Uses the restoration defaults (K=2 samples, 4 DDIM steps). Also returns the
    held-out MSE of x_hat and of the refined output, the gain the weight buys.
    """
    dev = next(model.parameters()).device
    x, y = (torch.from_numpy(a).to(dev) for a in held.draw(n, cfg.recorrupt))
    h = w = cfg.patch // Autoencoder.factor
    noise = torch.randn((samples, cfg.model.autoencoder.latent_ch, h, w), generator=gen).to(dev)
    x_hat, d = [], []
    for xb in x.split(cfg.batch):
        xh, base, xk = model.samples(xb, noise, steps)
        x_hat.append(xh)
        d.append(xk.mean(0) - base)
    x_hat, d = torch.cat(x_hat), torch.cat(d)
    weight = float(torch.clamp(torch.sum(d * (y - x_hat)) / torch.sum(d * d).clamp_min(1e-12),
                               0.0, 1.0))
    return {"refine_weight": weight,
            "heldout_mse_estimate": float(torch.mean((x_hat - y) ** 2)),
            "heldout_mse_refined": float(torch.mean((x_hat + weight * d - y) ** 2))}


@torch.no_grad()
def autoencoder_psnr(model: LDM, x: torch.Tensor) -> float:
    """PSNR (dB, data range 1) of the autoencoder's reconstruction of held-out patches."""
    mse = float(torch.mean((model.autoencoder(x) - x) ** 2))
    return 10 * np.log10(1.0 / max(mse, 1e-12))


def save_loss_curves(losses: dict[str, list[float]], path: Path) -> Path:
    """One panel per stage: raw loss and its running mean, log scale."""
    from matplotlib.figure import Figure  # no pyplot: the notebook's backend stays as it is

    fig = Figure(figsize=(4 * len(losses), 3))
    axes = fig.subplots(1, len(losses), squeeze=False)
    for ax, (name, values) in zip(axes[0], losses.items()):
        if values:
            v = np.asarray(values)
            k = max(1, len(v) // 50)
            ax.plot(v, alpha=0.3, lw=0.5)
            ax.plot(np.convolve(v, np.ones(k) / k, mode="valid"), lw=1.5)
            ax.set_yscale("log")
        ax.set_title(name)
        ax.set_xlabel("step")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    return path
