"""The whole pipeline in one command: ``genet-demo``, ``python -m genet.demo`` or ``bash test/eval_acc_perf.sh``.

It runs the repository's own scripts, one process each, exactly as a user would type them,
in a work folder that then holds the guide's files (prep_dataset/, genet_prep_bin.info,
genet_gpu.onnx, result/, result_bs1.json, ...):

1. without ``--datasets_path``: a generated CIFAR-10-format data set (``python -m genet.cli.synthetic``:
   drawn patterns, NOT CIFAR-10, so the accuracy it yields says nothing about CIFAR-10);
2. without ``--model_path``: a small GENet trained on that set's training batches (train.py);
3. preprocess.py, get_info.py, pthtar2onnx.py (the guide's steps 3.2, 3.3, 4.2);
4. on an Ascend host, test/onnx2om.sh (step 4.3);
5. on ONNX Runtime: quantize.py, an int8 twin of the model calibrated on the training split, and
   compare_layers.py, int8 against fp32 layer by layer;
6. per batch size: test/infer_bin.sh (step 5.2: the Ascend benchmark tool, ais_bench, or
   benchmark.py on ONNX Runtime / PyTorch), then cifar10_acc_eval.py on its dumps (step 6),
   before the next batch size replaces them; the same for the int8 model with benchmark.py;
7. the guide's section 7 in one process per model: benchmark.py's pure-inference batch sweep;
8. tables of accuracy and throughput per batch size and of the sweep, printed and written to summary.md.

It stops at the first step that fails, naming it. It replaces only files it wrote itself: their
names are kept in the work folder's ``.genet-demo`` list, and a work folder holding any other
file of the same name is refused (genet.core.fsio.claim_folder). Each step runs in a process group
that is stopped with the demo (genet.core.process); the summary is read back from the steps' reports
(genet.reports.summary). This module is the step plan.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from genet.bench.config import BenchConfig
from genet.bench.engine import input_buffers
from genet.bench.sources import image_bytes
from genet.cli.common import Parser, non_negative_int, positive_int
from genet.core.constants import CHANNELS, IMAGE_SIZE, LABEL_FILE
from genet.core.errors import GenetError, run_cli
from genet.core.fsio import claim_folder, remove_listed, write_text_atomic
from genet.core.launch import check_requirements
from genet.core.memory import check_batch_fits
from genet.core.process import run_in_group
from genet.data.provenance import GENERATED_NOTE, is_generated
from genet.formats.dumps import dump_folder
from genet.formats.perf_report import perf_paths
from genet.formats.quantize_report import quantize_report_path
from genet.formats.sweep_file import sweep_stem
from genet.layers.report import worst_layers
from genet.reports.summary import (
    RunFiles,
    Section,
    accuracy_section,
    generated_section,
    int8_section,
    render,
    sweep_section,
)

DEFAULT_WORKDIR = Path("demo_run")
DEFAULT_BATCH_SIZES = "1 16"
GENERATED_TEST_IMAGES = 10_000          # as many as CIFAR-10's test batch
# The quick model: 20-40 s of training on two CPU cores, far above chance on generated data.
QUICK_DEPTH, QUICK_WIDTH, QUICK_TRAIN_IMAGES, QUICK_EPOCHS = 10, 1, 2500, 3
NPU_TOOLS = ("benchmark", "ais_bench")  # what test/infer_bin.sh --which names for an Ascend host
BACKENDS = ("auto", "npu", "onnxruntime", "torch")
SOCS = ("Ascend310", "Ascend310P3", "Ascend710")

# The guide's file names, relative to the work folder.
DATASET_DIR = "dataset"
CHECKPOINT = "genet.pth.tar"
PREP_DIR = "prep_dataset"
INFO_FILE = "genet_prep_bin.info"
ONNX_FILE = "genet_gpu.onnx"
INT8_FILE = "genet_int8.onnx"           # quantize.py's model, and its report genet_int8.json beside it
OM_FILES = "genet_bs{bs}_tuned.om"      # test/onnx2om.sh's models, one per batch size ({bs}: benchmark.py's too)
INT8_CHECK_IMAGES = 1000                # quantize.py's default --check
LAYERS_DIR = "layers_int8"              # compare_layers.py's int8 against fp32 report
LAYERS_IMAGES = 64                      # images it compares over, at most
RESULT_DIR = "result"
INT8_RESULT_DIR = "result_int8"
SWEEP_DIR = "result_sweep"              # benchmark.py's batch sweep: sweep_device_{id}.json and the perf files
SWEEP_ROUNDS = 30                       # batches per size, as the guide's -round=30
DEFAULT_SWEEP = "1,4,8,16,32,64"        # the guide's section 7
SUMMARY_FILE = "summary.md"
DEMO_LIST = ".genet-demo"               # the names the demo wrote in its work folder, one a line


@dataclass
class Step:
    name: str
    argv: list[str]

    def command_line(self) -> str:
        return shlex.join(self.argv)


def repository_root() -> Path:
    """The checkout this package lives in: the demo runs its top-level scripts."""
    root = Path(__file__).resolve().parents[2]
    if not (root / "preprocess.py").is_file() or not (root / "test" / "infer_bin.sh").is_file():
        raise GenetError(f"{root}: not a genet checkout (no preprocess.py or test/infer_bin.sh): the pipeline runs "
                         "the repository's scripts, so install it from a clone with pip install -e .")
    return root


def batch_sizes(text: str, flag: str = "--bs") -> list[int]:
    sizes = []
    for token in text.replace(",", " ").split():
        if not token.isdigit() or int(token) < 1:
            raise GenetError(f"{flag} {text!r}: '{token}' is not a positive integer")
        sizes.append(int(token))
    if not sizes:
        raise GenetError(f"{flag}: no batch size given")
    return list(dict.fromkeys(sizes))


def sweep_sizes(text: str) -> list[int]:
    """``--sweep``: none (""), or at least two distinct batch sizes (benchmark.py sweeps a list)."""
    if not text.strip():
        return []
    sizes = batch_sizes(text, "--sweep")
    if len(sizes) < 2:
        raise GenetError(f"--sweep {text!r}: a sweep needs at least two distinct batch sizes (one size is what "
                         f"--bs runs); give \"\" for no sweep")
    return sizes


def child_env() -> dict[str, str]:
    """The scripts run with this interpreter (the shell scripts read $PYTHON), unbuffered, and find this
    checkout's package whether or not it is installed."""
    path = os.pathsep.join([str(repository_root()), *filter(None, [os.environ.get("PYTHONPATH")])])
    return dict(os.environ, PYTHON=sys.executable, PYTHONUNBUFFERED="1", PYTHONPATH=path)


def resolve_tool(root: Path, backend: str, workdir: Path) -> str:
    """What test/infer_bin.sh will run in ``workdir``: benchmark, ais_bench, onnxruntime or torch.

    It looks for ./benchmark.{arch} in the folder it runs in: a work folder yet to be made is empty.
    """
    if backend in ("onnxruntime", "torch"):
        return backend
    with tempfile.TemporaryDirectory() as empty:
        done = subprocess.run(["bash", str(root / "test" / "infer_bin.sh"), f"--backend={backend}", "--which"],
                              cwd=workdir if workdir.is_dir() else empty, env=child_env(), capture_output=True,
                              text=True)
    if done.returncode:
        raise GenetError(done.stderr.strip().splitlines()[-1] if done.stderr.strip()
                         else f"test/infer_bin.sh --which failed (exit {done.returncode})")
    return done.stdout.strip()


class Pipeline:
    def __init__(self, args, root: Path):
        self.args = args
        self.root = root
        self.workdir = args.workdir.resolve()
        self.sizes = batch_sizes(args.bs)
        self.dataset = args.datasets_path.resolve() if args.datasets_path else self.workdir / DATASET_DIR
        self.generated = args.datasets_path is None or is_generated(self.dataset)
        self.model = args.model_path.resolve() if args.model_path else self.workdir / CHECKPOINT
        self.sweep = sweep_sizes(args.sweep)
        largest = max(self.sizes + self.sweep)      # checked before the first step, not at the sweep's turn
        check_batch_fits(largest, image_bytes((CHANNELS, IMAGE_SIZE, IMAGE_SIZE)),
                         input_buffers(BenchConfig.prefetch_depth), f"--bs/--sweep {largest}")
        self.tool = ""

    @property
    def int8(self) -> bool:
        """An int8 row: on ONNX Runtime (an NPU converts int8 with AMCT: test/onnx2om.sh --int8)."""
        return self.tool == "onnxruntime" and not self.args.no_int8

    def sweep_models(self) -> list[tuple[str, str, str]]:
        """(label, model for benchmark.py, output folder) of each sweep; none where benchmark.py cannot run it."""
        if not self.sweep or self.tool == "benchmark":      # the Ascend tool runs one process per batch size
            return []
        if self.tool == "ais_bench":
            return [("om", OM_FILES, SWEEP_DIR)]
        fp32 = [("fp32", str(self.model) if self.tool == "torch" else ONNX_FILE, SWEEP_DIR)]
        return fp32 + ([("int8", INT8_FILE, f"{SWEEP_DIR}_int8")] if self.int8 else [])

    def _script(self, name: str, *args: object) -> list[str]:
        return [sys.executable, str(self.root / name), *map(str, args)]

    def _shell(self, name: str, *args: object) -> list[str]:
        return ["bash", str(self.root / "test" / name), *map(str, args)]

    def prepare_steps(self) -> list[Step]:
        steps = []
        if self.args.datasets_path is None:
            steps.append(Step("generate data", [sys.executable, "-m", "genet.cli.synthetic", str(self.dataset),
                                                "--train", str(self.args.train_images), "--test",
                                                str(self.args.test_images), "--seed", str(self.args.seed)]))
        if self.args.model_path is None:
            steps.append(Step("train", self._script(
                "train.py", self.dataset, "--output", CHECKPOINT, "--depth", QUICK_DEPTH, "--width", QUICK_WIDTH,
                "--epochs", QUICK_EPOCHS, "--limit", self.args.train_images, "--seed", self.args.seed)))
        steps += [
            Step("preprocess", self._script("preprocess.py", self.dataset, f"./{PREP_DIR}")),
            Step("info file", self._script("get_info.py", "bin", f"./{PREP_DIR}", f"./{INFO_FILE}", IMAGE_SIZE,
                                           IMAGE_SIZE)),
            Step("export ONNX", self._script("pthtar2onnx.py", self.model, "--output", ONNX_FILE)),
        ]
        if self.tool in NPU_TOOLS:
            om_sizes = sorted(set(self.sizes) | (set(self.sweep) if self.tool == "ais_bench" else set()))
            steps.append(Step("convert to .om", self._shell("onnx2om.sh", "--onnx", ONNX_FILE, "--soc",
                                                            self.args.soc, "--bs", " ".join(map(str, om_sizes)))))
        if self.int8:
            # quantize.py checks int8 against fp32 on 1,000 test images; a small generated set has fewer
            generated_test = self.args.test_images if self.args.datasets_path is None else None
            check = ["--check", min(INT8_CHECK_IMAGES, generated_test)] if generated_test else []
            steps.append(Step("quantize int8", self._script("quantize.py", ONNX_FILE, self.dataset, "--output",
                                                            INT8_FILE, *check, "--keep-below", "--quiet")))
            count = min(LAYERS_IMAGES, generated_test or LAYERS_IMAGES)
            steps.append(Step("compare layers int8", self._script(
                "compare_layers.py", ONNX_FILE, INT8_FILE, "--images", f"./{PREP_DIR}", "--count", count, "-o",
                LAYERS_DIR, "--report-only", "--quiet")))
        return steps

    def batch_steps(self, bs: int) -> list[Step]:
        backend = "npu" if self.tool in NPU_TOOLS else self.tool
        device = self.args.device_id
        return [
            Step(f"inference bs{bs}", self._shell("infer_bin.sh", "--bs", bs, "--backend", backend, "--device_id",
                                                  device, "--info", f"./{INFO_FILE}", "--onnx", ONNX_FILE,
                                                  "--model_path", self.model)),
            Step(f"accuracy bs{bs}", self._script("cifar10_acc_eval.py", f"{dump_folder(RESULT_DIR, device)}/",
                                                  f"./{PREP_DIR}/{LABEL_FILE}", "./", accuracy_json(bs))),
        ] + (self.int8_steps(bs) if self.int8 else [])

    def int8_steps(self, bs: int) -> list[Step]:
        device = self.args.device_id
        return [
            Step(f"int8 inference bs{bs}", self._script(
                "benchmark.py", "-model_type=vision", f"-device_id={device}", f"-batch_size={bs}",
                f"-om_path={INT8_FILE}", f"-input_text_path=./{INFO_FILE}", f"-input_width={IMAGE_SIZE}",
                f"-input_height={IMAGE_SIZE}", "-output_binary=False", "-useDvpp=False", "--output-dir",
                INT8_RESULT_DIR, "--quiet")),
            Step(f"int8 accuracy bs{bs}", self._script(
                "cifar10_acc_eval.py", f"{dump_folder(INT8_RESULT_DIR, device)}/", f"./{PREP_DIR}/{LABEL_FILE}",
                "./", accuracy_json(bs, int8=True))),
        ]

    def sweep_steps(self) -> list[Step]:
        sizes = ",".join(map(str, self.sweep))
        return [Step(f"pure-inference sweep {label}", self._script(
            "benchmark.py", f"-device_id={self.args.device_id}", f"-om_path={model}", f"-round={SWEEP_ROUNDS}",
            f"-batch_size={sizes}", "--output-dir", folder, "--quiet")) for label, model, folder in self.sweep_models()]

    def steps(self) -> list[Step]:
        return (self.prepare_steps() + [step for bs in self.sizes for step in self.batch_steps(bs)]
                + self.sweep_steps())

    def outputs(self) -> list[str]:
        """The names the steps write in the work folder."""
        names = [PREP_DIR, INFO_FILE, ONNX_FILE, RESULT_DIR, SUMMARY_FILE]
        names += [accuracy_json(bs) for bs in self.sizes]
        if self.args.datasets_path is None:
            names.append(DATASET_DIR)
        if self.args.model_path is None:
            names.append(CHECKPOINT)
        if self.tool in NPU_TOOLS:
            names += [OM_FILES.format(bs=bs) for bs in self.sizes]
        if self.int8:
            names += [INT8_FILE, str(quantize_report_path(INT8_FILE)), INT8_RESULT_DIR, LAYERS_DIR]
            names += [accuracy_json(bs, int8=True) for bs in self.sizes]
        if self.tool == "ais_bench":
            names += [OM_FILES.format(bs=bs) for bs in self.sweep]
        names += [folder for _, _, folder in self.sweep_models()]
        return list(dict.fromkeys(names))

    def run(self) -> None:
        self.tool = resolve_tool(self.root, self.args.backend, self.workdir)
        steps = self.steps()
        if self.args.dry_run:
            print(f"cd {shlex.quote(str(self.workdir))}")
            for step in steps:
                print(f"# {step.name}\n{step.command_line()}")
            return
        claim_folder(self.workdir, self.outputs(), DEMO_LIST, owner="the demo", option="--workdir")
        remove_listed(self.workdir, DEMO_LIST, keep=[self.dataset, self.model])
        started = time.perf_counter()
        for number, step in enumerate(steps, 1):
            run_step(step, number, len(steps), self.workdir)
        table = self.summary()
        write_text_atomic(self.workdir / SUMMARY_FILE, table)
        print(f"\n{table}\nwhole pipeline: {time.perf_counter() - started:.1f} s; "
              f"files in {self.workdir}, this table in {self.workdir / SUMMARY_FILE}")

    def summary(self) -> str:
        return render(self.summary_sections())

    def summary_sections(self) -> list[Section]:
        """summary.md, section by section; a new section (another stage's figures) goes in this list."""
        runs = [self.run_files(bs, int8=False) for bs in self.sizes]
        runs += [self.run_files(bs, int8=True) for bs in self.sizes] if self.int8 else []
        sections = [accuracy_section(runs, self.tool, self.source_line())]
        if self.int8:
            sections.append(int8_section(self.workdir / quantize_report_path(INT8_FILE)))
        if self.sweep_models():
            device = self.args.device_id
            sweeps = [(label, self.workdir / folder / f"{sweep_stem(device)}.json")
                      for label, _, folder in self.sweep_models()]
            sections.append(sweep_section(sweeps, SWEEP_ROUNDS))
        if self.int8:
            sections.append(Section(f"The five worst layers of int8 against fp32 (compare_layers.py; median cosine "
                                    f"over the images; every layer: {LAYERS_DIR}/layers.md)",
                                    worst_layers(self.workdir / LAYERS_DIR / "layers.json")))
        if self.generated:
            sections.append(generated_section())
        return sections

    def run_files(self, bs: int, int8: bool) -> RunFiles:
        perf_txt, _ = perf_paths(self.workdir / (INT8_RESULT_DIR if int8 else RESULT_DIR), bs, self.args.device_id)
        return RunFiles(bs, self.workdir / accuracy_json(bs, int8), perf_txt, "int8" if int8 else "fp32")

    def source_line(self) -> str:
        data = "generated data, NOT CIFAR-10" if self.generated else "data set"
        if self.args.datasets_path is not None:         # the folder, then what it holds: two labels kept apart
            data = f"data set {self.dataset}" + (" (generated data, NOT CIFAR-10)" if self.generated else "")
        model = (f"a WRN-{QUICK_DEPTH}-{QUICK_WIDTH} trained here for {QUICK_EPOCHS} epochs"
                 if self.args.model_path is None else f"checkpoint {self.model}")
        return f"{data}; {model}"


def accuracy_json(bs: int, int8: bool = False) -> str:
    """The accuracy result of one batch size (the guide's ``result_bs1.json``)."""
    return f"result_{'int8_' if int8 else ''}bs{bs}.json"


def run_step(step: Step, number: int, total: int, workdir: Path) -> None:
    """Run one step in a process group of its own, so that stopping the demo stops everything it started."""
    print(f"\n==> [{number}/{total}] {step.name}\n+ {step.command_line()}", flush=True)
    started = time.perf_counter()
    returncode = run_in_group(step.argv, workdir, child_env())
    if returncode:
        raise GenetError(f"step '{step.name}' failed (exit {returncode}); its messages are above. "
                         f"Command, run in {workdir}: {step.command_line()}")
    print(f"    {step.name}: done in {time.perf_counter() - started:.1f} s", flush=True)


def build_parser() -> Parser:
    parser = Parser(
        prog=os.environ.get("GENET_PROG") or "python3 -m genet.demo",
        description="The whole GENet offline-inference pipeline in one command: data set, checkpoint, "
                    "preprocess.py, get_info.py, pthtar2onnx.py, (on an Ascend host) test/onnx2om.sh, then per "
                    "batch size test/infer_bin.sh and cifar10_acc_eval.py, and a table of accuracy and "
                    "throughput. Without --datasets_path it generates a CIFAR-10-format data set (NOT "
                    "CIFAR-10) and, without --model_path, trains a small GENet on it in seconds.",
        epilog="examples: python3 -m genet.demo  |  bash test/eval_acc_perf.sh --datasets_path=/data "
               "--model_path=genet.pth.tar --bs \"1 4 16\"")
    parser.add_argument("--datasets_path", "--datasets-path", type=Path, default=None,
                        help="the folder holding cifar-10-batches-py/ (or the folder itself, or the .tar.gz); "
                             "default: generate one into WORKDIR/dataset")
    parser.add_argument("--model_path", "--model-path", type=Path, default=None,
                        help="GENet checkpoint (.pth.tar); default: train a small one into WORKDIR/genet.pth.tar "
                             "on the data set's training batches")
    parser.add_argument("--backend", choices=BACKENDS, default="auto",
                        help="auto (default): the Ascend tools where present, else ONNX Runtime on the CPU; "
                             "npu: the Ascend tools or fail; onnxruntime; torch (the checkpoint, on CUDA when "
                             "there is a GPU); see test/infer_bin.sh --help")
    parser.add_argument("--bs", default=DEFAULT_BATCH_SIZES,
                        help="batch sizes, space- or comma-separated (default: \"%(default)s\")")
    parser.add_argument("--device_id", "--device-id", type=non_negative_int, default=0, metavar="N",
                        help="NPU or GPU number (default: 0)")
    parser.add_argument("--sweep", default=DEFAULT_SWEEP, metavar="BS,BS,...",
                        help="batch sizes of the pure-inference sweep, one benchmark.py process per model "
                             "(default: %(default)s, the guide's section 7; \"\" for none)")
    parser.add_argument("--no-int8", action="store_true",
                        help="on ONNX Runtime, skip the int8 model (quantize.py) and its rows")
    parser.add_argument("--soc", choices=SOCS, default="Ascend310",
                        help="Ascend chip to convert for, on an Ascend host (default: %(default)s)")
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR,
                        help="folder the pipeline runs in and writes to (default: %(default)s); files of the "
                             "names it writes must be absent or its own from an earlier run")
    generated = parser.add_argument_group("generated data and quick training (without --datasets_path / "
                                          "--model_path)")
    generated.add_argument("--train-images", type=positive_int, default=QUICK_TRAIN_IMAGES, metavar="N",
                           help="training images to generate and train on (default: %(default)s)")
    generated.add_argument("--test-images", type=positive_int, default=GENERATED_TEST_IMAGES, metavar="N",
                           help="test images to generate (default: %(default)s)")
    generated.add_argument("--seed", type=int, default=0, help="random seed of the data and the training (default: 0)")
    parser.add_argument("--dry-run", action="store_true", help="print the commands without running them")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.datasets_path is not None and not args.datasets_path.exists():
        raise GenetError(f"{args.datasets_path}: no such file or folder (--datasets_path)")
    if args.model_path is not None and not args.model_path.is_file():
        raise GenetError(f"{args.model_path}: no such file (--model_path)")
    missing = check_requirements()
    if missing:
        raise GenetError(missing)
    pipeline = Pipeline(args, repository_root())
    if pipeline.generated:
        print(GENERATED_NOTE)
    pipeline.run()
    return 0


def run() -> None:
    # Messages and --help name the command the user typed (test/eval_acc_perf.sh sets GENET_PROG).
    if "GENET_PROG" in os.environ:
        sys.argv[0] = os.environ["GENET_PROG"]
    raise SystemExit(run_cli(main))


if __name__ == "__main__":
    run()
