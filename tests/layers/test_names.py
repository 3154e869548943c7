"""The one layer-name map: ONNX node names of the export → PyTorch module paths."""

import onnx
import pytest

from genet.convert.export import export_onnx
from genet.layers.names import layer_of_node, model_module_names, module_names_of_nodes
from genet.model.network import build_model
from genet.model.variant import Variant


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    model = build_model(Variant(depth=10, width=1, extent=2, extra_params=True, mlp=True)).eval()
    path = tmp_path_factory.mktemp("names") / "m.onnx"
    export_onnx(model, path)
    return model, onnx.load(str(path)).graph


@pytest.mark.parametrize("node, layer", [
    ("/conv1/Conv", "conv1"),
    ("/block1/layer/layer.0/conv1/Conv", "block1.layer.0.conv1"),
    ("/block1/layer/layer.0/Relu_1", "block1.layer.0/Relu_1"),
    ("/block2/layer/layer.0/Add", "block2.layer.0/Add"),
    ("/block1/layer/layer.0/downop/dwconv/Conv", "block1.layer.0.downop.dwconv"),
    ("/Relu", "Relu"),
    ("/fc/Gemm", "fc"),
    ("Identity_3", None),
])
def test_node_names_map_to_module_paths(exported, node, layer):
    model, _ = exported
    assert layer_of_node(node, model_module_names(model)) == layer


def test_every_exported_node_names_a_module_of_the_model(exported):
    model, graph = exported
    modules = model_module_names(model)
    from_graph = module_names_of_nodes(n.name for n in graph.node)
    for node in graph.node:
        layer = layer_of_node(node.name, modules)
        if node.op_type in ("Identity", "Constant"):
            continue
        module = layer.split("/")[0]
        top_level_op = "/" not in layer and "." not in layer and layer not in modules
        assert module in modules or top_level_op, node.name
        assert layer == layer_of_node(node.name, from_graph)
