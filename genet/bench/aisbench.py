"""ais_bench's run on genet's engine: its output files, its summary JSON and its closing lines.

The command line is read by genet.bench.ais_args, the ``--input`` files listed and checked by
genet.bench.ais_inputs. The run is the engine's (``run_benchmark``) over those files (an input
source, ``BenchConfig.input_files``), into ``AisOutputs``: ais_bench's files are the engine's output
sink (``genet.bench.sinks.AisBenchFiles``), written as the model runs, swapped in when it is done.

Files written (the layout of ais_bench 0.0.2, Huawei's ait: ``ais_bench/infer/io_oprations.py``,
``utils.py``, ``summary.py``, ``benchmark_process.py``; the rules in genet.formats.ais_bench_files and
docs/formats.md):

- ``{output}/{dirname}/{name}_0.{bin|npy|txt}``: output 0 of each input file, its rows only (a last
  partial batch's padding is never written), ``name`` the input's name up to its first dot,
  ``dirname`` = ``--output_dirname`` or the run's start time ``%Y_%m_%d-%H_%M_%S``; pure inference
  writes no output files (ais_bench writes ``pure_infer_data_0``, the outputs of zero inputs);
- ``{output}/{dirname}_summary.json``: ``filesinfo`` (each input's sample number → its ``infiles`` and
  ``outfiles``, paths joined as the tool joins them), ``args`` (the command line, a list, as the tool
  writes ``sys.argv``), ``NPU_compute_time``, ``H2D_latency``, ``D2H_latency``, each ``{min, max,
  mean, median, percentile(99%), P99, count}`` in ms (older releases write ``percentile(99%)``,
  newer ones ``P99``: both are written), ``throughput`` = 1000 × batch / mean compute ms,
  ``npu_compute_time_list`` (ms per call) and ``pid``; apart from these, a ``genet`` section says which
  backend and device measured it. Where the backend cannot time the copies apart (the CPU) the
  H2D/D2H lists are empty and their figures 0, as ais_bench writes them for empty lists.

Neither name is given by the user (both derive from ``--output_dirname``): an existing summary is
replaced only when it is genet's, and an existing folder only when it holds nothing but the files
that summary lists; both are checked before the first batch.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, ContextManager, Iterator, Sequence

from genet.bench.ais_args import AisRequest
from genet.bench.ais_inputs import InputFile, check_output_names, check_sizes, list_inputs
from genet.bench.config import BenchConfig
from genet.bench.engine import BenchResult, resolve_image_shape, run_benchmark
from genet.bench.figures import StageTimer
from genet.bench.outputs import NoOutputs
from genet.bench.sinks import AisBenchFiles, Sink
from genet.core.console import Log
from genet.core.errors import GenetError
from genet.core.fsio import JSON_FILE, atomic_dir, check_output_file, check_replaceable_dir, write_text_atomic
from genet.core.load import busy_text
from genet.core.stats import is_unstable, spread, summarize
from genet.formats.ais_bench_files import summary_path as ais_summary_path
from genet.formats.perf_report import PerfReport
from genet.runners import open_runner

TIMESTAMP = "%Y_%m_%d-%H_%M_%S"


def _stats_ms(values: Sequence[float]) -> dict[str, float | int]:
    """ais_bench's statistics of a list of ms (genet.core.stats.summarize), zeros for an empty list as it writes."""
    stats = summarize(values) or dict.fromkeys(("min", "max", "mean", "median", "p99"), 0.0) | {"count": 0}
    return {"min": stats["min"], "max": stats["max"], "mean": stats["mean"], "median": stats["median"],
            "percentile(99%)": stats["p99"], "P99": stats["p99"], "count": stats["count"]}



def _repeats(results: Sequence[BenchResult]) -> dict:
    """The Interface throughputRate's spread (docs/metrics.md): over the loops, or over one loop's repeats."""
    if len(results) > 1:
        return spread(result.report.interface_throughput for result in results)
    return results[0].details.get("interface_repeats") or {}


def _stability(results: Sequence[BenchResult]) -> dict:
    """The load before the first loop and after the last, high or not, and whether the repeats spread widely."""
    first, last = (results[i].details.get("stability") or {} for i in (0, -1))
    repeats = _repeats(results)
    others = [(r.details.get("stability") or {}).get("others_cpu_cores") for r in results]
    known = [value for value in others if value is not None]
    return {"load_before": first.get("load_before"), "load_after": last.get("load_after"), "cores": first.get("cores"),
            "others_cpu_cores": max(known) if known else None,
            "high_load": any((r.details.get("stability") or {}).get("high_load") for r in results),
            "unstable": bool(repeats) and is_unstable(repeats)}


def summary_json(config: BenchConfig, results: Sequence[BenchResult], filesinfo: dict) -> dict:
    calls = [call for result in results for call in result.calls]
    compute = [call["compute"] * 1000.0 for call in calls]
    h2d = [call["h2d"] * 1000.0 for call in calls if call["h2d"] is not None]
    d2h = [call["d2h"] * 1000.0 for call in calls if call["d2h"] is not None]
    stats = _stats_ms(compute)
    details = results[0].details
    return {
        "filesinfo": filesinfo,
        "args": list(config.command_line),
        "NPU_compute_time": stats, "H2D_latency": _stats_ms(h2d), "D2H_latency": _stats_ms(d2h),
        "npu_compute_time_list": compute,
        "throughput": 1000.0 * config.batch_size / stats["mean"] if stats["mean"] else 0.0,
        "pid": os.getpid(),
        "genet": {"backend": details["backend"], "device": details["device"], "precision": details["precision"],
                  "batch_size": config.batch_size, "loops": len(results), "mode": details["mode"],
                  "non_finite_outputs": sum(result.details["non_finite_outputs"] for result in results),
                  "calls": len(compute), "interface_repeats": _repeats(results), "stability": _stability(results),
                  "note": "NPU_compute_time is the backend's device-only call time (see genet.runners.base); "
                          "this section is genet's, not ais_bench's"},
    }


def written_outputs(summary_path: Path) -> set[str] | None:
    """The output files a genet ais_bench summary lists (its ``filesinfo``, by name); None when it is not genet's.

    The output folder and the summary beside it have derived names, not given by the user: an
    existing one is replaced only when genet wrote it, and a folder only holds genet's files when
    they are those its summary lists (a user's ``scan_0.txt`` is not).
    """
    try:
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
        if not isinstance(summary.get("genet"), dict):
            return None
        return {os.path.basename(name) for entry in summary["filesinfo"].values() for name in entry["outfiles"]}
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


class AisOutputs:
    """ais_bench's output folder as the engine's outputs (``genet.bench.outputs.RunOutputs``): the files are written
    by the ``AisBenchFiles`` sink into a temporary folder, swapped in whole when the run succeeds."""

    perf_txt = perf_json = dump_dir = None

    def __init__(self, folder: Path, prefix: str, inputs: Sequence[InputFile], outfmt: str,
                 ours: Callable[[str], bool]):
        self.folder, self.prefix, self.inputs, self.outfmt, self.ours = folder, prefix, list(inputs), outfmt, ours
        self.filesinfo: dict = {}

    def check(self, inputs: Sequence[Path]) -> None:
        check_replaceable_dir(self.folder, inputs=inputs, ours=self.ours)

    @contextlib.contextmanager
    def sink(self, timer: StageTimer, inputs: Sequence[Path]) -> Iterator[Sink]:
        with atomic_dir(self.folder, inputs=inputs, ours=self.ours) as tmp:
            sink = AisBenchFiles(tmp, self.prefix, [f.given for f in self.inputs], self.outfmt, timer)
            yield sink
            self.filesinfo = sink.filesinfo

    def dumps_details(self, count: int) -> dict | None:
        return {"folder": str(self.folder), "count": count, "format": self.outfmt.lower(), "layout": "ais_bench"}

    def commit(self, report: PerfReport, details: dict) -> ContextManager[None]:
        return contextlib.nullcontext()


@dataclass
class AisRun:
    results: list[BenchResult]
    summary: dict
    summary_path: Path | None
    output_folder: Path | None




def run_ais_bench(config: BenchConfig, request: AisRequest, log: Log) -> AisRun:
    """Run ais_bench's command on genet's runner; write its output folder and summary when ``--output``.

    ``--loop N`` over input files runs them N times (ais_bench loops each batch N times); the last pass
    writes the output files.
    """
    dirname = request.output_dirname or datetime.datetime.now().strftime(TIMESTAMP)
    folder = summary_path = None
    prefix = ""
    if request.output is not None:
        if not request.output.is_dir():
            raise GenetError(f"{request.output}: --output folder does not exist")
        given = request.given.get("output", str(request.output))
        prefix = os.path.join(given, dirname)
        folder, summary_path = request.output / dirname, Path(ais_summary_path(given, dirname))
        ours = check_ais_outputs(folder, summary_path, [])
    with open_runner(config.model_path, config.backend, config.options) as runner:
        inputs: list[InputFile] = []
        # --loop N is N inferences, as ais_bench runs them: never sized up by --min-seconds
        one = replace(config, output_dir=Path(os.devnull), progress=False, min_seconds=0.0)
        if request.input is not None:
            shape = resolve_image_shape(runner, config.input_width, config.input_height)
            inputs = list_inputs(request.input, log)
            check_sizes(inputs, shape, config.model_path)
            check_output_names(inputs)
            if folder is not None:
                check_replaceable_dir(folder, inputs=[f.path for f in inputs], ours=ours)
            one = replace(one, info_path=None, packed_input=None, auto_packed=False, rounds=None,
                          input_files=tuple(f.path for f in inputs))
        loops = request.loop if inputs else 1
        last = AisOutputs(folder, prefix, inputs, request.outfmt, ours) if folder is not None and inputs else None
        results = [run_benchmark(one, log, runner=runner, outputs=last if loop == loops - 1 and last else NoOutputs())
                   for loop in range(loops)]
        summary = summary_json(one, results, last.filesinfo if last is not None else {})
        if summary_path is not None:
            write_text_atomic(summary_path, json.dumps(summary) + "\n")
        return AisRun(results, summary, summary_path, folder if inputs else None)


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
    stability = s["genet"]["stability"]
    if stability["high_load"] or stability["unstable"]:
        busy = "a busy machine, " if stability["high_load"] else ""
        lines.append(f"[WARNING] genet: the figures may be unstable ({busy}{busy_text(stability)}; "
                     f"Interface repeats' CV {100 * s['genet']['interface_repeats'].get('cv', 0.0):.0f}%)")
    if run.output_folder is not None:
        lines.append(f"outputs: {run.output_folder}/")
    if run.summary_path is not None:
        lines.append(f"summary: {run.summary_path}")
    return lines
