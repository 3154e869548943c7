"""benchmark.py --profile on the guide's WRN-16-8 (randomly initialised: the time per layer does not depend on
the weights), as a user runs it, then test/parse.py profile joining the two backends' tables."""

from __future__ import annotations

import json

import pytest
import torch

from genet.model.checkpoint import save_checkpoint
from genet.model.network import build_model
from genet.model.variant import SEED_VARIANT
from tests.conftest import randomize_batchnorm, run_script

pytestmark = pytest.mark.slow
BATCH = 4


@pytest.fixture(scope="module")
def wrn16_8(tmp_path_factory):
    folder = tmp_path_factory.mktemp("wrn16_8")
    torch.manual_seed(0)
    model = build_model(SEED_VARIANT)
    randomize_batchnorm(model, 0)
    save_checkpoint(folder / "genet.pth.tar", model.state_dict(), epoch=0)
    result = run_script("pthtar2onnx.py", "genet.pth.tar", cwd=folder)
    assert result.returncode == 0, result.stderr
    return folder


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_wrn16_8_profile_convolutions_take_most_of_the_time(wrn16_8, backend):
    if backend == "openvino":
        pytest.importorskip("openvino", reason="the openvino package is not installed")
    out = f"result_{backend}"
    result = run_script("benchmark.py", "-om_path=genet_gpu.onnx", "-round=3", f"-batch_size={BATCH}", "--profile",
                        "--quiet", "--backend", backend, "--output-dir", out, cwd=wrn16_8, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "profile: layer times sum to" in result.stdout and "profiler overhead" in result.stdout
    data = json.loads((wrn16_8 / out / f"profile_batchsize_{BATCH}_device_0.json").read_text())
    stage_convs = sum(row["share"] for row in data["rows"]
                      if row["layers"] and row["layers"][0].split(".")[0] in ("block1", "block2", "block3")
                      and "Conv" in row["ops"])
    assert stage_convs > 0.5           # 99 % of the FLOPs; a mapping that lost them would show far less
    convs = [row for row in data["rows"] if "Conv" in row["ops"]]
    assert len(convs) >= 13            # the stem, 12 block convolutions (some fused into one row) and 3 shortcuts


def test_wrn16_8_two_backends_joined_with_a_layer_comparison(wrn16_8):
    pytest.importorskip("openvino", reason="the openvino package is not installed")
    for backend in ("onnxruntime", "openvino"):
        profile = wrn16_8 / f"result_{backend}" / f"profile_batchsize_{BATCH}_device_0.json"
        if not profile.exists():
            pytest.skip("needs the profiles of the test above")
    compare = wrn16_8 / "compare_layers.json"
    compare.write_text(json.dumps({"layers": [{"name": "block3.layer.1.conv2", "cosine": 0.9999}]}))
    result = run_script("test/parse.py", "profile", f"ort:result_onnxruntime/profile_batchsize_{BATCH}_device_0.json",
                        f"ov:result_openvino/profile_batchsize_{BATCH}_device_0.json", "--compare-layers",
                        str(compare), "--out", "joined", cwd=wrn16_8)
    assert result.returncode == 0, result.stderr
    joined = json.loads((wrn16_8 / "joined.json").read_text())
    row = next(r for r in joined["rows"] if "block3.layer.1.conv2" in r["layers"])
    assert set(row["ms"]) == {"ort", "ov"} and row["metrics"] == {"cosine": 0.9999}
    assert "| block3.layer.1.conv2 |" in result.stdout or "block3.layer.1.conv2" in result.stdout
