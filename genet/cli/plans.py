"""benchmark.py's runs beyond one batch size on one device: sweeps, ``--best``, several devices, ais_bench.

``benchmark.py`` parses its flags, then hands the run here when ``-batch_size`` or ``-device_id``
is a list, ``--best`` is given, or the command line is ais_bench's (``genet.bench.aisbench``).
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from genet.bench.ais_args import AisRequest
from genet.bench.aisbench import run_ais_bench, summary_lines
from genet.bench.config import BenchConfig
from genet.bench.devices import device_call_times, parse_device_ids, run_devices
from genet.bench.engine import BenchResult
from genet.bench.sweep import model_for_batch, run_sweep, sweep_lines, write_sweep
from genet.core.console import Log
from genet.core.errors import GenetError
from genet.formats.calltimes import check_export_path, write_call_times


def parse_device_list(text: str) -> tuple[int, ...]:
    """``-device_id`` as given: one device number or a comma-separated list."""
    try:
        return parse_device_ids(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_sweep_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("sweeps, several devices, timing export")
    group.add_argument("--best", action="store_true",
                       help="search the best batch size (doubling from the smallest -batch_size, then a local "
                            "step) and say why the search stopped; needs a dynamic-batch model")
    group.add_argument("--export-times", type=Path, metavar="FILE",
                       help="write every timed call's seconds (start, end, compute, h2d, d2h) to FILE (JSON)")


@dataclass
class Plan:
    batch_sizes: tuple[int, ...]
    device_ids: tuple[int, ...]
    best: bool
    export_times: Path | None
    ais: AisRequest | None

    @property
    def dispatched(self) -> bool:
        return self.ais is not None or self.best or len(self.batch_sizes) > 1 or len(self.device_ids) > 1


def plan_from_args(args: argparse.Namespace, ais: AisRequest | None) -> Plan:
    """Check how the lists combine, then leave their first value in ``args`` for the one-run config."""
    plan = Plan(tuple(args.batch_size), tuple(args.device_id), args.best, args.export_times, ais)
    if len(plan.device_ids) > 1 and (len(plan.batch_sizes) > 1 or plan.best):
        raise GenetError("several devices run one batch size: give a -batch_size list (or --best) or a "
                         "-device_id list, not both")
    if ais is not None and (len(plan.batch_sizes) > 1 or plan.best):
        raise GenetError("ais_bench's command line runs one batch size: leave out the -batch_size list and --best")
    if ais is not None and len(plan.device_ids) > 1 and (ais.input is not None or ais.output is not None):
        raise GenetError("several devices with ais_bench's --input/--output are not supported: use -device_id="
                         f"{','.join(map(str, plan.device_ids))} with -input_text_path (the guide's files)")
    check_export_path(plan.export_times)
    args.batch_size, args.device_id = plan.batch_sizes[0], plan.device_ids[0]
    if len(plan.batch_sizes) == 1 and not plan.best and args.om_path is not None:
        args.om_path = model_for_batch(args.om_path, args.batch_size)    # 'x_bs{bs}.onnx' of one batch size
    return plan


def run_plan(config: BenchConfig, plan: Plan, log: Log) -> list[BenchResult]:
    """Run the plan, print its summary; the single runs' results (their reports are written)."""
    if len(plan.device_ids) > 1:
        # ais_bench without --output writes no file: the workers' reports go to a scratch folder
        scratch = tempfile.TemporaryDirectory(prefix=".genet-ais.") if plan.ais is not None else None
        with scratch or contextlib.nullcontext():
            multi = run_devices(replace(config, output_dir=Path(scratch.name)) if scratch else config,
                                plan.device_ids, log)
        print("\n".join(multi.lines()))
        if scratch is None:
            print(f"report: {multi.report_path}")
        times = device_call_times(multi)
        key = "devices"
        results = [run.result for run in multi.runs]
    elif plan.ais is not None:
        run = run_ais_bench(config, plan.ais, log)
        print("\n".join(summary_lines(run)))
        times = [call for result in run.results for call in result.calls]
        key = "calls"
        results = run.results
    else:
        sweep = run_sweep(config, plan.batch_sizes, log, best=plan.best)
        paths = write_sweep(sweep)
        print("\n".join(sweep_lines(sweep)))
        print(f"sweep: {paths[0]} (+ {paths[1].name}, {paths[2].name}); perf files per batch size beside it")
        times = {str(p.batch_size): p.calls for p in sweep.points}
        key = "batches"
        results = [p.result for p in sweep.points if p.result is not None]
    if plan.export_times is not None:
        write_call_times(plan.export_times, times, key=key)
    return results
