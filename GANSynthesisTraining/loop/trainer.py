"""The training loop every GAN here shares: per-step seeding, logging without host syncs, checkpoints,
resume, loss plots and snapshots. A model family supplies its networks, optimizers, batches and step."""

from __future__ import annotations

import contextlib
import csv
import itertools
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, ClassVar, Iterable, Iterator

import torch

from GANSynthesisTraining.data.augmentation import Augmentation
from GANSynthesisTraining.evaluation.plots import plot_losses
from GANSynthesisTraining.loop import distributed
from GANSynthesisTraining.loop.checkpoint import has_checkpoint, load_checkpoint, save_checkpoint


@dataclass
class TrainingConfig:
    """Settings common to all GAN families."""

    steps: int = 2000
    batch_size: int = 8
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    adversarial: str = "lsgan"
    log_every: int = 25
    checkpoint_every: int = 250
    snapshot_steps: list[int] = field(default_factory=lambda: [0, 250, 1000])
    seed: int = 0
    device: str = "cpu"
    ema_decay: float = 0.0
    accumulation_steps: int = 1  # each batch is run as this many micro-batches (same update, less memory)
    compile: bool = False
    mixed_precision: bool = True  # bf16 autocast and channels_last on GPU
    flip: bool = False  # augmentation, per sample on the device: left-right mirror with probability ½
    rotation_deg: float = 0.0  # in-plane rotation within ± this
    scaling: float = 0.0  # zoom within 1 ± this
    intensity_jitter: float = 0.0  # gain and offset of image inputs within ± this
    time_limit_min: float = 0.0  # stop after this many minutes of training (0: no limit); one process only

    HELP: ClassVar[dict[str, str]] = {
        "steps": "training steps", "batch_size": "samples per step (over all processes)",
        "lr_g": "generator learning rate (Adam)", "lr_d": "discriminator learning rate (Adam)",
        "beta1": "Adam β1", "beta2": "Adam β2", "adversarial": "adversarial loss: vanilla, lsgan, hinge or wgan-gp",
        "log_every": "log the losses every N steps", "checkpoint_every": "save a checkpoint every N steps",
        "snapshot_steps": "steps at which to save snapshot pictures (none: no snapshots)",
        "seed": "random seed (data split, weights, batches)", "device": "cpu, cuda or cuda:N",
        "ema_decay": "keep and export an exponential moving average of the generator (0: off)",
        "accumulation_steps": "run each batch as this many micro-batches (same update, less memory)",
        "compile": "torch.compile the networks", "mixed_precision": "bf16 autocast and channels_last on GPU",
        "flip": "augment: left-right mirror with probability ½",
        "rotation_deg": "augment: in-plane rotation within ± this (degrees)",
        "scaling": "augment: zoom within 1 ± this", "intensity_jitter": "augment: gain and offset of image inputs "
                                                                        "within ± this",
        "time_limit_min": "stop training after this many minutes, at the step reached (0: no limit; one process)"}


def duration(seconds: float) -> str:
    """A span of time the way a person reads it: "1h02m", "3m20s", "45s"."""
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


@contextlib.contextmanager
def evaluating(network: torch.nn.Module) -> Iterator[torch.nn.Module]:
    """The network in eval mode and without gradients inside the block; its former mode is restored after."""
    was_training = network.training
    network.eval()
    try:
        with torch.no_grad():
            yield network
    finally:
        network.train(was_training)


def adam(parameters: Iterable[torch.nn.Parameter], config: TrainingConfig, lr: float,
         device: torch.device) -> torch.optim.Adam:
    """Adam with the GAN betas (fused on GPU)."""
    return torch.optim.Adam(parameters, lr, betas=(config.beta1, config.beta2), fused=device.type == "cuda")


class GeneratorEMA:
    """Exponential moving average of a generator's weights (updated on the device, no host sync)."""

    def __init__(self, generator: torch.nn.Module, decay: float) -> None:
        import copy

        self.decay = decay
        self.average = copy.deepcopy(generator).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, generator: torch.nn.Module) -> None:
        params = [p for p in self.average.parameters()]
        torch._foreach_lerp_(params, [p.detach() for p in generator.parameters()], 1 - self.decay)
        for mine, theirs in zip(self.average.buffers(), generator.buffers()):
            mine.copy_(theirs)


BATCH_NORM_BATCHES = 100  # training batches that re-estimate the EMA generator's batch-norm statistics


@torch.no_grad()
def recalibrate_batch_norm(network: torch.nn.Module, inputs: Iterable[torch.Tensor]) -> int:
    """Estimate every batch-norm layer's running statistics afresh for the network's own weights from ``inputs``
    (a cumulative average over the batches); the number of batches used, 0 for a network without batch norm."""
    layers = [m for m in network.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not layers:
        return 0
    momenta = [layer.momentum for layer in layers]
    for layer in layers:
        layer.reset_running_stats()
        layer.momentum = None
    was_training = network.training
    network.train()
    count = 0
    for batch in inputs:
        network(batch)
        count += 1
    for layer, momentum in zip(layers, momenta):
        layer.momentum = momentum
    network.train(was_training)
    return count


class GanTrainer:
    """Subclasses set ``loss_names``, ``network_names`` and ``optimizer_names`` (the attributes holding their
    networks and optimizers, also their names in checkpoints) and implement ``sample`` and ``train_step``.

    Under ``torchrun`` each process trains a DDP replica on its own random batches; only rank 0 writes files.
    """

    loss_names: tuple[str, ...] = ()
    network_names: tuple[str, ...] = ()
    optimizer_names: tuple[str, ...] = ()
    # Scores the networks on validation data (named values, lower is better) at every checkpoint, on rank 0.
    validate: Callable[["GanTrainer"], dict[str, float]] | None = None

    def __init__(self, config: TrainingConfig, run_dir: Path,
                 snapshot: Callable[["GanTrainer", int], None] | None = None) -> None:
        self.config, self.run_dir, self.snapshot = config, run_dir, snapshot
        self.device = distributed.setup(config.device)
        self.rank, self.world_size = distributed.rank(), distributed.world_size()
        self.is_main = self.rank == 0
        if self.is_main:
            run_dir.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(config.seed)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        # Random draws for batches happen on the host (repeatable, resumable) and reach the device in
        # non-blocking copies.
        self.sampler = torch.Generator().manual_seed(config.seed)
        self.augmentation = Augmentation.from_config(config)
        self.step = 0
        self.ema: GeneratorEMA | None = None

    def start_ema(self) -> None:
        """Keep an EMA of ``self.generator`` when ``ema_decay`` > 0 (call once the generator exists)."""
        if self.config.ema_decay > 0:
            self.ema = GeneratorEMA(self.generator, self.config.ema_decay)

    def generator_input(self, batch: tuple[torch.Tensor, ...]) -> torch.Tensor | None:
        """What the generator is given for one sampled batch; None where a family has not said, and then
        :meth:`settle_batch_norm` leaves the EMA as it is."""
        return None

    def settle_batch_norm(self, batches: int = BATCH_NORM_BATCHES) -> None:
        """Before export: the EMA generator's batch-norm statistics estimated for its own weights on training
        batches. (The EMA copies the running statistics the trained weights gathered; with the averaged weights they
        shifted every output: -66 HU on the whole-body model's training slices, -80 to -100 HU in soft tissue of
        held-out real CT.)"""
        first = self.generator_input(self.sample()) if self.ema is not None else None
        if first is None:
            return
        rest = (self.generator_input(self.sample()) for _ in range(batches - 1))
        recalibrate_batch_norm(self.ema.average, itertools.chain([first], rest))

    @property
    def export_generator(self) -> torch.nn.Module:
        """The generator to evaluate and export: its EMA when kept, else the trained weights."""
        return self.ema.average if self.ema else self.generator

    def parallel(self, network: torch.nn.Module) -> torch.nn.Module:
        """The network as used for updates: DDP-wrapped under torchrun, compiled when asked."""
        wrapped = distributed.parallel(network, self.device)
        return torch.compile(wrapped) if self.config.compile else wrapped

    def micro_batches(self, batch: tuple[torch.Tensor, ...]) -> list[tuple[torch.Tensor, ...]]:
        """The batch split into ``accumulation_steps`` micro-batches (gradients are accumulated over them)."""
        parts = self.config.accumulation_steps
        if parts < 1 or batch[0].shape[0] % parts:
            raise ValueError(f"--accumulation-steps {parts} must divide the batch size {batch[0].shape[0]}")
        return list(zip(*(tensor.chunk(parts) for tensor in batch)))

    @staticmethod
    def sync_gradients(networks: torch.nn.Module | tuple[torch.nn.Module, ...], last: bool) -> contextlib.ExitStack:
        """Under DDP, all-reduce the networks' gradients only on the last micro-batch of an accumulated step."""
        held_back = contextlib.ExitStack()
        if last:
            return held_back
        for network in networks if isinstance(networks, tuple) else (networks,):
            module = getattr(network, "_orig_mod", network)  # compiled DDP module
            if hasattr(module, "no_sync"):
                held_back.enter_context(module.no_sync())
        return held_back

    def accumulated_update(self, networks: torch.nn.Module | tuple[torch.nn.Module, ...],
                           optimizer: torch.optim.Optimizer, batch: tuple[torch.Tensor, ...],
                           losses: Callable[..., tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
        """One step of ``optimizer`` with the networks' gradients accumulated over the micro-batches of ``batch``;
        ``losses(*micro_batch)`` gives (objective to minimise, values to log); returns the logged values' mean
        over the micro-batches, detached."""
        pieces = self.micro_batches(batch)
        optimizer.zero_grad(set_to_none=True)
        logged = torch.zeros((), device=self.device)
        for index, piece in enumerate(pieces):
            with self.sync_gradients(networks, index == len(pieces) - 1):
                objective, values = losses(*piece)
                (objective / len(pieces)).backward()
            logged = logged + values.detach().float() / len(pieces)
        optimizer.step()
        return logged

    def checkpointed_networks(self) -> dict[str, torch.nn.Module]:
        networks = dict(self.networks)
        if self.ema:
            networks["generator_ema"] = self.ema.average
        return networks

    @property
    def networks(self) -> dict[str, torch.nn.Module]:
        """The trained networks by checkpoint name (:attr:`network_names`)."""
        return {name: getattr(self, name) for name in self.network_names}

    @property
    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """The optimizers by checkpoint name (:attr:`optimizer_names`)."""
        return {name: getattr(self, name) for name in self.optimizer_names}

    def sample(self) -> tuple[torch.Tensor, ...]:
        """The next training batch, on the device."""
        raise NotImplementedError

    def train_step(self, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """One update of every network; the losses (detached, on the device) in ``loss_names`` order."""
        raise NotImplementedError

    @property
    def fast_gpu(self) -> bool:
        """Whether bf16 autocast and channels_last are on (GPU with mixed precision)."""
        return self.device.type == "cuda" and self.config.mixed_precision

    def autocast(self) -> torch.autocast:
        return torch.autocast(self.device.type, torch.bfloat16, enabled=self.fast_gpu)

    def to_device(self, network: torch.nn.Module) -> torch.nn.Module:
        network = network.to(self.device)
        return network.to(memory_format=torch.channels_last) if self.fast_gpu else network

    def resume(self) -> bool:
        """Continue from the run folder's checkpoint if there is one."""
        if not has_checkpoint(self.run_dir):
            return False
        meta = load_checkpoint(self.run_dir, self.checkpointed_networks(), self.optimizers)
        self.step = meta["step"]
        if self.ema and "generator_ema" not in meta["restored"]:
            self.start_ema()  # the EMA starts from the resumed weights
        return True

    def record_validation(self, log: Callable[[str], None]) -> None:
        """Score the networks on the validation data; append to validation.csv, plot it, log the best so far."""
        scores = self.validate(self)
        csv_path = self.run_dir / "validation.csv"
        rows = []
        if csv_path.exists():
            with open(csv_path, newline="") as stream:
                rows = [row for row in csv.DictReader(stream) if int(row["step"]) < self.step]  # drop a killed run's
        rows.append({"step": str(self.step)} | {name: f"{value:.5f}" for name, value in scores.items()})
        with open(csv_path, "w", newline="") as stream:
            writer = csv.DictWriter(stream, ["step", *scores])
            writer.writeheader()
            writer.writerows(rows)
        plot_losses(csv_path, self.run_dir / "validation.png")
        first = next(iter(scores))
        best = min(rows, key=lambda row: float(row[first]))
        log(f"validation at step {self.step}: " + "  ".join(f"{name} {value:.4g}" for name, value in scores.items())
            + f"  (best {first} {float(best[first]):.4g} at step {best['step']})")

    def train(self, log: Callable[[str], None] = print) -> None:
        """Run until ``config.steps`` (lowered to the step reached when ``config.time_limit_min`` runs out), logging
        every ``log_every`` steps (the only host syncs)."""
        config = self.config
        csv_path = self.run_dir / "losses.csv"
        if self.is_main:
            if self.step == 0 or not csv_path.exists():
                with open(csv_path, "w", newline="") as stream:
                    csv.writer(stream).writerow(["step", *self.loss_names, "images_per_s"])
            (self.run_dir / "config.json").write_text(json.dumps(asdict(config) | {"processes": self.world_size},
                                                                 indent=2))
        running = torch.zeros(len(self.loss_names), device=self.device)
        started, counted = time.perf_counter(), 0
        deadline = started + 60 * config.time_limit_min if config.time_limit_min else float("inf")
        for network in self.networks.values():
            network.train()
        while self.step < config.steps:
            if time.perf_counter() > deadline:
                if self.world_size > 1:
                    raise RuntimeError("time_limit_min works in one process only: ranks could stop at other steps")
                config.steps = self.step + 1
            if self.is_main and self.snapshot and self.step in config.snapshot_steps:
                self.snapshot(self, self.step)
            # Random state derives from (seed, step, rank) alone, so a resumed run repeats an uninterrupted one
            # and each process draws its own batches.
            torch.manual_seed(config.seed * 1_000_003 + self.step * 8191 + self.rank)
            self.sampler.manual_seed(config.seed * 7_919 + self.step * 8191 + self.rank)
            running += self.train_step(self.sample())
            if self.ema:
                self.ema.update(self.generator)
            self.step += 1
            counted += 1
            if self.step % config.log_every == 0 or self.step == config.steps:
                losses = distributed.mean_across_processes(running / counted).tolist()
                rate = counted * config.batch_size * self.world_size / (time.perf_counter() - started)
                if self.is_main:
                    with open(csv_path, "a", newline="") as stream:
                        csv.writer(stream).writerow([self.step, *(f"{v:.5f}" for v in losses), f"{rate:.1f}"])
                    left = (config.steps - self.step) * config.batch_size * self.world_size / rate
                    log(f"step {self.step}/{config.steps}  " + "  ".join(
                        f"{name.removeprefix('loss_')} {value:.4f}" for name, value in zip(self.loss_names, losses))
                        + f"  {rate:.1f} img/s" + (f", {duration(left)} left" if left else ""))
                running.zero_()
                started, counted = time.perf_counter(), 0
            if self.step % config.checkpoint_every == 0 or self.step == config.steps:
                distributed.broadcast_buffers(self.checkpointed_networks())
                if self.is_main:
                    save_checkpoint(self.run_dir, self.step, self.checkpointed_networks(), self.optimizers)
                    plot_losses(csv_path, self.run_dir / "losses.png")
                    if self.validate:
                        self.record_validation(log)
                distributed.barrier()
        if self.is_main and self.snapshot and self.step in config.snapshot_steps:
            self.snapshot(self, self.step)
        if self.world_size > 1:
            weights = distributed.replica_difference(self.checkpointed_networks(), buffers=False)
            everything = distributed.replica_difference(self.checkpointed_networks())
            if self.is_main:
                (self.run_dir / "replicas.json").write_text(json.dumps(
                    {"processes": self.world_size, "max_weight_difference": weights,
                     "max_weight_and_buffer_difference": everything}))


def resume_and_train(trainer: GanTrainer, resume: bool) -> None:
    """Continue from the run folder's checkpoint if asked (and there is one), then train to the end."""
    if resume and trainer.resume():
        print(f"resumed at step {trainer.step} ({trainer.run_dir})", flush=True)
    trainer.train()


def run_training(trainer: GanTrainer, resume: bool) -> bool:
    """Resume if asked, train, and say whether this process goes on to evaluate (rank 0)."""
    resume_and_train(trainer, resume)
    distributed.cleanup()  # evaluation and export happen on rank 0 alone
    return trainer.is_main
