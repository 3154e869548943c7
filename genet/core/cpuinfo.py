"""The CPU a figure was measured on: its model, core count and instruction-set level, in one label.

Every CPU figure the project writes (the perf JSON, the demo's "run by" column, the sweep files,
quantize.py's report, the scripts under benchmarks/) names its CPU through ``cpu_label()``, e.g.
``CPU: AMD EPYC (2 cores, AVX-512 VNNI BF16)``: the same model name covers CPUs with and without
AVX-512 or VNNI, and their speeds (and int8 logits) differ.

The int8 path is the kernel family ONNX Runtime's u8s8 (uint8 activations, int8 weights) matrix
products take on this CPU. On x86 without VNNI (SSE4.1, AVX2, AVX-512 without VNNI) they multiply
and add pairs of u8×s8 products into 16 bits with saturation (VPMADDUBSW); ONNX Runtime's
quantization guide recommends ``reduce_range`` (7-bit weights) or uint8 weights there. VNNI
(VPDPBUSD) and AMX accumulate in 32 bits and do not saturate. See docs/int8.md.
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass

CPUINFO = "/proc/cpuinfo"

# /proc/cpuinfo flags that decide which kernels a backend picks, as lscpu spells them.
ISA_FLAGS = ("avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_tile",
             "amx_int8", "amx_bf16")
# int8 paths whose u8s8 products can saturate (16-bit pair sums), and those that cannot.
SATURATING_PATHS = frozenset({"avx512", "avx2", "sse4.1"})


@dataclass(frozen=True)
class CpuInfo:
    model: str
    cores: int
    flags: frozenset[str]
    machine: str = "x86_64"

    @property
    def x86(self) -> bool:
        return self.machine.lower() in ("x86_64", "amd64", "i386", "i686", "x86")

    @property
    def isa(self) -> str:
        """The instruction-set level, e.g. 'AVX2', 'AVX-512 VNNI BF16', 'AVX2 AVX-VNNI', 'AVX-512 VNNI BF16 AMX'."""
        if not self.x86:
            return self.machine
        flags = self.flags
        if "avx512f" in flags:
            words = ["AVX-512"] + (["VNNI"] if "avx512_vnni" in flags else
                                   ["AVX-VNNI"] if "avx_vnni" in flags else [])
            words += ["BF16"] if "avx512_bf16" in flags else []
        elif "avx2" in flags:
            words = ["AVX2"] + (["AVX-VNNI"] if "avx_vnni" in flags else [])
        elif "avx" in flags:
            words = ["AVX"]
        else:
            words = ["SSE4.1" if "sse4_1" in flags else "no AVX"]
        return " ".join(words + (["AMX"] if "amx_tile" in flags else []))

    @property
    def int8_path(self) -> str:
        """ONNX Runtime's u8s8 kernel family here: amx, avx512_vnni, avx_vnni, avx512, avx2, sse4.1 (or the machine)."""
        if not self.x86:
            return self.machine
        flags = self.flags
        for flag, path in (("amx_int8", "amx"), ("avx512_vnni", "avx512_vnni"), ("avx_vnni", "avx_vnni"),
                           ("avx512bw", "avx512"), ("avx2", "avx2"), ("sse4_1", "sse4.1")):
            if flag in flags:
                return path
        return "sse2"

    @property
    def u8s8_may_saturate(self) -> bool:
        """True on x86 without VNNI or AMX: u8s8 pair sums are 16-bit and saturate (ONNX Runtime's guide)."""
        return self.int8_path in SATURATING_PATHS

    def label(self) -> str:
        """'CPU: AMD EPYC (2 cores, AVX-512 VNNI BF16)'."""
        return f"CPU: {self.model} ({self.cores} cores, {self.isa})"

    def isa_flags(self) -> str:
        """The flags of ISA_FLAGS this CPU has, e.g. 'avx2 fma avx512f avx512bw avx512_vnni avx512_bf16'."""
        return " ".join(flag for flag in ISA_FLAGS if flag in self.flags) or "none of " + " ".join(ISA_FLAGS)


def parse_cpuinfo(text: str, cores: int | None = None, machine: str | None = None) -> CpuInfo:
    """A CpuInfo from the text of /proc/cpuinfo (its first processor's ``model name`` and ``flags``)."""
    model, flags = "", frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and not model:
            model = value.strip()
        elif key == "flags" and not flags:
            flags = frozenset(value.split())
    return CpuInfo(model=model or platform.processor() or platform.machine() or "unknown",
                   cores=cores if cores is not None else (os.cpu_count() or 1), flags=flags,
                   machine=machine or platform.machine() or "x86_64")


# /proc/cpuinfo flag → the name numpy's runtime CPU detection (CPUID, what this process sees) gives it.
NUMPY_FEATURES = {"avx": "AVX", "avx2": "AVX2", "fma": "FMA3", "sse4_1": "SSE41", "avx512f": "AVX512F",
                  "avx512bw": "AVX512BW", "avx512_vnni": "AVX512VNNI", "avx512_bf16": "AVX512BF16"}


def seen_by_this_process(flags: frozenset[str], features: dict[str, bool]) -> frozenset[str]:
    """``flags`` less those CPUID denies this process (an emulator such as ``qemu-x86_64 -cpu Haswell``
    shows the host's /proc/cpuinfo; the kernels ONNX Runtime picks follow CPUID). Without /proc/cpuinfo
    (macOS, Windows) the flags come from ``features`` alone."""
    if not flags:
        return frozenset(flag for flag, name in NUMPY_FEATURES.items() if features.get(name))
    return frozenset(flag for flag in flags if features.get(NUMPY_FEATURES.get(flag, ""), True))


def _numpy_features() -> dict[str, bool]:
    try:
        from numpy._core._multiarray_umath import __cpu_features__
    except ImportError:         # another numpy layout: trust /proc/cpuinfo alone
        return {}
    return dict(__cpu_features__)


def this_cpu() -> CpuInfo:
    """This machine's CPU, as this process sees it (/proc/cpuinfo, checked against CPUID)."""
    try:
        with open(CPUINFO, encoding="utf-8") as fh:
            text = fh.read()
    except OSError:
        text = ""
    info = parse_cpuinfo(text)
    features = _numpy_features()
    if not info.x86 or not features:
        return info
    return CpuInfo(info.model, info.cores, seen_by_this_process(info.flags, features), info.machine)


def cpu_label() -> str:
    """This machine's label, e.g. 'CPU: AMD EPYC (2 cores, AVX-512 VNNI BF16)'."""
    return this_cpu().label()
