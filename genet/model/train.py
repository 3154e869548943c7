"""A small trainer: a GENet far above chance on a CIFAR-10-format data set within seconds.

It exists so that the pipeline can run end to end where no trained checkpoint is at hand
(genet.demo trains a WRN-10-1 on a few thousand generated images in seconds). It
is not the reference's training recipe (200 epochs of SGD with flips and crops): no
augmentation, a few epochs of SGD with Nesterov momentum under a one-cycle learning-rate
schedule, over the first ``limit`` training images. The checkpoint it writes has the
reference's format, ``{'epoch', 'state_dict', 'error_history'}``, where ``error_history``
holds the training top-1 error (%) of each epoch.

On a CUDA GPU it can train with mixed precision (bf16 or fp16 autocast, fp16 with loss
scaling) and channels-last tensors, fast enough to train a WRN-16-8 in minutes (the GPU check
needs a trained model to judge fp16/bf16 agreement). The CPU path is plain fp32.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from genet.core.console import Log, progress_bar
from genet.core.errors import GenetError
from genet.data.cifar import CifarSplit, load_split
from genet.data.preprocess import normalize
from genet.model.checkpoint import save_checkpoint
from genet.model.device import resolve_device
from genet.model.network import build_model
from genet.model.variant import Variant

EVAL_BATCH = 500
DEVICES = ("auto", "cpu", "cuda")
AUTOCAST_DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class TrainSettings:
    epochs: int = 3
    batch_size: int = 32
    lr: float = 0.1              # peak of the one-cycle schedule
    momentum: float = 0.9
    weight_decay: float = 5e-4
    limit: int | None = 3000     # first N training images; None = all
    seed: int = 0
    device: str = "auto"         # auto = the CUDA GPU where torch sees one, else the CPU
    precision: str = "fp32"      # fp32, or bf16/fp16 autocast (CUDA only)
    channels_last: bool = False  # CUDA only

    def __post_init__(self) -> None:
        if self.device not in DEVICES:
            raise GenetError(f"--device must be one of {', '.join(DEVICES)}, got {self.device!r}")
        if self.precision not in AUTOCAST_DTYPES:
            raise GenetError(f"--precision must be one of {', '.join(AUTOCAST_DTYPES)}, got {self.precision!r}")
        if self.epochs < 1:
            raise GenetError(f"--epochs must be ≥ 1, got {self.epochs}")
        if self.batch_size < 1:
            raise GenetError(f"--batch-size must be ≥ 1, got {self.batch_size}")
        if not self.lr > 0:
            raise GenetError(f"--lr must be > 0, got {self.lr}")
        if self.limit is not None and self.limit < 1:
            raise GenetError(f"--limit must be ≥ 1, got {self.limit}")


@dataclass
class TrainResult:
    variant: Variant
    images: int
    seconds: float
    train_errors: list[float]            # top-1 error (%) on the training images, per epoch
    test_accuracy: float | None = None   # top-1 (%) on the test split, when asked for
    generated: bool = False              # the data carry genet.data.synthetic's mark: NOT CIFAR-10


def to_model_input(rows: np.ndarray) -> torch.Tensor:
    """CIFAR rows (N×3072 uint8) → N×3×32×32 float32, normalized exactly as preprocess.py does."""
    return torch.from_numpy(normalize(rows))


def train_model(model: torch.nn.Module, data: CifarSplit, settings: TrainSettings,
                quiet: bool = False) -> list[float]:
    """Train ``model`` in place, on the device it is on; returns the training top-1 error (%) of each epoch."""
    device = next(model.parameters()).device
    autocast_dtype = AUTOCAST_DTYPES[settings.precision]
    memory_format = torch.channels_last if settings.channels_last else torch.contiguous_format
    generator = torch.Generator().manual_seed(settings.seed)
    labels = torch.from_numpy(data.labels)
    steps_per_epoch = -(-len(labels) // settings.batch_size)
    optimizer = torch.optim.SGD(model.parameters(), lr=settings.lr, momentum=settings.momentum,
                                weight_decay=settings.weight_decay, nesterov=True)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=settings.lr, epochs=settings.epochs,
                                                   steps_per_epoch=steps_per_epoch)
    # fp16 gradients underflow without loss scaling; bf16 has fp32's range
    scaler = torch.amp.GradScaler(device.type, enabled=settings.precision == "fp16")
    errors = []
    model.train()
    for epoch in range(1, settings.epochs + 1):
        order = torch.randperm(len(labels), generator=generator)
        wrong = torch.zeros((), dtype=torch.long, device=device)   # summed on the device: no sync per step
        with progress_bar(len(labels), f"epoch {epoch}/{settings.epochs}", quiet) as bar:
            for start in range(0, len(labels), settings.batch_size):
                index = order[start:start + settings.batch_size]
                images = to_model_input(data.data[index.numpy()]).to(device, non_blocking=True)
                images = images.contiguous(memory_format=memory_format)
                targets = labels[index].to(device, non_blocking=True)
                with torch.autocast(device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
                    logits = model(images)
                    loss = F.cross_entropy(logits, targets)
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
                schedule.step()
                wrong += (logits.argmax(1) != targets).sum()
                bar.update(len(index))
        errors.append(100.0 * int(wrong) / len(labels))
    model.eval()
    return errors


@torch.no_grad()
def top1_accuracy(model: torch.nn.Module, data: CifarSplit) -> float:
    """Top-1 accuracy (%) of ``model`` in eval mode (fp32, on its device) on ``data``."""
    model.eval()
    device = next(model.parameters()).device
    correct = 0
    for start in range(0, len(data.labels), EVAL_BATCH):
        logits = model(to_model_input(data.data[start:start + EVAL_BATCH]).to(device))
        correct += int((logits.argmax(1).cpu().numpy() == data.labels[start:start + EVAL_BATCH]).sum())
    return 100.0 * correct / len(data.labels)


def train_checkpoint(datasets_path: str | os.PathLike, output: str | os.PathLike, variant: Variant,
                     settings: TrainSettings, test_accuracy: bool = False, quiet: bool = False,
                     log: Log = print) -> TrainResult:
    """Train a fresh ``variant`` on the training split found at ``datasets_path``; save it to ``output``."""
    train = load_split(datasets_path, "train", log=log)
    if settings.limit is not None:
        train = train.head(settings.limit)          # keeps the generated-data mark
    device = resolve_device(settings.device, 0, datasets_path)
    if device.type == "cpu" and (settings.precision != "fp32" or settings.channels_last):
        wanted = f"--precision {settings.precision}" if settings.precision != "fp32" else "--channels-last"
        raise GenetError(f"{datasets_path}: {wanted} trains on a CUDA GPU only; this run is on the CPU")
    torch.manual_seed(settings.seed)
    model = build_model(variant)
    memory_format = torch.channels_last if settings.channels_last else torch.contiguous_format
    model = model.to(device, memory_format=memory_format)
    log(f"training {variant.describe()} on {len(train.labels)} images of {datasets_path}, "
        f"{settings.epochs} epochs, batch {settings.batch_size}, {_where(device, settings)}")
    started = time.perf_counter()
    errors = train_model(model, train, settings, quiet=quiet)
    result = TrainResult(variant, len(train.labels), time.perf_counter() - started, errors,
                         generated=train.generated)
    state = {key: value.detach().cpu().contiguous() for key, value in model.state_dict().items()}
    save_checkpoint(output, state, epoch=settings.epochs, error_history=errors)
    if test_accuracy:
        result.test_accuracy = top1_accuracy(model, load_split(datasets_path, "test", log=log))
    return result


def _where(device: torch.device, settings: TrainSettings) -> str:
    if device.type == "cpu":
        threads = torch.get_num_threads()
        return f"{threads} CPU thread{'s' if threads > 1 else ''}"
    parts = [f"{device} ({torch.cuda.get_device_name(device)})"]
    if settings.precision != "fp32":
        parts.append(f"{settings.precision} autocast")
    if settings.channels_last:
        parts.append("channels-last")
    return ", ".join(parts)
