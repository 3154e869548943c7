"""The quick trainer (train.py, genet.model.train): learns generated data, writes the reference's checkpoint."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genet.cli.preprocess import main as preprocess_main
from genet.cli.train import main as train_main
from genet.core.errors import GenetError
from genet.data.cifar import load_split
from genet.data.synthetic import write_cifar10
from genet.model.checkpoint import load_model
from genet.model.network import build_model
from genet.model.train import TrainSettings, to_model_input, train_checkpoint, train_model
from genet.model.variant import Variant
from tests.conftest import TINY, run_script

CHANCE = 10.0


@pytest.fixture(autouse=True)
def one_thread():
    """As train.py does by default: small models train several times faster on one thread here."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    folder = tmp_path_factory.mktemp("generated")
    write_cifar10(folder, train=500, test=200, seed=1)
    return folder


def test_trains_far_above_chance_and_writes_reference_checkpoint(dataset, tmp_path):
    output = tmp_path / "genet.pth.tar"
    result = train_checkpoint(dataset, output, TINY, TrainSettings(epochs=3, limit=500), test_accuracy=True,
                              quiet=True, log=lambda message: None)
    assert result.images == 500
    assert len(result.train_errors) == 3 and result.train_errors[-1] < result.train_errors[0]
    assert result.test_accuracy > 4 * CHANCE

    payload = torch.load(output, weights_only=True)
    assert set(payload) == {"epoch", "state_dict", "error_history"}
    assert payload["epoch"] == 3
    assert payload["error_history"] == pytest.approx(result.train_errors)
    model, variant = load_model(output, log=None)
    assert variant == TINY
    assert not model.training


def test_same_seed_same_weights(dataset):
    data = load_split(dataset, "train", log=lambda message: None)
    data = type(data)(data.data[:64], data.labels[:64])
    states = []
    for _ in range(2):
        torch.manual_seed(0)
        model = build_model(TINY)
        train_model(model, data, TrainSettings(epochs=1, batch_size=32, seed=5), quiet=True)
        states.append(model.state_dict())
    for key in states[0]:
        assert torch.equal(states[0][key], states[1][key]), key


def test_model_input_is_what_preprocess_writes(dataset, tmp_path):
    """The trainer sees exactly the tensors the pipeline feeds the exported model."""
    preprocess_main([str(dataset), str(tmp_path / "prep"), "--limit", "5", "--quiet"])
    rows = load_split(dataset, "test", log=lambda message: None).data[:5]
    expected = to_model_input(rows).numpy()
    for index in range(5):
        written = np.fromfile(tmp_path / "prep" / f"{index:05d}.bin", np.float32).reshape(3, 32, 32)
        assert np.array_equal(written, expected[index])


def test_cli_trains_and_reports(dataset, tmp_path, capsys):
    output = tmp_path / "quick.pth.tar"
    assert train_main([str(dataset), "--output", str(output), "--epochs", "1", "--limit", "64", "--quiet",
                       "--width", "1", "--threads", "1"]) == 0
    printed = capsys.readouterr().out
    assert "training top-1 error per epoch" in printed and f"wrote {output}" in printed
    assert load_model(output, log=None)[1] == Variant(depth=10, width=1)


@pytest.mark.parametrize("settings", [dict(epochs=0), dict(batch_size=0), dict(lr=0.0), dict(limit=-3),
                                      dict(device="tpu"), dict(precision="int8")])
def test_bad_settings(settings):
    with pytest.raises(GenetError):
        TrainSettings(**settings)


@pytest.mark.parametrize("argv, message", [
    (["{missing}"], "no such file or folder"),
    (["{data}", "--threads", "-1"], "--threads"),
    (["{data}", "--depth", "11"], "not a GE-WideResNet depth"),
    (["{data}", "--epochs", "0"], "--epochs"),
    (["{data}", "--device", "tpu"], "invalid choice"),
    (["{data}", "--precision", "fp8"], "invalid choice"),
    (["{data}", "--device", "cpu", "--precision", "bf16"], "bf16 trains on a CUDA GPU only"),
    (["{data}", "--device", "cpu", "--channels-last"], "--channels-last trains on a CUDA GPU only"),
])
def test_cli_bad_input(argv, message, dataset, tmp_path):
    argv = [a.format(missing=tmp_path / "nowhere", data=dataset) for a in argv]
    with pytest.raises(GenetError, match=message):
        train_main(argv + ["--output", str(tmp_path / "x.pth.tar"), "--quiet"])
    assert not (tmp_path / "x.pth.tar").exists()


def test_script_reports_bad_input_in_one_line(tmp_path):
    done = run_script("train.py", str(tmp_path / "nowhere"), "--output", str(tmp_path / "x.pth.tar"))
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("train.py: error:") and "nowhere" in lines[0]


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_asked_for_without_a_gpu(dataset, tmp_path):
    with pytest.raises(GenetError, match="sees no CUDA device"):
        train_main([str(dataset), "--device", "cuda", "--output", str(tmp_path / "x.pth.tar"), "--quiet"])
    assert not (tmp_path / "x.pth.tar").exists()


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_training_steps(dataset, precision):
    """The GPU recipe's code path (autocast, fp16 loss scaling, channels-last), run on the CPU's autocast."""
    data = load_split(dataset, "train", log=lambda message: None)
    data = type(data)(data.data[:64], data.labels[:64])
    torch.manual_seed(0)
    model = build_model(TINY).to(memory_format=torch.channels_last)
    errors = train_model(model, data, TrainSettings(epochs=2, batch_size=32, precision=precision,
                                                     channels_last=True), quiet=True)
    assert len(errors) == 2 and all(0.0 <= e <= 100.0 for e in errors)
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert model.conv1.weight.dtype == torch.float32          # autocast: the weights stay fp32
