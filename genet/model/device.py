"""Which torch device a model runs on: the choice shared by the trainer and the PyTorch runner."""

from __future__ import annotations

import torch

from genet.core.errors import GenetError


def resolve_device(choice: str, device_id: int, where: object) -> torch.device:
    """cpu, or cuda:{device_id} for 'cuda' (an error where there is none) and for 'auto' where there is."""
    if choice == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        if choice == "cuda":
            raise GenetError(f"{where}: --device cuda asked for, but torch {torch.__version__} sees no CUDA "
                             f"device on this machine")
        return torch.device("cpu")
    count = torch.cuda.device_count()
    if device_id >= count:
        raise GenetError(f"{where}: -device_id={device_id}, but this machine has {count} CUDA device(s)")
    return torch.device("cuda", device_id)
