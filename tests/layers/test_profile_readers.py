"""The vendors' profiler files, in each tool's documented shape (written here), read into one per-layer table."""

from __future__ import annotations

import json
import math

import pytest
from onnx import helper

from genet.cli.parse import main as parse_main
from genet.core.errors import GenetError, run_cli
from genet.layers.profile import build_profile
from genet.layers.profile_join import join_profiles, read_compare_layers
from genet.layers.profile_report import from_json, to_json
from genet.layers.vendor_profiles import (
    detect,
    read_msprof,
    read_openvino,
    read_ort,
    read_trtexec,
    trt_name_parts,
)
from genet.runners.onnxrt_profile import ort_kernel_times
from genet.runners.profiling import NPU_NAMES
from tests.runner_helpers import chain_model

BATCH = 2


def rows_by_label(profile) -> dict[str, float]:
    return {row.label: row.ms for row in profile.rows}


def ort_trace(kernels: list[tuple[str, str, float]], runs: int = 2) -> list[dict]:
    """A Chrome trace as onnxruntime writes it: one model_run per run, its Node events inside (µs)."""
    events, ts = [], 0.0
    for _ in range(runs):
        start = ts
        for name, op, dur in kernels:
            events.append({"cat": "Node", "pid": 1, "tid": 7, "dur": dur, "ts": ts + 1, "ph": "X",
                           "name": f"{name}_kernel_time", "args": {"op_name": op, "provider": "CPUExecutionProvider"}})
            ts += dur + 2
        events.append({"cat": "Session", "pid": 1, "tid": 7, "dur": ts - start + 1, "ts": start, "ph": "X",
                       "name": "model_run", "args": {}})
        ts += 10
    return [{"cat": "Session", "pid": 1, "tid": 7, "dur": 50, "ts": 0, "ph": "X", "name": "session_initialization",
             "args": {}}] + events


NCHWC_KERNELS = [("/conv1/Conv_output_0_nchwc", "Conv", 100.0),
                 ("/bn/BatchNormalization_output_0_bn_nchwc", "Conv", 20.0),
                 ("/Relu_1_output_0_nchwc", "Conv", 200.0),
                 ("ReorderOutput_token_5", "ReorderOutput", 10.0),
                 ("/GlobalAveragePool", "GlobalAveragePool", 5.0),
                 ("/Flatten", "Flatten", 1.0),
                 ("/fc/Gemm", "Gemm", 4.0)]


def optimized_model():
    """The optimised graph's reorder node, as ONNX Runtime saves it: it writes the Relu_1 tensor back in NCHW."""
    node = helper.make_node("ReorderOutput", ["reorder_token_3"], ["/Relu_1_output_0"], "ReorderOutput_token_5",
                            domain="com.microsoft.nchwc")
    graph = helper.make_graph([node], "optimized", [], [])
    return helper.make_model(graph)


def test_ort_nchwc_names_map_fused_groups_to_all_their_layers():
    times = ort_kernel_times(ort_trace(NCHWC_KERNELS), chain_model(), optimized_model())
    profile = build_profile(times, BATCH)
    rows = rows_by_label(profile)
    # µs summed over 2 runs → ms per run
    assert rows["conv1"] == pytest.approx(0.100)
    assert rows["bn + Relu"] == pytest.approx(0.020)               # a Relu fused into the converted BN
    assert rows["conv2 + Relu_1"] == pytest.approx(0.210)          # Conv named after the Relu's tensor, + its reorder
    assert rows["fc"] == pytest.approx(0.004)
    assert profile.calls == 2 and not profile.unseen
    assert profile.total_ms == pytest.approx(0.340)


def test_ort_fused_conv_keeps_the_first_node_s_name_and_takes_the_relu():
    kernels = [("/conv1/Conv", "Conv", 10.0), ("/bn/BatchNormalization", "BatchNormalization", 1.0),
               ("/Relu", "Relu", 1.0), ("/conv2/Conv", "FusedConv", 30.0), ("/GlobalAveragePool", "GlobalAveragePool",
                                                                             1.0),
               ("/Flatten", "Flatten", 1.0), ("/fc/Gemm", "Gemm", 1.0)]
    rows = rows_by_label(build_profile(ort_kernel_times(ort_trace(kernels, runs=1), chain_model()), BATCH))
    assert rows["conv2 + Relu_1"] == pytest.approx(0.030)
    assert "Relu" in rows and "conv1" in rows


def test_ort_rewritten_int8_nodes_keep_their_node_s_name_before_a_token():
    kernels = [("/conv1/Conv_token_5", "QLinearConv", 10.0), ("Transpose_token_4", "Transpose", 1.0)]
    profile = build_profile(ort_kernel_times(ort_trace(kernels, runs=1), chain_model()), BATCH)
    assert rows_by_label(profile) == {"conv1": pytest.approx(0.010), "Transpose_token_4": pytest.approx(0.001)}


def test_ort_runs_before_the_recorded_ones_are_left_out():
    times = ort_kernel_times(ort_trace(NCHWC_KERNELS, runs=3), chain_model(), optimized_model(), skip_runs=1)
    assert times.calls == 2
    assert sum(k.seconds for k in times.kernels) == pytest.approx(2 * sum(d for _, _, d in NCHWC_KERNELS) / 1e6)


def test_ort_without_the_optimised_graph_shows_the_reorder_unmapped(tmp_path):
    trace = tmp_path / "ort_profile.json"
    trace.write_text(json.dumps(ort_trace(NCHWC_KERNELS)))
    assert detect(trace) == "onnxruntime"
    profile = build_profile(read_ort(trace, chain_model()), BATCH)
    unmapped = [row for row in profile.rows if not row.mapped]
    assert [row.label for row in unmapped] == ["ReorderOutput_token_5"]
    assert any("no optimised graph" in note for note in profile.notes)


OV_PYTHON_CSV = """layerName;execStatus;layerType;execType;realTime (ms);cpuTime (ms)
image_abcd_acdb_/conv1/Conv;Status.EXECUTED;Reorder;jit_uni_f32;0.010;0.010
/conv1/Conv;Status.EXECUTED;Convolution;brgconv_avx512_f32;0.500;0.500
/Relu;Status.NOT_RUN;Relu;undef;0.000;0.000
/conv2/Conv;Status.EXECUTED;Convolution;brgconv_avx512_f32;1.000;1.000
class;Status.EXECUTED;FullyConnected;gemm_mlas_f32;0.100;0.100
Total;;;;1.610;1.610

"""
OV_CPP_CSV = """layerName;execStatus;layerType;execType;realTime (ms);cpuTime (ms);
/conv1/Conv;EXECUTED;Convolution;brgconv_avx2_f32;0.700000;0.700000;
/conv2/Conv;EXECUTED;Convolution;brgconv_avx2_f32;1.200000;1.200000;
class;EXECUTED;FullyConnected;gemm_mlas_f32;0.100000;0.100000;
Total;;;;2;2;

"""
EXEC_GRAPH = """<?xml version="1.0"?>
<net name="exec" version="11"><layers>
<layer id="0" name="/conv1/Conv" type="Convolution">
 <data execOrder="1" originalLayersNames="/conv1/Conv,/bn/BatchNormalization,/Relu" /></layer>
<layer id="1" name="/conv2/Conv" type="Convolution">
 <data execOrder="2" originalLayersNames="/conv2/Conv,/Relu_1" /></layer>
<layer id="2" name="class" type="FullyConnected"><data execOrder="3" originalLayersNames="class" /></layer>
</layers></net>
"""


def test_openvino_detailed_counters_average_the_requests_and_use_the_exec_graph(tmp_path):
    report = tmp_path / "benchmark_detailed_counters_report.csv"
    report.write_text(OV_PYTHON_CSV + OV_CPP_CSV)
    exec_graph = tmp_path / "exec.xml"
    exec_graph.write_text(EXEC_GRAPH)
    assert detect(report) == "openvino"
    profile = build_profile(read_openvino(report, chain_model(), exec_graph), BATCH)
    rows = rows_by_label(profile)
    assert profile.calls == 2
    assert rows["conv1 + bn + Relu"] == pytest.approx((0.5 + 0.7) / 2)
    assert rows["conv2 + Relu_1"] == pytest.approx((1.0 + 1.2) / 2)
    assert rows["fc"] == pytest.approx(0.1)                 # "class" is the output tensor of /fc/Gemm
    assert [row.label for row in profile.rows if not row.mapped] == ["image_abcd_acdb_/conv1/Conv"]


def test_openvino_without_the_exec_graph_maps_each_node_by_its_own_name(tmp_path):
    report = tmp_path / "counters.csv"
    report.write_text(OV_PYTHON_CSV)
    rows = rows_by_label(build_profile(read_openvino(report, chain_model()), BATCH))
    assert rows["conv1"] == pytest.approx(0.5) and rows["conv2"] == pytest.approx(1.0)


TRT_PROFILE = [{"count": 10},
               {"name": "/conv1/Conv + /bn/BatchNormalization + /Relu", "timeMs": 5.0, "averageMs": 0.5,
                "medianMs": 0.5, "percentage": 25.0},
               {"name": "Reformatting CopyNode for Input Tensor 0 to /conv2/Conv", "timeMs": 1.0, "averageMs": 0.1,
                "medianMs": 0.1, "percentage": 5.0},
               {"name": "/conv2/Conv + /Relu_1", "timeMs": 12.0, "averageMs": 1.2, "medianMs": 1.2,
                "percentage": 60.0},
               {"name": "PWN(/GlobalAveragePool, /Flatten)", "timeMs": 1.0, "averageMs": 0.1, "medianMs": 0.1,
                "percentage": 5.0},
               {"name": "/fc/Gemm", "timeMs": 1.0, "averageMs": 0.1, "medianMs": 0.1, "percentage": 5.0}]


def test_trtexec_profile_names_split_into_their_nodes(tmp_path):
    path = tmp_path / "profile.json"
    path.write_text(json.dumps(TRT_PROFILE))
    assert detect(path) == "trtexec"
    profile = build_profile(read_trtexec(path, chain_model()), BATCH)
    rows = rows_by_label(profile)
    assert rows["conv1 + bn + Relu"] == pytest.approx(0.5)              # timeMs over count
    assert rows["conv2 + Relu_1"] == pytest.approx(1.2)
    assert rows["GlobalAveragePool + Flatten"] == pytest.approx(0.1)
    assert [row.label for row in profile.rows if not row.mapped] == [TRT_PROFILE[2]["name"]]
    assert trt_name_parts("PWN(PWN(/a), /b)") == ("/a", "/b")


def test_trtexec_layer_info_metadata_names_the_nodes(tmp_path):
    profile_path, info_path = tmp_path / "profile.json", tmp_path / "layers.json"
    profile_path.write_text(json.dumps([{"count": 4}, {"name": "fused_0", "timeMs": 8.0, "averageMs": 2.0,
                                                        "percentage": 100.0}]))
    info_path.write_text(json.dumps({"Layers": [{"Name": "fused_0", "LayerType": "CaskConvolution",
                                                 "Metadata": "[ONNX Layer: /conv2/Conv]\x1e[ONNX Layer: /Relu_1]"}],
                                     "Bindings": ["image", "class"]}))
    profile = build_profile(read_trtexec(profile_path, chain_model(), info_path), BATCH)
    assert rows_by_label(profile) == {"conv2 + Relu_1": pytest.approx(2.0)}
    assert profile.rows[0].kernels[0].op == "CaskConvolution"


MSPROF_HEADER = ("Device_id,Model Name,Model ID,Task ID,Stream ID,Infer ID,Op Name,OP Type,Task Type,"
                 "Task Start Time(us),Task Duration(us),Task Wait Time(us),Block Dim,Input Shapes,Input Data Types,"
                 "Input Formats,Output Shapes,Output Data Types,Output Formats,aicore_time(us),aic_total_cycles")


def msprof_csv() -> str:
    rows = [MSPROF_HEADER]
    for infer in (1, 2):
        rows.append(f'0,genet,1,{infer}0,2,{infer},conv1conv1_relu,Conv2D,AI_CORE,{infer}000,300.0,1.0,2,'
                    f'"2,3,8,8",FLOAT16,NCHW,"2,4,8,8",FLOAT16,NC1HWC0,290.0,1000')
        rows.append(f'0,genet,1,{infer}1,2,{infer},/fc/Gemm,MatMulV2,AI_CORE,{infer}400,50.0,1.0,1,'
                    f'"2,4",FLOAT16,ND,"2,10",FLOAT16,ND,45.0,200')
    return "\n".join(rows) + "\n"


ATC_JSON = {"name": "genet", "graph": [{"name": "ge_default", "op": [
    {"name": "image", "type": "Data", "attr": []},
    {"name": "conv1conv1_relu", "type": "Conv2D", "attr": [
        {"key": "_datadump_original_op_names",
         "value": {"list": {"val_type": 1, "s": ["/conv1/Conv", "/bn/BatchNormalization", "/Relu"]}}}]},
    {"name": "/fc/Gemm", "type": "MatMulV2", "attr": []}]}]}


def test_msprof_op_summary_with_the_atc_json(tmp_path):
    summary, atc = tmp_path / "op_summary_0_1.csv", tmp_path / "genet_bs2.json"
    summary.write_text(msprof_csv())
    atc.write_text(json.dumps(ATC_JSON))
    assert detect(summary) == "msprof"
    profile = build_profile(read_msprof(summary, chain_model(), atc), BATCH)
    assert profile.calls == 2                                  # two Infer IDs
    assert rows_by_label(profile) == {"conv1 + bn + Relu": pytest.approx(0.3), "fc": pytest.approx(0.05)}


def test_msprof_without_the_atc_json_keeps_the_npu_names_and_says_so(tmp_path):
    summary = tmp_path / "op_summary_0_1.csv"
    summary.write_text(msprof_csv())
    times = read_msprof(summary, None)
    profile = build_profile(times, BATCH)
    assert times.names == NPU_NAMES
    assert {row.label for row in profile.rows} == {"conv1conv1_relu", "/fc/Gemm"}
    assert not any(row.mapped for row in profile.rows)
    assert any("no ATC JSON" in note for note in profile.notes)


def test_a_file_of_an_unknown_shape_is_refused(tmp_path):
    path = tmp_path / "other.json"
    path.write_text(json.dumps({"hello": 1}))
    with pytest.raises(GenetError, match="not a profile genet reads"):
        detect(path)


def test_a_model_the_name_map_cannot_cover_is_refused(tmp_path):
    path = tmp_path / "profile.json"
    path.write_text(json.dumps([{"count": 1}, {"name": "layer_0", "timeMs": 1.0, "averageMs": 1.0,
                                               "percentage": 100.0}]))
    with pytest.raises(GenetError, match="none of its 1 kernels maps to a layer"):
        build_profile(read_trtexec(path, chain_model()), BATCH)


def profile_of(kernels, runs: int = 1):
    return build_profile(ort_kernel_times(ort_trace(kernels, runs), chain_model(), optimized_model()), BATCH)


def test_join_merges_differently_fused_rows_and_adds_the_comparison(tmp_path):
    cpu = profile_of(NCHWC_KERNELS)
    npu = build_profile(read_trtexec(_write(tmp_path / "p.json", TRT_PROFILE), chain_model()), BATCH)
    compare = _write(tmp_path / "compare_layers.json", {"layers": [
        {"name": "Relu", "cosine": 0.9991, "max_abs": 0.01}, {"name": "conv2", "cosine": 0.98},
        {"name": "fc", "cosine": float("nan")}]})
    joined = join_profiles([("cpu", cpu), ("trt", npu)], read_compare_layers(compare))
    rows = {row.label: row for row in joined.rows}
    group = rows["conv1 + bn + Relu"]                       # cpu: conv1 | bn + Relu; trt: one fused layer
    assert group.ms["cpu"] == pytest.approx(0.120) and group.ms["trt"] == pytest.approx(0.5)
    assert group.metric_layer == "Relu" and group.metrics["cosine"] == pytest.approx(0.9991)
    assert rows["conv2 + Relu_1"].metrics["cosine"] == pytest.approx(0.98)
    assert joined.shown_metric == "cosine"


def test_compare_layers_runs_and_nested_metrics_are_read(tmp_path):
    compare = _write(tmp_path / "layers.json", {"runs": [
        {"label": "int8", "layers": [{"layer": "conv2", "status": "compared",
                                      "accumulated": {"cosine_min": 0.97, "sqnr_db": "inf"}}]},
        {"label": "fp16", "layers": [{"layer": "conv2", "accumulated": {"cosine_min": "nan"}}]}]})
    metrics = read_compare_layers(compare)["conv2"]
    assert metrics["cosine_min (accumulated, int8)"] == 0.97
    assert math.isinf(metrics["sqnr_db (accumulated, int8)"])
    assert math.isnan(metrics["cosine_min (accumulated, fp16)"])
    joined = join_profiles([("cpu", profile_of(NCHWC_KERNELS))], read_compare_layers(compare))
    assert joined.shown_metric == "cosine_min (accumulated, int8)"


def test_join_with_a_comparison_of_other_layers_is_refused(tmp_path):
    compare = _write(tmp_path / "c.json", {"layers": [{"name": "block9.conv", "cosine": 1.0}]})
    with pytest.raises(GenetError, match="none of its 1 layers"):
        join_profiles([("cpu", profile_of(NCHWC_KERNELS))], read_compare_layers(compare))


def test_genet_profile_json_reads_back(tmp_path):
    profile = profile_of(NCHWC_KERNELS, runs=2)
    path = _write(tmp_path / "profile.json", json.loads(to_json(profile)))
    assert detect(path) == "genet"
    again = from_json(json.loads(path.read_text()), str(path))
    assert rows_by_label(again) == pytest.approx(rows_by_label(profile))
    assert [k.seconds for r in again.rows for k in r.kernels] == pytest.approx(
        [k.seconds for r in profile.rows for k in r.kernels])


def test_parse_profile_cli_writes_the_table_and_joins(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    model = tmp_path / "chain.onnx"
    model.write_bytes(chain_model(BATCH).SerializeToString())
    summary, atc = _write_text(tmp_path / "op_summary_0_1.csv", msprof_csv()), _write(tmp_path / "atc.json", ATC_JSON)
    trace = _write(tmp_path / "ort.json", ort_trace(NCHWC_KERNELS))
    assert parse_main(["profile", f"npu:{summary}", "--atc-json", str(atc), "--model", str(model),
                       "--out", "one"]) == 0
    assert (tmp_path / "one.md").read_text().startswith("# Per-layer profile")
    assert "conv1 + bn + Relu" in (tmp_path / "one.csv").read_text()
    compare = _write(tmp_path / "cmp.json", {"runs": [{"label": "npu", "layers": [{"layer": "fc", "cosine": 0.5}]}]})
    assert parse_main(["profile", f"cpu:{trace}", f"npu:{summary}", "--atc-json", str(atc), "--model", str(model),
                       "--compare-layers", str(compare), "--out", "both"]) == 0
    joined = json.loads((tmp_path / "both.json").read_text())
    assert joined["labels"] == ["cpu", "npu"]
    fc = next(row for row in joined["rows"] if row["layers"] == ["fc"])
    assert fc["metrics"] == {"cosine (npu)": 0.5} or fc["metrics"] == {"cosine": 0.5}
    assert "| fc |" in capsys.readouterr().out


def test_parse_profile_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    other = _write(tmp_path / "x.json", {"what": "else"})
    assert run_cli(parse_main, ["profile", str(other)]) == 2
    assert "not a profile genet reads" in capsys.readouterr().err
    summary = _write_text(tmp_path / "op_summary.csv", msprof_csv())
    assert run_cli(parse_main, ["profile", str(summary), "--layer-info", str(other)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "without a trtexec source" in err
    assert not list(tmp_path.glob("profile_report*"))


def _write(path, data):
    path.write_text(json.dumps(data))
    return path


def _write_text(path, text):
    path.write_text(text)
    return path
