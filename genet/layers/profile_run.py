"""``benchmark.py --profile``: the timed batches once more under the backend's profiler, then the table.

The normal run's figures stay unprofiled: the profiler is a second instance of the model
(``Runner.profiler()``), opened before the run so that a backend without one is refused before
anything is written, and run after it, over the same batches (the same images, one call at a time),
after the same warm-up. Then the dense matrix product is timed on the same
backend and threads (``genet.layers.ceiling``), the kernels are grouped by layer
(``genet.layers.profile``), their sum is checked against the unprofiled run's device time per
batch, and the profiler's own cost (the profiled run's device time against the unprofiled one's)
is printed. The three files go to the output folder together or not at all.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Callable

from genet.bench.batches import plan_batches
from genet.bench.config import BenchConfig
from genet.bench.engine import BenchResult, resolve_image_shape, run_pipeline
from genet.bench.figures import Timings
from genet.bench.sinks import Discard
from genet.bench.sources import open_source
from genet.bench.warmup import warm_up
from genet.core.console import Log, progress_bar
from genet.core.cpuinfo import this_cpu
from genet.core.errors import GenetError
from genet.core.fsio import atomic_files
from genet.core.load import core_count, load_average
from genet.layers.ceiling import best_of, measure_ceiling
from genet.layers.flops import OnnxLayers, export_for_layers
from genet.layers.profile import LayerProfile, build_profile, module_summary, sum_check
from genet.layers.profile_report import profile_paths, to_csv, to_json, to_markdown
from genet.runners import Runner
from genet.runners.onnx_graph import load_model


def check_profile_paths(config: BenchConfig) -> tuple[Path, Path, Path]:
    """The three output paths, refused before the run where one is a folder or not a regular file."""
    paths = profile_paths(config.output_dir, config.batch_size, config.device_id)
    for path in paths:
        if path.exists() and not path.is_file():
            raise GenetError(f"{path}: exists and is not a regular file (the profile's output)")
    return paths


class ProfileHook:
    """For ``run_benchmark(then=…)``: opens the profiler once the runner is loaded, profiles after the run.

    ``lines`` holds the summary to print once the run's own report is printed.
    """

    def __init__(self, config: BenchConfig, log: Log):
        self.config, self.log = config, log
        self.paths = check_profile_paths(config)
        self.lines: list[str] = []

    def __call__(self, runner: Runner) -> Callable[[BenchResult], None]:
        profiler = runner.profiler()
        if runner.name in ("onnxruntime", "openvino"):
            check_layer_names(runner.model_path)

        def after(result: BenchResult) -> None:
            with profiler:
                profile = profile_run(self.config, runner, profiler, result, self.log)
            write_profile(profile, self.paths)
            self.lines = summary_lines(profile, self.paths)

        return after


def check_layer_names(model_path: Path) -> None:
    """Refuse, before the run, an ONNX model none of whose nodes the layer-name map reads."""
    layers = OnnxLayers(load_model(model_path), 1)
    if not layers.facts:
        raise GenetError(f"{model_path}: none of its {len(layers.index.nodes)} nodes has an exporter's name "
                         f"(/module/path/Op): the per-layer profile cannot name its layers (export it with "
                         f"pthtar2onnx.py)")


def profile_run(config: BenchConfig, runner: Runner, profiler, result: BenchResult, log: Log) -> LayerProfile:
    load = load_average()
    shape = resolve_image_shape(runner, config.input_width, config.input_height)
    source = open_source(config, shape, lambda text: None)
    spans = plan_batches(source.count, config.batch_size, pad_to_batch=runner.static_batch is not None)
    precisions = ("fp32", "int8") if runner.precision == "int8" else (runner.precision,)
    settings = runner.settings()
    threads = _threads_text(settings)
    log(f"profile: timing a dense matrix product ({', '.join(precisions)}) on {runner.name} for the ceiling")
    ceiling = measure_ceiling(profiler, precisions, threads)
    warm_up(profiler, spans, shape, config.warmup, config.seed)
    profiler.start()
    timings = Timings()
    with progress_bar(source.count, "profile", quiet=not config.progress) as progress:
        run_pipeline(profiler, source, spans, shape, Discard(timings.postprocess), timings,
                     config.prefetch_depth, progress)
    times = profiler.collect()
    if times.model is None and getattr(profiler, "module", None) is not None:
        times.model = export_for_layers(profiler.module, config.batch_size)
    ceiling = best_of(ceiling, measure_ceiling(profiler, precisions, threads))
    profile = build_profile(times, config.batch_size, precision=runner.precision, where=str(config.model_path))
    profile.ceiling = ceiling
    unprofiled_ms = result.details["seconds"]["device"] / result.details["batches"] * 1000.0
    profiled_ms = timings.device_busy_seconds / len(spans) * 1000.0
    profile.check = sum_check(profile, unprofiled_ms)
    profile.overhead = {"profiled_ms": profiled_ms, "unprofiled_ms": unprofiled_ms,
                        "overhead": profiled_ms / unprofiled_ms - 1.0 if unprofiled_ms > 0 else float("nan"),
                        "coverage": profile.total_ms / profiled_ms if profiled_ms > 0 else float("nan")}
    profile.about = {
        "backend": runner.name, "device": runner.device_name, "model": str(config.model_path),
        "command": " ".join(config.command_line), "versions": runner.versions(), "settings": settings,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "cpu": f"{runner.device_name.removeprefix('CPU: ')}; ISA flags: {this_cpu().isa_flags()}",
        "load": None if load is None else f"1-minute load average {load:.2f} on {core_count()} CPUs before the "
                                          f"profiled pass" + (" (measured while other jobs ran)" if load > 0.5 else ""),
    }
    return profile


def _threads_text(settings: dict) -> str:
    for key in ("intra_op_threads", "inference_threads", "threads"):
        if key in settings:
            return f"{key.replace('_', ' ')} {settings[key]}"
    return "the backend's threads"


def write_profile(profile: LayerProfile, paths: tuple[Path, Path, Path]) -> None:
    texts = (to_markdown(profile), to_csv(profile), to_json(profile))
    try:
        with atomic_files(paths, [path.suffix for path in paths]) as temps:
            for temp, text in zip(temps, texts):
                temp.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise GenetError(f"{exc.filename}: cannot write: {exc.strerror}") from None


def summary_lines(profile: LayerProfile, paths: tuple[Path, Path, Path]) -> list[str]:
    lines = []
    check = profile.check
    if check:
        verdict = "within" if check["within"] else "NOT within"
        lines.append(f"profile: layer times sum to {check['layers_ms']:.3f} ms per batch, the unprofiled run's device "
                     f"time is {check['interface_ms']:.3f} ms per batch ({100 * check['difference']:+.1f}%, {verdict} "
                     f"{100 * check['tolerance']:.0f}%)")
    if profile.overhead:
        over = profile.overhead
        lines.append(f"profiler overhead: {over['profiled_ms']:.3f} ms per batch profiled against "
                     f"{over['unprofiled_ms']:.3f} ms unprofiled ({100 * over['overhead']:+.1f}%); the layers hold "
                     f"{100 * over['coverage']:.1f}% of the profiled run's device time")
    if profile.ceiling:
        rates = ", ".join(f"{p} {r:.1f} GFLOP/s" for p, r in profile.ceiling.gflops.items())
        lines.append(f"ceiling (dense {profile.ceiling.size}³ matrix product): {rates}")
    tops = ", ".join(f"{top} {100 * share:.0f}%" for top, _, share, _ in module_summary(profile))
    lines.append(f"time by module: {tops}")
    lines.append(f"profile: {paths[0]} (+ {paths[1].name}, {paths[2].name})")
    return lines
