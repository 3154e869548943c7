"""ais_bench's command line, read into the guide's flags: ``translate_ais_bench``.

``benchmark.py`` takes ais_bench's spellings of both generations, so that its documented command
lines run unchanged against an ``.onnx`` (or ``.pth``/``.om``)::

    python3 benchmark.py --model m.onnx --input prep_dataset --output out --outfmt TXT --loop 10 \\
        --batchsize 16 --device 0
    python3 benchmark.py --om-model m.onnx --input a.bin,b.npy --output out --output-dirname run1 \\
        --outfmt NPY --warmup-count 5 --dym-batch 8

``translate_ais_bench`` maps them onto the guide's flags (``-om_path``, ``-batch_size``, ``-round``,
``-device_id``, ``--warmup``); the same setting given both ways with different values is an error.
What only ais_bench has (``--input``, ``--output``, ``--output_dirname``, ``--outfmt``, ``--loop``)
stays in the ``AisRequest`` for the driver, genet.bench.aisbench.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from genet.core.errors import GenetError
from genet.formats.ais_bench_files import OUTFMTS

# ais_bench flag → the setting it gives (each takes a value); both generations' spellings.
_AIS_FLAGS = {
    "--model": "model", "--om-model": "model", "--om_model": "model", "-om": "model",
    "--input": "input", "--output": "output",
    "--output_dirname": "output_dirname", "--output-dirname": "output_dirname",
    "--outfmt": "outfmt", "--loop": "loop",
    "--batchsize": "batchsize", "--batch-size": "batchsize", "--batch_size": "batchsize",
    "--warmup_count": "warmup_count", "--warmup-count": "warmup_count",
    "--dymBatch": "dym_batch", "--dym-batch": "dym_batch", "--dym_batch": "dym_batch",
    "--device": "device",
}
# Our flag each ais_bench setting maps onto, for the contradiction check.
_GUIDE_FLAGS = {"model": "-om_path", "batchsize": "-batch_size", "dym_batch": "-batch_size",
                "loop": "-round", "device": "-device_id", "warmup_count": "--warmup",
                "input": "-input_text_path", "output": "--output-dir"}


@dataclass
class AisRequest:
    """An ais_bench command line: ``argv`` in the guide's spelling, and what only ais_bench has."""

    argv: list[str]
    given: dict[str, str] = field(default_factory=dict)     # ais_bench setting → value as given
    input: str | None = None
    output: Path | None = None
    output_dirname: str | None = None
    outfmt: str = "BIN"
    loop: int = 1


def _split(argv: Sequence[str]) -> tuple[dict[str, str], list[str]]:
    """ais_bench's settings (``--flag value`` or ``--flag=value``) and the remaining tokens."""
    given: dict[str, str] = {}
    rest: list[str] = []
    i = 0
    while i < len(argv):
        token = argv[i]
        flag, eq, value = token.partition("=")
        name = _AIS_FLAGS.get(flag)
        if name is None or (name == "device" and not _is_ais_device(value if eq else _next(argv, i))):
            rest.append(token)
            i += 1
            continue
        if not eq:
            if i + 1 >= len(argv):
                raise GenetError(f"{flag}: expected a value")
            value = argv[i + 1]
            i += 1
        i += 1
        if name in given and given[name] != value:
            raise GenetError(f"{flag} {value}: given twice with different values ({given[name]})")
        given[name] = value
    return given, rest


def _next(argv: Sequence[str], i: int) -> str:
    return argv[i + 1] if i + 1 < len(argv) else ""


def _is_ais_device(value: str) -> bool:
    """ais_bench's ``--device 0`` / ``0,1`` (device numbers) as against genet's ``--device cpu``."""
    return bool(value) and all(part.strip().isdigit() for part in value.split(","))


def _guide_value(rest: Sequence[str], flag: str) -> str | None:
    """The value of a guide flag among the tokens (``-flag=value`` or ``-flag value``), last one wins."""
    found = None
    for i, token in enumerate(rest):
        if token == flag and i + 1 < len(rest):
            found = rest[i + 1]
        elif token.startswith(flag + "="):
            found = token[len(flag) + 1:]
    return found


def _same(a: str, b: str) -> bool:
    """One setting given twice: equal numbers, or paths naming the same place."""
    a, b = a.strip(), b.strip()
    if a.isdigit() and b.isdigit():
        return int(a) == int(b)
    return os.path.normpath(a) == os.path.normpath(b)


def translate_ais_bench(argv: Sequence[str]) -> AisRequest | None:
    """The guide's argv for an ais_bench command line; None when ``argv`` uses no ais_bench flag."""
    given, rest = _split(argv)
    if not given:
        return None
    if "batchsize" in given and "dym_batch" in given and not _same(given["batchsize"], given["dym_batch"]):
        raise GenetError(f"--batchsize {given['batchsize']} and --dymBatch {given['dym_batch']} contradict each "
                         f"other: give one batch size")
    for name, value in given.items():
        flag = _GUIDE_FLAGS.get(name)
        ours = _guide_value(rest, flag) if flag else None
        if ours is not None and not _same(ours, value):
            raise GenetError(f"ais_bench's {name.replace('_', '-')} {value} contradicts {flag}={ours}: give one "
                             f"of them")
    request = AisRequest(argv=[], given=given, input=given.get("input"), output_dirname=given.get("output_dirname"))
    if "output" in given:
        request.output = Path(given["output"])
    if "outfmt" in given:
        if given["outfmt"].upper() not in OUTFMTS:
            raise GenetError(f"--outfmt {given['outfmt']}: choose from {', '.join(OUTFMTS)}")
        request.outfmt = given["outfmt"].upper()
    if "loop" in given:
        if not given["loop"].isdigit() or int(given["loop"]) < 1:
            raise GenetError(f"--loop {given['loop']}: must be a positive integer")
        request.loop = int(given["loop"])
    if request.output_dirname is not None and ("/" in request.output_dirname or request.output_dirname in
                                               ("", ".", "..")):
        raise GenetError(f"--output_dirname {request.output_dirname!r}: a folder name, not a path")
    translated = [token for token in rest if not _is_guide_flag_of(token, given)]
    if "model" in given:
        translated.append(f"-om_path={given['model']}")
    batch = given.get("batchsize", given.get("dym_batch"))
    if batch is not None:
        translated.append(f"-batch_size={batch}")
    if "device" in given:
        translated.append(f"-device_id={given['device']}")
    if "warmup_count" in given:
        translated.append(f"--warmup={given['warmup_count']}")
    if request.input is not None:
        translated.append(f"-input_text_path={request.input}")
    elif _guide_value(rest, "-round") is None:
        translated.append(f"-round={request.loop}")      # pure inference: --loop batches of random images
    request.argv = translated
    return request


def _is_guide_flag_of(token: str, given: dict[str, str]) -> bool:
    """A guide flag that repeats (with the same value, checked before) an ais_bench setting."""
    flags = {_GUIDE_FLAGS[name] for name in given if name in _GUIDE_FLAGS}
    return any(token.startswith(flag + "=") for flag in flags)
