"""Stand-ins for Huawei's and NVIDIA's tools, for testing the test/*.sh scripts on a CPU machine.

``atc``, ``amct_onnx``, ``benchmark.x86_64`` and ``trtexec`` (the executables in ``bin/``) and the
``ais_bench`` Python package (``python/``) accept the real tools' command lines and write
files in the real tools' formats (see docs/formats.md). They compute with ONNX
Runtime, so the outputs are real logits of the model:

- ``atc`` writes ``{--output}.om``, which is the ONNX model with its batch axis fixed to the
  batch of ``--input_shape`` (a real .om is an opaque binary; ours is only readable by these
  stubs).
- ``benchmark.x86_64`` runs such an .om over an info file (dumps and the five-line perf
  report under ``./result``) or in pure-inference mode (``-round``).
- ``trtexec`` times the ONNX model at the batch of ``--shapes`` and prints trtexec's
  performance summary.

Each call appends one JSON line ``{"tool", "argv", "cwd"}`` to the file named by
``$GENET_STUB_LOG`` (when set), so that tests can check how the scripts called the tools.
``$GENET_STUB_FAIL_AFTER=N`` makes ``benchmark.x86_64`` fail once it has written about N dumps.
Timing figures are ONNX Runtime's on this CPU: they test the wiring, not any accelerator.
"""

from __future__ import annotations

import datetime
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

SOC_VERSIONS = ("Ascend310", "Ascend310P3", "Ascend710", "Ascend910")
ATC_FAILED = "ATC run failed, Please check the detail log, Try 'atc --help' for more information"


def record(tool: str, argv: list) -> None:
    log = os.environ.get("GENET_STUB_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as f:
            f.write(json.dumps({"tool": tool, "argv": [str(a) for a in argv], "cwd": os.getcwd()}) + "\n")


def key_values(argv: list[str], dashes: str) -> dict[str, str]:
    """``--key=value`` (atc, trtexec) or ``-key=value`` (benchmark) pairs; a bare flag maps to ''."""
    found = {}
    for arg in argv:
        if not arg.startswith(dashes) or (dashes == "-" and arg.startswith("--")):
            raise SystemExit(f"unexpected argument {arg!r}")
        key, _, value = arg[len(dashes):].partition("=")
        found[key] = value
    return found


def session(model_path: str):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = 1
    return ort.InferenceSession(model_path, options, providers=["CPUExecutionProvider"])


def static_batch(sess) -> int | None:
    dim = sess.get_inputs()[0].shape[0]
    return dim if isinstance(dim, int) else None


# --- atc ---------------------------------------------------------------------------------

def atc(argv: list[str]) -> int:
    import onnx

    args = key_values(argv, "--")
    print("ATC start working now, please wait for a moment.")
    if "auto_tune_mode" in args and os.environ.get("GENET_STUB_CANN_NO_AUTO_TUNE"):
        print("E10001: Value [auto_tune_mode] for parameter [--auto_tune_mode] is invalid. Reason: the option "
              "was removed; use the AOE tool for tuning.")
        print(ATC_FAILED)
        return 1
    problems = [f"--{key} is required" for key in ("model", "framework", "output", "soc_version") if key not in args]
    if not problems and args["framework"] != "5":
        problems.append(f"--framework={args['framework']}: only 5 (ONNX) is emulated")
    if not problems and args["soc_version"] not in SOC_VERSIONS:
        problems.append(f"--soc_version={args['soc_version']} is not a known SoC")
    if not problems and not Path(args["model"]).is_file():
        problems.append(f"--model={args['model']}: no such file")
    if problems:
        print("E10001: " + "; ".join(problems))
        print(ATC_FAILED)
        return 1
    model = onnx.load(args["model"])
    if "input_shape" in args:
        name, _, dims = args["input_shape"].partition(":")
        graph_input = next((i for i in model.graph.input if i.name == name), None)
        if graph_input is None:
            print(f"E10016: input [{name}] of --input_shape is not an input of the model")
            print(ATC_FAILED)
            return 1
        for dim, value in zip(graph_input.type.tensor_type.shape.dim, dims.split(","), strict=False):
            dim.dim_value = int(value)
    onnx.save(model, args["output"] + ".om")
    print("ATC run success, welcome to the next use.")
    return 0


# --- amct_onnx -----------------------------------------------------------------------------

AMCT_REQUIRED = ("model", "save_path", "input_shape", "data_dir", "data_types")


def amct_onnx(argv: list[str]) -> int:
    """``amct_onnx calibration --model M --save_path P --input_shape name:n,c,h,w --data_dir D --data_types float32``.

    Checks the command line and that the files of --data_dir hold whole batches of --input_shape,
    then writes ``{save_path}_deploy_model.onnx`` and ``{save_path}_fake_quant_model.onnx`` as the
    real tool does (here: copies of the model, not quantized).
    """
    import onnx

    if not argv or argv[0] != "calibration":
        print("usage: amct_onnx calibration ...")
        return 2
    args, rest = {}, argv[1:]
    while rest:                         # --key=value or --key value, as the real tool takes both
        key, has_value, value = rest[0].partition("=")
        if not key.startswith("--"):
            print(f"unexpected argument {rest[0]!r}")
            return 2
        if not has_value:
            value, rest = (rest[1] if len(rest) > 1 else ""), rest[1:]
        args[key[2:]] = value
        rest = rest[1:]
    missing = [f"--{key}" for key in AMCT_REQUIRED if not args.get(key)]
    if missing:
        print(f"[AMCT][ERROR] missing {', '.join(missing)}")
        return 1
    name, _, dims = args["input_shape"].partition(":")
    model = onnx.load(args["model"])
    if name not in [i.name for i in model.graph.input] or args["data_types"] != "float32":
        print(f"[AMCT][ERROR] --input_shape {args['input_shape']} / --data_types {args['data_types']} do not match "
              f"the model")
        return 1
    batch_bytes = 4 * int(np.prod([int(d) for d in dims.split(",")]))
    files = sorted(Path(args["data_dir"]).iterdir())
    wrong = [f.name for f in files if f.stat().st_size % batch_bytes]
    if not files or wrong:
        print(f"[AMCT][ERROR] --data_dir {args['data_dir']}: files are not whole batches of {batch_bytes} bytes: "
              f"{wrong or 'no files'}")
        return 1
    for kind in ("deploy", "fake_quant"):
        onnx.save(model, f"{args['save_path']}_{kind}_model.onnx")
    print(f"[AMCT][INFO] calibrated on {sum(f.stat().st_size for f in files) // batch_bytes} batch(es)")
    return 0


# --- benchmark.x86_64 ----------------------------------------------------------------------

def _perf_lines(images: int, wall_s: float, compute_s: float) -> str:
    e2e = images / wall_s
    device = images / compute_s
    per_item_ms = 1000.0 * wall_s / images
    return (f"[e2e] throughputRate: {e2e:g}, latency: {1000 * wall_s:g}\n"
            f"[data read] throughputRate: {e2e:g}, moduleLatency: {per_item_ms:g}\n"
            f"[preprocess] throughputRate: {e2e:g}, moduleLatency: {per_item_ms:g}\n"
            f"[inference] throughputRate: {e2e:g}, Interface throughputRate: {device:g}, "
            f"moduleLatency: {1000.0 * compute_s / images:g}\n"
            f"[postprocess] throughputRate: {e2e:g}, moduleLatency: {per_item_ms:g}\n")


def _read_info(path: str, width: int, height: int) -> list[tuple[str, np.ndarray]]:
    inputs = []
    for line in Path(path).read_text().splitlines():
        if not line.strip():
            continue
        _, bin_path, _, _ = line.split()
        inputs.append((Path(bin_path).stem, np.fromfile(bin_path, np.float32).reshape(3, height, width)))
    return inputs


def benchmark(argv: list[str]) -> int:
    args = key_values(argv, "-")
    device_id, batch = int(args.get("device_id", 0)), int(args.get("batch_size", 1))
    om_path = args.get("om_path", "")
    if not om_path.endswith(".om") or not Path(om_path).is_file():
        print(f"[ERROR] om_path {om_path!r} is not an existing .om file")
        return 1
    sess = session(om_path)
    if static_batch(sess) != batch:
        print(f"[ERROR] model batch {static_batch(sess)} does not match -batch_size={batch}")
        return 1
    result = Path("result")
    result.mkdir(exist_ok=True)
    if "input_text_path" not in args:
        return _pure_inference(sess, om_path, device_id, batch, int(args.get("round", 1)), result)
    inputs = _read_info(args["input_text_path"], int(args.get("input_width", 32)), int(args.get("input_height", 32)))
    binary = args.get("output_binary", "False") == "True"
    dumps = result / f"dumpOutput_device{device_id}"
    dumps.mkdir(exist_ok=True)
    started, compute = time.perf_counter(), 0.0
    fail_after = int(os.environ.get("GENET_STUB_FAIL_AFTER", len(inputs) + 1))   # a run that breaks half-way
    for start in range(0, len(inputs), batch):
        if start >= fail_after:
            print(f"[ERROR] device error after {start} images")
            return 1
        part = inputs[start:start + batch]
        images = np.zeros((batch, *part[0][1].shape), np.float32)
        images[:len(part)] = [image for _, image in part]
        tick = time.perf_counter()
        logits = sess.run(None, {sess.get_inputs()[0].name: images})[0]
        compute += time.perf_counter() - tick
        for (stem, _), row in zip(part, logits, strict=False):     # the last batch is padded
            if binary:
                row.astype(np.float32).tofile(dumps / f"{stem}_1.bin")
            else:
                (dumps / f"{stem}_1.txt").write_text(" ".join(f"{v:.9g}" for v in row) + " \n")
    wall = time.perf_counter() - started
    (result / f"perf_vision_batchsize_{batch}_device_{device_id}.txt").write_text(
        _perf_lines(len(inputs), wall, compute))
    print(f"[INFO] Dataset number: {len(inputs)} finished cost {1000 * wall:g}ms")
    return 0


def _pure_inference(sess, om_path: str, device_id: int, batch: int, rounds: int, result: Path) -> int:
    images = np.random.default_rng(0).standard_normal((batch, 3, 32, 32)).astype(np.float32)
    started = time.perf_counter()
    for _ in range(rounds):
        sess.run(None, {sess.get_inputs()[0].name: images})
    seconds = time.perf_counter() - started
    report = result / f"PureInfer_perf_of_{Path(om_path).stem}_in_device_{device_id}.txt"
    summary = (f"[INFO] ave_throughputRate: {rounds * batch / seconds:g}samples/s, "
               f"ave_latency: {1000 * seconds / (rounds * batch):g}ms\n")
    report.write_text(summary)
    print(f"[INFO] PureInfer result saved in ./{report}")
    print("-----------------PureInfer Performance Summary------------------")
    print(summary, end="")
    return 0


# --- trtexec -------------------------------------------------------------------------------

def _stats(name: str, times_ms: list[float]) -> str:
    t = np.asarray(times_ms)
    return (f"{name}: min = {t.min():g} ms, max = {t.max():g} ms, mean = {t.mean():g} ms, "
            f"median = {np.median(t):g} ms, percentile(90%) = {np.percentile(t, 90):g} ms, "
            f"percentile(95%) = {np.percentile(t, 95):g} ms, percentile(99%) = {np.percentile(t, 99):g} ms")


def trtexec(argv: list[str]) -> int:
    args = key_values(argv, "--")
    command = "trtexec " + " ".join(argv)
    stamp = datetime.datetime.now().strftime("[%m/%d/%Y-%H:%M:%S]")
    print(f"&&&& RUNNING TensorRT.trtexec [TensorRT v8601] # {command}")
    if not Path(args.get("onnx", "")).is_file():
        print(f"{stamp} [E] Could not open file {args.get('onnx', '')}")
        print(f"&&&& FAILED TensorRT.trtexec [TensorRT v8601] # {command}")
        return 1
    sess = session(args["onnx"])
    name, _, dims = args.get("shapes", "image:1x3x32x32").partition(":")
    shape = tuple(int(d) for d in dims.split("x"))
    images = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    times = []
    for _ in range(20):
        tick = time.perf_counter()
        sess.run(None, {name: images})
        times.append(1000 * (time.perf_counter() - tick))
    print(f"{stamp} [I] Precision: FP32{'+FP16' if 'fp16' in args else ''}")
    print(f"{stamp} [I] Input inference shape: {name}={dims}")
    print(f"{stamp} [I] === Performance summary ===")
    print(f"{stamp} [I] Throughput: {1000 / np.mean(times):g} qps")
    print(f"{stamp} [I] {_stats('Latency', [t * 1.1 for t in times])}")
    print(f"{stamp} [I] {_stats('GPU Compute Time', times)}")
    print(f"&&&& PASSED TensorRT.trtexec [TensorRT v8601] # {command}")
    return 0


TOOLS = {"atc": atc, "amct_onnx": amct_onnx, "benchmark": benchmark, "trtexec": trtexec}

if __name__ == "__main__":
    tool, argv = sys.argv[1], sys.argv[2:]
    record(tool, argv)
    sys.exit(TOOLS[tool](argv))
