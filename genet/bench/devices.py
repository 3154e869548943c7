"""Several devices at once (``-device_id=0,1`` or ais_bench's ``--device 0,1``): one worker per device.

Each worker is a thread of this process with its own runner on its own device, running its
share of the work: for pure inference ``-round`` batches split as evenly as they go, for a
dataset a contiguous share of the info file's lines (its dumps in ``dumpOutput_device{id}/``).
Each worker writes its usual perf report (``perf_vision_batchsize_{bs}_device_{id}``).

The total is measured, not added up: all images / (the end of the last timed call on any
device − the start of the first timed call on any device), both read from the one clock
(``time.perf_counter``) the workers share. ais_bench instead adds up each device's own
``1000 × batch / mean NPU_compute_time``, a device-only rate per device that counts neither
the host's share of the work nor any device idling while another finishes; the report gives
that sum too (``sum_of_device_rates``), so the two can be compared.

Devices must exist: ``-device_id=0,1`` on a machine without GPUs or NPUs is an error, unless
CPU workers are asked for with ``--device cpu`` (several runners on the CPU share its cores:
useful to test the aggregation, not a speed-up).
"""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

from genet.bench.config import BenchConfig
from genet.bench.engine import BenchResult, run_benchmark
from genet.bench.outputs import check_all_outputs
from genet.core.console import Log
from genet.core.errors import GenetError
from genet.core.fsio import JSON_FILE, write_text_atomic
from genet.formats.devices_report import DEVICES_KIND, devices_report_name
from genet.formats.info import read_numbered_info, write_info
from genet.runners import Runner, backend_for, open_runner


def parse_device_ids(text: str) -> tuple[int, ...]:
    """``0`` or ``0,1,3``: distinct non-negative device numbers (ValueError with the reason)."""
    ids: list[int] = []
    for item in text.split(","):
        item = item.strip()
        if not item.isdigit():
            raise ValueError(f"{text!r}: {item!r} is not a device number")
        if int(item) in ids:
            raise ValueError(f"{text!r}: device {item} is given twice")
        ids.append(int(item))
    return tuple(ids)


def cuda_device_count() -> int:
    """CUDA devices visible to this process; 0 without torch or a GPU."""
    try:
        import torch
    except ImportError:
        return 0
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def check_devices(config: BenchConfig, device_ids: Sequence[int], gpus: int | None = None) -> None:
    """Refuse device numbers this machine does not have (CPU workers only when asked for)."""
    if config.options.device == "cpu":
        return
    backend = config.backend if config.backend != "auto" else backend_for(config.model_path)
    if backend == "ascend":
        return          # the NPU runtime names a missing device when the runner opens it
    shown = ",".join(map(str, device_ids))
    gpus = cuda_device_count() if gpus is None else gpus
    if gpus == 0:
        workers = "" if len(device_ids) == 1 else " workers, which tests the aggregation, not a speed-up"
        raise GenetError(f"-device_id={shown}: this machine has no GPU; device numbers name GPUs or NPUs "
                         f"(add --device cpu to run on the CPU{workers})")
    missing = [str(i) for i in device_ids if i >= gpus]
    if missing:
        raise GenetError(f"-device_id={shown}: no device {', '.join(missing)} (this machine has {gpus} GPU"
                         f"{'s' if gpus > 1 else ''}: 0..{gpus - 1})")


def shares(total: int, parts: int) -> list[tuple[int, int]]:
    """``parts`` contiguous [start, stop) ranges covering ``total`` items, sizes differing by at most one."""
    base, extra = divmod(total, parts)
    bounds, start = [], 0
    for i in range(parts):
        stop = start + base + (1 if i < extra else 0)
        bounds.append((start, stop))
        start = stop
    return bounds


@dataclass
class DeviceRun:
    device_id: int
    result: BenchResult
    window: tuple[float, float]        # first timed call start, last timed call end (perf_counter)


@dataclass
class MultiDevice:
    config: BenchConfig
    runs: list[DeviceRun]
    report_path: Path | None = None

    @property
    def images(self) -> int:
        return sum(run.result.images for run in self.runs)

    @property
    def wall_seconds(self) -> float:
        return max(run.window[1] for run in self.runs) - min(run.window[0] for run in self.runs)

    @property
    def total_throughput(self) -> float:
        """Images / the shared wall-clock span of all timed calls."""
        return self.images / max(self.wall_seconds, 1e-12)

    @property
    def sum_of_device_rates(self) -> float:
        """ais_bench's total: each device's Interface (device-only) rate, added up."""
        return sum(run.result.report.interface_throughput for run in self.runs)

    def to_json(self) -> dict:
        return {
            "kind": DEVICES_KIND, "batch_size": self.config.batch_size,
            "model": str(self.config.model_path),
            "total": {"images": self.images, "wall_seconds": self.wall_seconds,
                      "throughput": self.total_throughput, "sum_of_device_rates": self.sum_of_device_rates,
                      "definition": "images / (last timed call end - first timed call start) over all devices, "
                                    "one clock; sum_of_device_rates is ais_bench's sum of per-device rates"},
            "devices": [{"device_id": run.device_id, "images": run.result.images,
                         "interface_throughput": run.result.report.interface_throughput,
                         "e2e_throughput": run.result.report.e2e_throughput,
                         "device": run.result.details["device"],
                         "non_finite_outputs": run.result.details["non_finite_outputs"],
                         "perf_json": str(run.result.perf_json)}
                        for run in self.runs],
            "command_line": list(self.config.command_line),
        }

    def lines(self) -> list[str]:
        found = [f"device {run.device_id}: {run.result.images} images, Interface "
                 f"{run.result.report.interface_throughput:.2f} img/s, e2e {run.result.report.e2e_throughput:.2f} "
                 f"img/s ({run.result.details['device']})" for run in self.runs]
        found.append(f"total: {self.images} images in {self.wall_seconds:.4f} s of shared wall-clock = "
                     f"{self.total_throughput:.2f} img/s (ais_bench's sum of per-device rates: "
                     f"{self.sum_of_device_rates:.2f} img/s)")
        return found


def _worker_configs(config: BenchConfig, device_ids: Sequence[int], work_dir: Path) -> list[BenchConfig]:
    """Each device's config: its share of the rounds, or an info file of its share of the lines."""
    count = len(device_ids)
    if config.pure_inference:
        if config.rounds < count:
            raise GenetError(f"-round={config.rounds}: fewer batches than the {count} devices")
        parts = [stop - start for start, stop in shares(config.rounds, count)]
        return [_on_device(config, device, rounds=part) for device, part in zip(device_ids, parts)]
    if config.info_path is None:
        raise GenetError("several devices read an info file (-input_text_path), not a packed array alone")
    numbered = read_numbered_info(config.info_path)
    if len(numbered) < count:
        raise GenetError(f"{config.info_path}: {len(numbered)} inputs for {count} devices")
    configs = []
    for device, (start, stop) in zip(device_ids, shares(len(numbered), count)):
        share = work_dir / f"device{device}.info"
        write_info(share, [item.entry for item in numbered[start:stop]])
        configs.append(_on_device(config, device, info_path=share, auto_packed=False))
    return configs


def _on_device(config: BenchConfig, device_id: int, **changes) -> BenchConfig:
    return replace(config, device_id=device_id, options=replace(config.options, device_id=device_id),
                   progress=False, **changes)


class _Worker(threading.Thread):
    def __init__(self, config: BenchConfig, barrier: threading.Barrier, log: Log):
        super().__init__(name=f"genet-device{config.device_id}", daemon=True)
        self.config, self._barrier, self._log = config, barrier, log
        self.run_result: DeviceRun | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        runner: Runner | None = None
        try:
            runner = open_runner(self.config.model_path, self.config.backend, self.config.options)
            self._barrier.wait()            # every model loaded before any device starts
            result = run_benchmark(self.config, self._log, runner=runner)
            self.run_result = DeviceRun(self.config.device_id, result, result.window)
        except BaseException as exc:        # reported by the main thread
            self.error = exc
            self._barrier.abort()
        finally:
            if runner is not None:
                runner.close()


def run_devices(config: BenchConfig, device_ids: Sequence[int], log: Log) -> MultiDevice:
    """One worker per device over its share; per-device reports and the total from one shared clock."""
    check_devices(config, device_ids)
    work_dir = Path(tempfile.mkdtemp(prefix=".genet-devices."))
    try:
        configs = _worker_configs(config, device_ids, work_dir)
        check_all_outputs(configs, [(devices_report_path(config), JSON_FILE)])
        barrier = threading.Barrier(len(configs))
        workers = [_Worker(one, barrier, log) for one in configs]
        for worker in workers:
            worker.start()
        for worker in workers:
            while worker.is_alive():
                worker.join(0.2)            # short waits: Ctrl-C and SIGTERM still reach the main thread
        errors = [w.error for w in workers
                  if w.error is not None and not isinstance(w.error, threading.BrokenBarrierError)]
        if errors:
            raise errors[0]
        multi = MultiDevice(config, [w.run_result for w in workers])
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    multi.report_path = devices_report_path(config)
    write_text_atomic(multi.report_path, json.dumps(multi.to_json(), indent=2) + "\n")
    return multi


def devices_report_path(config: BenchConfig) -> Path:
    return Path(config.output_dir) / devices_report_name(config.batch_size)


def device_call_times(multi: MultiDevice) -> dict[str, list[dict]]:
    """``--export-times`` of several devices: each device's per-call seconds."""
    return {str(run.device_id): run.result.calls for run in multi.runs}
