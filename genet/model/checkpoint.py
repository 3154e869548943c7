"""Loading and saving GENet checkpoints: the reference's dict, a bare state_dict, ``module.`` keys."""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path
from typing import Mapping

import torch

from genet.core.console import Log
from genet.core.errors import GenetError, first_line
from genet.core.fsio import atomic_path
from genet.model.network import GENet, build_model
from genet.model.variant import Variant, detect_variant

_LISTED_KEYS = 4
_OPTIONAL_SUFFIX = ".num_batches_tracked"   # absent from checkpoints saved by PyTorch < 0.4.1


_ZIP_MAGIC = b"PK\x03\x04"
_PICKLE_PROTO = 0x80        # the first byte of a pickle of protocol 2 or later (torch's legacy format)


def _weights_only_reason(message: str) -> str:
    """The one informative sentence of torch's long weights_only refusal."""
    detail = message.partition("WeightsUnpickler error:")[2].partition("Check the documentation")[0]
    return " ".join(detail.split())[:200] or "unsupported object"


def _is_onnx(path: Path) -> bool:
    import onnx

    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception:       # protobuf raises several kinds on foreign bytes
        return False
    return len(proto.graph.node) > 0


def foreign_file(path: Path) -> str | None:
    """What ``path`` is when it is plainly not a torch checkpoint (said in words), else None."""
    with open(path, "rb") as fh:
        head = fh.read(4)
    if not head:
        return "an empty file"
    if head == _ZIP_MAGIC:
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
        except (zipfile.BadZipFile, OSError):
            return "a truncated or damaged zip archive (a torch checkpoint cut short?)"
        if not any(name == "data.pkl" or name.endswith("/data.pkl") for name in names):
            return "a zip archive without data.pkl, not a torch checkpoint"
        return None
    if head[0] == _PICKLE_PROTO:
        return None
    if _is_onnx(path):
        return "an ONNX model, not a checkpoint: give it to benchmark.py as -om_path"
    return "neither a torch zip checkpoint nor a pickle"


def _read_pickle(path: Path, unsafe_load: bool) -> object:
    if not path.exists():
        raise GenetError(f"{path}: no such file")
    if path.is_dir():
        raise GenetError(f"{path}: is a folder, not a checkpoint file")
    try:
        what = foreign_file(path)
    except PermissionError:
        raise GenetError(f"{path}: permission denied") from None
    except OSError as exc:
        raise GenetError(f"{path}: cannot read: {exc.strerror}") from None
    if what:
        raise GenetError(f"{path}: {what}")
    try:
        return torch.load(path, map_location="cpu", weights_only=not unsafe_load)
    except pickle.UnpicklingError as exc:
        reason = _weights_only_reason(str(exc))
        if "Unsupported global" in reason:
            raise GenetError(
                f"{path}: torch.load(weights_only=True) refused it: the pickle holds objects beyond tensors "
                f"and plain containers ({reason[:160]}); a pickle can run code when loaded, so load it with "
                f"--unsafe-load only if you trust where it came from"
            ) from None
        raise GenetError(f"{path}: damaged or truncated pickle, not a readable checkpoint ({reason[:160]})") from None
    except PermissionError:
        raise GenetError(f"{path}: permission denied") from None
    except (EOFError, zipfile.BadZipFile, OSError) as exc:
        raise GenetError(f"{path}: truncated or damaged checkpoint ({type(exc).__name__}: {exc})") from None
    except RuntimeError as exc:
        text = first_line(exc)
        if "zip archive" in text or "central directory" in text:
            raise GenetError(f"{path}: truncated or damaged checkpoint ({text[:160]})") from None
        raise GenetError(f"{path}: not a torch checkpoint, or a damaged one ({text[:160]})") from None
    except Exception as exc:     # the unpickler fails in many ways on foreign bytes
        raise GenetError(f"{path}: not a torch checkpoint ({type(exc).__name__}: {exc})") from None


def extract_state_dict(obj: object, where: str) -> dict[str, torch.Tensor]:
    """The state_dict inside a reference checkpoint dict or a bare one, ``module.`` prefix removed."""
    if isinstance(obj, Mapping):
        for key in ("state_dict", "model_state_dict", "model"):
            if isinstance(obj.get(key), Mapping):
                obj = obj[key]
                break
    if not isinstance(obj, Mapping) or not obj:
        raise GenetError(f"{where}: holds a {type(obj).__name__}, not a state_dict or a checkpoint dict")
    state = {str(k): v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    if not state:
        raise GenetError(f"{where}: holds no tensors: not a model checkpoint")
    if all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    return state


def check_finite(state: Mapping[str, torch.Tensor], where: str) -> None:
    """Refuse weights holding NaN or Inf: every figure computed with them would be meaningless."""
    bad = [k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        raise GenetError(f"{where}: {len(bad)} tensor(s) hold NaN or Inf: {_listed(bad)}; the checkpoint is "
                         "damaged or training diverged")


def _listed(keys: list[str]) -> str:
    more = f" (+{len(keys) - _LISTED_KEYS} more)" if len(keys) > _LISTED_KEYS else ""
    return ", ".join(keys[:_LISTED_KEYS]) + more


def mismatch_report(model: torch.nn.Module, state: Mapping[str, torch.Tensor]) -> str:
    """Missing, unexpected and mis-shaped keys, or '' when the state_dict fits the model exactly."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state and not k.endswith(_OPTIONAL_SUFFIX)]
    unexpected = [k for k in state if k not in expected]
    shapes = [f"{k} {list(state[k].shape)} vs {list(v.shape)}"
              for k, v in expected.items() if k in state and tuple(state[k].shape) != tuple(v.shape)]
    parts = []
    if missing:
        parts.append(f"missing keys {_listed(missing)}")
    if unexpected:
        parts.append(f"unexpected keys {_listed(unexpected)}")
    if shapes:
        parts.append(f"shape mismatches (checkpoint vs model) {_listed(shapes)}")
    return "; ".join(parts)


def build_from_state_dict(state: Mapping[str, torch.Tensor], variant: Variant, where: str) -> GENet:
    model = build_model(variant)
    problems = mismatch_report(model, state)
    if problems:
        try:
            suggested = f"; the keys suggest {detect_variant(state).describe()}"
        except GenetError as exc:
            suggested = f"; {exc}"
        raise GenetError(f"{where}: checkpoint does not fit {variant.describe()}: {problems}{suggested}")
    full = dict(state)
    for key, value in model.state_dict().items():
        full.setdefault(key, value)     # only num_batches_tracked can be absent here
    model.load_state_dict(full, strict=True)
    return model.eval()


def load_model(path: str | os.PathLike, overrides: Mapping[str, object] | None = None, unsafe_load: bool = False,
               log: Log | None = print) -> tuple[GENet, Variant]:
    """Load a checkpoint into a GENet in eval mode on the CPU.

    The variant is read off the keys; ``overrides`` (depth, width, num_classes, extent,
    extra_params, mlp; None = keep) replace what was read. Loading is strict.
    """
    path = Path(path)
    state = extract_state_dict(_read_pickle(path, unsafe_load), str(path))
    check_finite(state, str(path))
    try:
        detected = detect_variant(state)
    except GenetError as exc:
        raise GenetError(f"{path}: {exc}") from None
    variant = detected.with_overrides(**(overrides or {}))
    if log:
        source = "read off the checkpoint" if variant == detected else "checkpoint keys + command-line overrides"
        log(f"{path}: {variant.describe()} [{source}]")
        if not variant.extra_params and variant.extent == 0 and not overrides:
            log("  note: a θ⁻ gather has no weights, so its extent cannot be read off the checkpoint; "
                "global assumed (pass --extent if it was trained with another)")
    return build_from_state_dict(state, variant, str(path)), variant


def save_checkpoint(path: str | os.PathLike, model_or_state: torch.nn.Module | Mapping[str, torch.Tensor],
                    epoch: int = 0, error_history: list[float] | None = None) -> None:
    """Write the reference training script's format: ``{'epoch', 'state_dict', 'error_history'}``."""
    state = model_or_state.state_dict() if isinstance(model_or_state, torch.nn.Module) else dict(model_or_state)
    payload = {"epoch": int(epoch), "state_dict": state, "error_history": list(error_history or [])}
    with atomic_path(path, suffix=".pth.tar") as tmp:
        torch.save(payload, tmp)
