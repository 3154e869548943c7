"""The one interface every inference backend implements, and the factory that picks one.

A runner owns a loaded model on one device. ``run_timed(batch)`` takes an N×C×H×W float32
batch and returns the N×K float32 logits with the call's ``CallTimes``: the *device-only*
seconds behind the perf report's Interface throughputRate, and the host↔device copies where the
backend times them apart. What device-only means for each backend: docs/metrics.md.

Backends are imported lazily, so that an ONNX Runtime run never imports torch.
"""

from __future__ import annotations

import abc
import importlib
import os
import platform
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np

from genet.core.console import Log
from genet.core.errors import GenetError, SettingError
from genet.core.launch import missing_requirement

BACKENDS = ("onnxruntime", "torch", "ascend", "openvino")
PRECISIONS = ("fp32", "fp16", "bf16")
DEVICES = ("auto", "cpu", "cuda")
GRAPH_OPT_LEVELS = ("disable", "basic", "extended", "all")

# Model file suffix → backend, for --backend auto.
_SUFFIX_BACKENDS = ((".onnx", "onnxruntime"), (".pth.tar", "torch"), (".pth", "torch"), (".pt", "torch"),
                    (".om", "ascend"))
_BACKEND_MODULES = {
    "onnxruntime": ("genet.runners.onnxrt", "OnnxRuntimeRunner"),
    "torch": ("genet.runners.torch_runner", "TorchRunner"),
    "ascend": ("genet.runners.ascend", "AscendRunner"),
    "openvino": ("genet.runners.openvino", "OpenVinoRunner"),
}
# Backends that read files whose suffix defaults to another backend (never chosen by --backend auto).
_ALSO_READS = {"openvino": ("onnxruntime",)}


@dataclass(frozen=True)
class RunnerOptions:
    """Backend options; each runner accepts only those it implements (see ``Runner.OPTIONS``)."""

    device_id: int = 0
    device: str = "auto"                 # auto | cpu | cuda
    precision: str = "fp32"              # fp32 | fp16 | bf16
    providers: tuple[str, ...] = ()      # ONNX Runtime execution providers, in priority order
    threads: int = 0                     # intra-op threads; 0 = the library's default
    graph_opt: str = "all"               # ONNX Runtime graph optimisation level
    channels_last: bool = False
    cuda_graphs: bool = False
    compile: bool = False                # torch.compile
    extent: int | None = None            # GE-θ⁻ extent of a checkpoint (cannot be read off its keys)
    unsafe_load: bool = False            # full pickle loading of a trusted checkpoint
    log: Log | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        for name, allowed in (("device", DEVICES), ("precision", PRECISIONS), ("graph_opt", GRAPH_OPT_LEVELS)):
            if getattr(self, name) not in allowed:
                raise SettingError(f"{{{name}}} {{value}}: unknown (choose from {', '.join(allowed)})",
                                   value=getattr(self, name))
        for name in ("device_id", "threads"):
            if getattr(self, name) < 0:
                raise SettingError(f"{{{name}}}={{value}}: must be ≥ 0", value=getattr(self, name))

    def changed(self) -> set[str]:
        """Names of the options set to something other than their default."""
        defaults = RunnerOptions()
        return {f.name for f in fields(self)
                if f.name not in ("device_id", "log") and getattr(self, f.name) != getattr(defaults, f.name)}


@dataclass(frozen=True)
class CallTimes:
    """Seconds of one model call, split where the backend can tell the parts apart.

    ``compute`` is the device-only time that the Interface throughputRate counts (see the module
    docstring); ``h2d`` / ``d2h`` are the host→device copy of the inputs and the device→host copy
    of the logits, None where the backend cannot time them apart (on the CPU there are none).
    """

    compute: float
    h2d: float | None = None
    d2h: float | None = None


def option_flag(name: str) -> str:
    """The command-line spelling of a RunnerOptions field."""
    return "--" + name.replace("_", "-")


class Runner(abc.ABC):
    """A loaded model that turns float32 image batches into float32 logits."""

    #: backend name: one of BACKENDS
    name: str = ""
    #: RunnerOptions fields (beyond device_id) this backend implements
    OPTIONS: frozenset[str] = frozenset()
    #: precisions this backend can run
    PRECISIONS: tuple[str, ...] = ("fp32",)

    #: (batch, channels, height, width) of the model's input, None where an axis is dynamic
    _input_shape: tuple[int | None, ...] = (None, None, None, None)

    def __init__(self, model_path: Path, options: RunnerOptions):
        self.model_path = model_path
        self.options = options
        unsupported = sorted(options.changed() - self.OPTIONS - {"precision"})
        if unsupported:
            flags = ", ".join(option_flag(name) for name in unsupported)
            raise GenetError(f"{model_path}: {flags} does not apply to the {self.name} backend")
        if options.precision not in self.PRECISIONS:
            raise GenetError(f"{model_path}: the {self.name} backend runs {'/'.join(self.PRECISIONS)}, "
                             f"not --precision {options.precision}")

    @property
    def input_shape(self) -> tuple[int | None, ...]:
        """(batch, channels, height, width) the model takes; None where the axis is dynamic."""
        return self._input_shape

    @property
    def static_batch(self) -> int | None:
        """The fixed batch size of a static-batch model, None for a dynamic batch axis."""
        return self.input_shape[0]

    @property
    @abc.abstractmethod
    def device_name(self) -> str:
        """What runs the model, in words ('NVIDIA H100 80GB HBM3', 'CPU: AMD EPYC (2 cores, AVX-512 VNNI BF16)')."""

    @property
    def precision(self) -> str:
        return self.options.precision

    @abc.abstractmethod
    def versions(self) -> dict[str, str]:
        """Versions of the libraries the result depends on."""

    def settings(self) -> dict[str, object]:
        """The backend settings in effect (for the perf JSON)."""
        return {}

    @abc.abstractmethod
    def run_timed(self, batch: np.ndarray) -> tuple[np.ndarray, CallTimes]:
        """Logits (N×K float32) of an N×C×H×W float32 batch, and the seconds of the call's parts."""

    def run(self, batch: np.ndarray) -> np.ndarray:
        return self.run_timed(batch)[0]

    def profiler(self):
        """A second instance of the model under the backend's profiler (``genet.runners.profiling``)."""
        raise GenetError(f"{self.model_path}: the {self.name} backend has no per-layer profiler in genet")

    def close(self) -> None:  # noqa: B027 (optional: most backends hold nothing to release)
        """Release the device resources (idempotent)."""

    def __enter__(self) -> "Runner":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def check_logits(self, logits: np.ndarray, rows: int) -> np.ndarray:
        """The model output as an N×K float32 array; anything else is an error naming the model."""
        logits = np.asarray(logits)
        if logits.ndim != 2 or logits.shape[0] != rows:
            raise GenetError(f"{self.model_path}: model returned shape {list(logits.shape)} for a batch of "
                             f"{rows}; expected {rows}×classes logits")
        return logits.astype(np.float32, copy=False)


def backend_for(model_path: Path) -> str:
    """The backend that reads a model file, from its suffix."""
    name = model_path.name.lower()
    for suffix, backend in _SUFFIX_BACKENDS:
        if name.endswith(suffix):
            return backend
    known = ", ".join(suffix for suffix, _ in _SUFFIX_BACKENDS)
    raise GenetError(f"{model_path}: cannot tell the backend from the file name (known: {known}); "
                     f"give --backend")


def _check_suffix(model_path: Path, backend: str) -> None:
    """A file whose suffix names another backend is a mistake (an unknown suffix is the user's call)."""
    try:
        implied = backend_for(model_path)
    except GenetError:
        return
    owners = (backend, *_ALSO_READS.get(backend, ()))
    if implied not in owners:
        suffixes = ", ".join(suffix for suffix, owner in _SUFFIX_BACKENDS if owner in owners)
        raise GenetError(f"{model_path}: --backend {backend} reads {suffixes} files; this file is for {implied}")


def check_backend(backend: str) -> None:
    """``backend`` is ``auto`` or one of BACKENDS (a SettingError naming the field otherwise)."""
    if backend != "auto" and backend not in BACKENDS:
        raise SettingError(f"{{backend}} {{value}}: unknown (choose from auto, {', '.join(BACKENDS)})", value=backend)


def open_runner(model_path: str | os.PathLike, backend: str = "auto", options: RunnerOptions | None = None) -> Runner:
    """Load ``model_path`` on the backend its suffix names (.onnx, .pth/.pth.tar, .om) or the one given."""
    model_path = Path(model_path)
    options = options or RunnerOptions()
    check_backend(backend)
    if not model_path.exists():
        raise GenetError(f"{model_path}: model file not found")
    if model_path.is_dir():
        raise GenetError(f"{model_path}: is a folder, not a model file")
    if backend == "auto":
        backend = backend_for(model_path)
    else:
        _check_suffix(model_path, backend)
    module_name, class_name = _BACKEND_MODULES[backend]
    return getattr(_import_backend(module_name, backend), class_name)(model_path, options)


def _import_backend(module_name: str, backend: str):
    """Import a backend module: a missing library is one line; Ctrl-C or SIGTERM during it stays what it is."""
    try:
        return importlib.import_module(module_name)
    except ImportError as exc:
        cause: BaseException | None = exc
        while cause is not None:       # a library's own import can turn an interrupt into an ImportError
            if isinstance(cause, KeyboardInterrupt):
                raise cause from None
            cause = cause.__cause__ or cause.__context__
        if isinstance(exc, ModuleNotFoundError):
            raise GenetError(f"the {backend} backend: {missing_requirement(exc)}") from None
        raise


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask, where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def static_shape(dims) -> tuple[int | None, ...]:
    """A model's input dims as ints, None for a symbolic or unknown (dynamic) axis."""
    return tuple(_static_dim(d) for d in dims)


def _static_dim(value) -> int | None:
    try:
        value = int(value)
    except (TypeError, ValueError):
        return None
    return value if value > 0 else None


def base_versions() -> dict[str, str]:
    return {"python": platform.python_version(), "numpy": np.__version__}
