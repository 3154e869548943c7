"""ais_bench's command line and files, on genet's runner.

``benchmark.py`` takes ais_bench's spellings of both generations, so that its documented command
lines run unchanged against an ``.onnx`` (or ``.pth``/``.om``)::

    python3 benchmark.py --model m.onnx --input prep_dataset --output out --outfmt TXT --loop 10 \\
        --batchsize 16 --device 0
    python3 benchmark.py --om-model m.onnx --input a.bin,b.npy --output out --output-dirname run1 \\
        --outfmt NPY --warmup-count 5 --dym-batch 8

``translate_ais_bench`` maps them onto the guide's flags (``-om_path``, ``-batch_size``, ``-round``,
``-device_id``, ``--warmup``); the same setting given both ways with different values is an error.

``--input`` is a folder or comma-separated files of ``.bin`` (raw float32) or ``.npy``; each file is
one image. Other files of a folder (preprocess's ``val_label.txt``, ``GENERATED-NOT-CIFAR10.txt``)
are skipped with a note. Every file's tensor must have the model's input size: ais_bench's
``tensorsize: T filesize: F not match`` becomes a one-line error naming both sizes and the likely
cause; a folder of files of mixed sizes is refused as a whole.

Files written (the layout of ais_bench 0.0.2, the ``ais_bench.infer`` package of Huawei's ait tool,
``ais_bench/infer/summary.py`` and its ``--output`` documentation, 2023):

- ``{output}/{dirname}/{stem}_0.{bin|npy|txt}``: output 0 of each batch, named after the batch's
  first input file (ais_bench's rule), ``dirname`` = ``--output_dirname`` or the run's start time
  ``%Y_%m_%d-%H_%M_%S``; pure inference writes no output files;
- ``{output}/{dirname}_summary.json``: ``NPU_compute_time``, ``H2D_latency``, ``D2H_latency``, each
  ``{min, max, mean, median, percentile(99%), P99, count}`` in ms (older releases write
  ``percentile(99%)``, newer ones ``P99``: both are written), ``throughput`` = 1000 × batch / mean
  compute ms, ``npu_compute_time_list`` (ms per call), ``filesinfo``, ``args`` and ``pid``, plus a
  ``genet`` section saying which backend and device measured it. Where the backend cannot time
  the copies apart (the CPU) the H2D/D2H lists are empty and their figures 0, as ais_bench
  writes them for empty lists.

Neither name is given by the user (both derive from ``--output_dirname``): an existing summary is
replaced only when it is genet's, and an existing folder only when it holds nothing but the files
that summary lists; both are checked before the first batch.
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from genet.bench.config import BenchConfig
from genet.bench.engine import BenchResult, resolve_image_shape, run_benchmark
from genet.bench.sources import image_bytes
from genet.core.console import Log
from genet.core.constants import PACKED_IMAGES
from genet.core.errors import GenetError
from genet.core.fsio import JSON_FILE, atomic_dir, check_output_file, check_replaceable_dir, write_text_atomic
from genet.core.stats import summarize
from genet.formats.dumps import PACKED_DUMP, format_row, read_packed
from genet.formats.info import InfoEntry, write_info
from genet.runners import Runner, open_runner

OUTFMTS = ("BIN", "NPY", "TXT")
INPUT_SUFFIXES = (".bin", ".npy")
TIMESTAMP = "%Y_%m_%d-%H_%M_%S"

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


# ---- --input ----------------------------------------------------------------------------------

@dataclass
class InputFile:
    path: Path
    tensor_bytes: int


def _tensor_bytes(path: Path) -> int:
    """Payload bytes of a .bin (its size) or .npy (its array's, read from the header)."""
    try:
        if path.suffix == ".npy":
            array = np.load(path, mmap_mode="r", allow_pickle=False)
            if array.dtype != np.float32:
                # ais_bench feeds a .npy's bytes as they are; casting its values would run another input.
                raise GenetError(f"{path}: holds {array.dtype} values; the model takes float32: save the array as "
                                 f"float32 (genet does not convert inputs)")
            return int(array.nbytes)
        return path.stat().st_size
    except FileNotFoundError:
        raise GenetError(f"{path}: input file not found") from None
    except (OSError, ValueError) as exc:
        raise GenetError(f"{path}: cannot read the input file: {exc}") from None


def list_inputs(spec: str, log: Log) -> list[InputFile]:
    """The files of ``--input``: a folder's .bin/.npy files (sorted), or comma-separated files."""
    parts = [part.strip() for part in spec.split(",") if part.strip()]
    skipped: list[str] = []
    if len(parts) == 1 and Path(parts[0]).is_dir():
        folder = Path(parts[0])
        names = sorted(os.listdir(folder))
        # preprocess.py --packed's images.npy holds every image at once: not one input
        kept = [name for name in names if name.endswith(INPUT_SUFFIXES) and (folder / name).is_file()
                and name != PACKED_IMAGES]
        if not kept:
            raise GenetError(f"{folder}: holds no .bin or .npy input files (--input)")
        skipped = sorted(set(names) - set(kept))
        paths = [folder / name for name in kept]
    else:
        paths = [Path(part) for part in parts]
        for path in paths:
            if path.is_dir():
                raise GenetError(f"{path}: a folder among comma-separated --input files; give one folder alone")
            if path.suffix not in INPUT_SUFFIXES:
                raise GenetError(f"{path}: --input files are .bin or .npy")
    if not paths:
        raise GenetError("--input: no input files given")
    files = [InputFile(path, _tensor_bytes(path)) for path in paths]
    sizes = {f.tensor_bytes: f for f in files}
    if len(sizes) > 1:
        a, b = list(sizes.values())[:2]
        raise GenetError(f"--input {spec}: files of different sizes: {a.path} holds {a.tensor_bytes} bytes, "
                         f"{b.path} {b.tensor_bytes}; one model input per file, all of one size")
    if skipped:
        log(f"note: --input {spec}: skipping {len(skipped)} file(s) that are not .bin/.npy inputs "
            f"({', '.join(skipped[:3])}{', ...' if len(skipped) > 3 else ''})")
    return files


def likely_cause(file_bytes: int, tensor_bytes: int, shape: tuple[int, int, int]) -> str:
    """Why a file's size is not the model input's, in words (every reading the size allows)."""
    channels, height, width = shape
    causes = []
    if file_bytes * 4 == tensor_bytes:
        causes.append("uint8 pixels, not float32 (run preprocess.py first)")
    if file_bytes > tensor_bytes and file_bytes % tensor_bytes == 0:
        causes.append(f"{file_bytes // tensor_bytes} images in one file (genet reads one image per file)")
    values = file_bytes // 4
    side = int(round((values / channels) ** 0.5)) if file_bytes % 4 == 0 and values % channels == 0 else 0
    if side and side * side * channels == values and side != height:
        causes.append(f"a float32 {channels}×{side}×{side} image, preprocessed for another input size")
    if not causes:
        causes.append(f"not a float32 {channels}×{height}×{width} image (truncated, or another data type)")
    return "likely " + ", or ".join(causes)


def check_sizes(files: Sequence[InputFile], shape: tuple[int, int, int], model: Path) -> None:
    """ais_bench's file-size check, as one line naming both sizes and the likely cause."""
    want = image_bytes(shape)
    for f in files:
        if f.tensor_bytes != want:
            raise GenetError(f"{f.path}: tensorsize: {want} filesize: {f.tensor_bytes} not match: {model} takes "
                             f"one float32 {'×'.join(map(str, shape))} image ({want} bytes) per file; "
                             f"{likely_cause(f.tensor_bytes, want, shape)}")


def _info_for(files: Sequence[InputFile], work: Path, shape: tuple[int, int, int]) -> Path:
    """An info file listing the inputs; .npy files are copied out as raw .bin into ``work/inputs``."""
    entries = []
    converted = work / "inputs"            # apart from the run's output folder, work/result
    converted.mkdir(exist_ok=True)
    for index, f in enumerate(files):
        path = f.path
        if path.suffix == ".npy":
            path = converted / f"{path.stem}.bin"
            np.ascontiguousarray(np.load(f.path, allow_pickle=False), dtype=np.float32).tofile(path)
        entries.append(InfoEntry(index, str(path.absolute()), shape[2], shape[1]))   # a link keeps its name
    info = work / "inputs.info"
    write_info(info, entries)
    return info


# ---- outputs ----------------------------------------------------------------------------------

def _stats_ms(values: Sequence[float]) -> dict[str, float | int]:
    """ais_bench's statistics of a list of ms (genet.core.stats.summarize), zeros for an empty list as it writes."""
    stats = summarize(values) or dict.fromkeys(("min", "max", "mean", "median", "p99"), 0.0) | {"count": 0}
    return {"min": stats["min"], "max": stats["max"], "mean": stats["mean"], "median": stats["median"],
            "percentile(99%)": stats["p99"], "P99": stats["p99"], "count": stats["count"]}


def summary_json(request: AisRequest, config: BenchConfig, results: Sequence[BenchResult],
                 filesinfo: dict) -> dict:
    calls = [call for result in results for call in result.calls]
    compute = [call["compute"] * 1000.0 for call in calls]
    h2d = [call["h2d"] * 1000.0 for call in calls if call["h2d"] is not None]
    d2h = [call["d2h"] * 1000.0 for call in calls if call["d2h"] is not None]
    stats = _stats_ms(compute)
    details = results[0].details
    return {
        "filesinfo": filesinfo,
        "args": dict(request.given),
        "NPU_compute_time": stats, "H2D_latency": _stats_ms(h2d), "D2H_latency": _stats_ms(d2h),
        "npu_compute_time_list": compute,
        "throughput": 1000.0 * config.batch_size / stats["mean"] if stats["mean"] else 0.0,
        "pid": os.getpid(),
        "genet": {"backend": details["backend"], "device": details["device"], "precision": details["precision"],
                  "batch_size": config.batch_size, "loops": len(results), "mode": details["mode"],
                  "non_finite_outputs": sum(result.details["non_finite_outputs"] for result in results),
                  "note": "NPU_compute_time is the backend's device-only call time (see genet.runners.base)"},
    }


def output_stem(stem: str) -> str:
    """ais_bench names an output after its batch's first input, up to the first dot (``a.b.bin`` → ``a_0``):
    ``os.path.basename(path).split('.')[0]`` in ``save_tensors_to_file``, ais_bench/infer/io_oprations.py of
    Huawei's ait (github.com/Ascend/ait, 2023)."""
    return stem.split(".")[0]


def check_output_names(files: Sequence[InputFile], batch: int) -> None:
    """Two batches whose outputs would take one name (``a.1.bin`` and ``a.2.bin`` → ``a_0``): refused, not lost."""
    seen: dict[str, Path] = {}
    for f in files[::batch]:
        name = output_stem(f.path.name)
        if name in seen:
            raise GenetError(f"{f.path}: its output would be named {name}_0, as {seen[name]}'s is (ais_bench names "
                             f"outputs up to the first dot); rename one of them")
        seen[name] = f.path


def _write_outputs(folder: Path, stems: Sequence[str], logits: np.ndarray, batch: int, outfmt: str,
                   filesinfo: dict, inputs: Sequence[InputFile]) -> None:
    for sample, start in enumerate(range(0, len(stems), batch)):
        rows = logits[start:start + batch]
        name = f"{output_stem(stems[start])}_0.{outfmt.lower()}"
        if outfmt == "BIN":
            rows.astype(np.float32).tofile(folder / name)
        elif outfmt == "NPY":
            np.save(folder / name, rows.astype(np.float32))
        else:
            (folder / name).write_text("".join(format_row(row) for row in rows), encoding="utf-8")
        filesinfo[sample] = {"infiles": [str(f.path) for f in inputs[start:start + batch]],
                             "outfiles": [name]}


def written_outputs(summary_path: Path) -> set[str] | None:
    """The output files a genet ais_bench summary lists (its ``filesinfo``); None when it is not genet's.

    The output folder and the summary beside it have derived names, not given by the user: an
    existing one is replaced only when genet wrote it, and a folder only holds genet's files when
    they are those its summary lists (a user's ``scan_0.txt`` is not).
    """
    try:
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
        if not isinstance(summary.get("genet"), dict):
            return None
        return {name for entry in summary["filesinfo"].values() for name in entry["outfiles"]}
    except (OSError, ValueError, AttributeError, TypeError, KeyError):
        return None


def check_ais_outputs(folder: Path, summary_path: Path, inputs: Sequence[Path]) -> Callable[[str], bool]:
    """Refuse a summary or output folder genet did not write, before the run; the folder's ``ours``."""
    check_output_file(summary_path, JSON_FILE, named=False, ours=lambda path: written_outputs(path) is not None,
                      ours_what="a summary genet wrote")
    listed = written_outputs(summary_path) or set()
    ours = listed.__contains__
    check_replaceable_dir(folder, inputs=inputs, ours=ours)
    return ours


@dataclass
class AisRun:
    results: list[BenchResult]
    summary: dict
    summary_path: Path | None
    output_folder: Path | None


def run_ais_bench(config: BenchConfig, request: AisRequest, log: Log) -> AisRun:
    """Run ais_bench's command on genet's runner; write its output folder and summary when ``--output``."""
    dirname = request.output_dirname or datetime.datetime.now().strftime(TIMESTAMP)
    folder = summary_path = None
    if request.output is not None:
        if not request.output.is_dir():
            raise GenetError(f"{request.output}: --output folder does not exist")
        folder, summary_path = request.output / dirname, request.output / f"{dirname}_summary.json"
        ours = check_ais_outputs(folder, summary_path, [])
    work = Path(tempfile.mkdtemp(prefix=".genet-ais."))
    runner: Runner | None = None
    try:
        runner = open_runner(config.model_path, config.backend, config.options)
        inputs: list[InputFile] = []
        # --loop N is N inferences, as ais_bench runs them: never sized up by --min-seconds
        one = replace(config, output_dir=work / "result", progress=False, min_seconds=0.0)
        if request.input is not None:
            shape = resolve_image_shape(runner, config.input_width, config.input_height)
            inputs = list_inputs(request.input, log)
            check_sizes(inputs, shape, config.model_path)
            check_output_names(inputs, config.batch_size)
            if folder is not None:
                check_replaceable_dir(folder, inputs=[f.path for f in inputs], ours=ours)
            one = replace(one, info_path=_info_for(inputs, work, shape), packed_input=None, auto_packed=False,
                          binary=True, packed_output=True)
        (work / "result").mkdir()
        results = [run_benchmark(one, log, runner=runner) for _ in range(request.loop if inputs else 1)]
        filesinfo: dict = {}
        if folder is not None and inputs:
            stems, logits = read_packed(results[-1].dump_dir / PACKED_DUMP)
            by_stem = {f.path.stem: f for f in inputs}
            with atomic_dir(folder, inputs=[f.path for f in inputs], ours=ours) as tmp:
                _write_outputs(tmp, stems, logits, config.batch_size, request.outfmt, filesinfo,
                               [by_stem[s] for s in stems])
        summary = summary_json(request, one, results, filesinfo)
        if summary_path is not None:
            write_text_atomic(summary_path, json.dumps(summary) + "\n")
        return AisRun(results, summary, summary_path, folder if inputs else None)
    finally:
        if runner is not None:
            runner.close()
        shutil.rmtree(work, ignore_errors=True)


def summary_lines(run: AisRun) -> list[str]:
    """ais_bench's closing lines (parse.py reads the throughput line of a saved log)."""
    s = run.summary
    lines = []
    for key in ("H2D_latency", "NPU_compute_time", "D2H_latency"):
        st = s[key]
        if not st["count"]:
            lines.append(f"[INFO] {key}: not timed apart by this backend (0 in the summary, as ais_bench writes "
                         f"an empty list)")
            continue
        lines.append(f"[INFO] {key} (ms): min = {st['min']}, max = {st['max']}, mean = {st['mean']}, "
                     f"median = {st['median']}, percentile(99%) = {st['percentile(99%)']}")
    lines.append(f"[INFO] throughput 1000*batchsize.mean({s['genet']['batch_size']})/NPU_compute_time.mean"
                 f"({s['NPU_compute_time']['mean']}): {s['throughput']}")
    lines.append(f"[INFO] measured by genet: {s['genet']['backend']} {s['genet']['precision']} on "
                 f"{s['genet']['device']}")
    if s["genet"]["non_finite_outputs"]:
        lines.append(f"[WARNING] genet: {s['genet']['non_finite_outputs']} non-finite outputs (NaN or Inf): the "
                     f"run failed, these figures are not a measurement")
    if run.output_folder is not None:
        lines.append(f"outputs: {run.output_folder}/")
    if run.summary_path is not None:
        lines.append(f"summary: {run.summary_path}")
    return lines
