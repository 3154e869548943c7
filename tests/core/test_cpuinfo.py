"""The CPU label and ONNX Runtime's int8 path, from /proc/cpuinfo texts of the CPUs users have (not this one's)."""

from __future__ import annotations

import pytest

import genet.core.cpuinfo as cpuinfo
from genet.core.cpuinfo import CpuInfo, parse_cpuinfo, seen_by_this_process


def proc_cpuinfo(model: str, flags: str, processors: int = 2) -> str:
    block = ("processor\t: {n}\nvendor_id\t: AuthenticAMD\nmodel name\t: {model}\ncpu MHz\t\t: 2445.406\n"
             "flags\t\t: fpu sse sse2 ssse3 sse4_1 sse4_2 {flags}\nbogomips\t: 4890.81\n\n")
    return "".join(block.format(n=n, model=model, flags=flags) for n in range(processors))


AVX2 = "avx f16c fma avx2 bmi2"
AVX512 = AVX2 + " avx512f avx512dq avx512cd avx512bw avx512vl"
CASES = [
    # model, flags, label's ISA, int8 path, u8s8 may saturate
    ("AMD EPYC 7B12", AVX2, "AVX2", "avx2", True),
    ("Intel(R) Xeon(R) Gold 6148 CPU @ 2.40GHz", AVX512, "AVX-512", "avx512", True),
    ("AMD EPYC 9B14", AVX512 + " avx512_vnni avx512_bf16", "AVX-512 VNNI BF16", "avx512_vnni", False),
    ("12th Gen Intel(R) Core(TM) i7-12700", AVX2 + " avx_vnni", "AVX2 AVX-VNNI", "avx_vnni", False),
    ("Intel(R) Xeon(R) Platinum 8480+", AVX512 + " avx512_vnni avx512_bf16 amx_bf16 amx_tile amx_int8",
     "AVX-512 VNNI BF16 AMX", "amx", False),
    ("Intel(R) Core(TM)2 Duo", "", "SSE4.1", "sse4.1", True),
]


@pytest.mark.parametrize("model, flags, isa, path, saturates", CASES)
def test_label_names_model_cores_and_instruction_set(model, flags, isa, path, saturates):
    info = parse_cpuinfo(proc_cpuinfo(model, flags), cores=2, machine="x86_64")
    assert info.label() == f"CPU: {model} (2 cores, {isa})"
    assert (info.int8_path, info.u8s8_may_saturate) == (path, saturates)


def test_only_the_first_processor_is_read_and_flags_are_whole_words():
    text = proc_cpuinfo("AMD EPYC", "avx2_fake avx512f_x", processors=1) + proc_cpuinfo("Other", AVX512, 1)
    info = parse_cpuinfo(text, cores=4, machine="x86_64")
    assert info.label() == "CPU: AMD EPYC (4 cores, SSE4.1)"
    assert info.isa_flags().startswith("none of")


def test_other_machines_are_named_by_their_architecture():
    info = parse_cpuinfo("processor\t: 0\nFeatures\t: fp asimd\n", cores=8, machine="aarch64")
    assert info.isa == "aarch64" and info.int8_path == "aarch64" and not info.u8s8_may_saturate
    assert info.label().endswith("(8 cores, aarch64)")


def test_flags_cpuid_denies_the_process_are_dropped():
    """Under an emulator (qemu-x86_64 -cpu Haswell) /proc/cpuinfo is the host's; CPUID decides the kernels."""
    host = frozenset(AVX512.split() + ["avx512_vnni", "avx512_bf16", "sse4_1"])
    seen = seen_by_this_process(host, {"AVX2": True, "FMA3": True, "AVX512F": False, "AVX512BW": False,
                                       "AVX512VNNI": False, "AVX512BF16": False})
    assert CpuInfo("AMD EPYC", 2, seen).label() == "CPU: AMD EPYC (2 cores, AVX2)"
    assert seen_by_this_process(frozenset(), {"AVX2": True, "AVX512F": False}) == {"avx2"}


def test_this_cpu_reads_proc_cpuinfo(monkeypatch, tmp_path):
    fake = tmp_path / "cpuinfo"
    fake.write_text(proc_cpuinfo("AMD EPYC", AVX2))
    monkeypatch.setattr(cpuinfo, "CPUINFO", str(fake))
    monkeypatch.setattr(cpuinfo, "_numpy_features", lambda: {})
    monkeypatch.setattr(cpuinfo.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(cpuinfo.platform, "machine", lambda: "x86_64")
    assert cpuinfo.cpu_label() == "CPU: AMD EPYC (2 cores, AVX2)"
    assert cpuinfo.this_cpu().u8s8_may_saturate
