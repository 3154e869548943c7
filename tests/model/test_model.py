"""The GE-WideResNet: reference keys and shapes, parameter counts, and the reference's function."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from genet.core.errors import GenetError
from genet.model.network import build_model, count_parameters
from genet.model.variant import Variant, detect_variant
from tests.conftest import randomize_batchnorm


def variant_of(constructor: dict) -> Variant:
    return Variant(depth=constructor["depth"], width=constructor["widen_factor"], extent=constructor["extent"],
                   extra_params=constructor["extra_params"], mlp=constructor["mlp"])


def test_seven_reference_variants_match_key_by_key_and_shape_by_shape(reference_state_dicts):
    assert len(reference_state_dicts) == 7
    for name, entry in reference_state_dicts.items():
        model = build_model(variant_of(entry["constructor"]))
        ours = {k: list(v.shape) for k, v in model.state_dict().items()}
        assert list(ours) == list(entry["state_dict"]), f"{name}: key order or names differ"
        assert ours == entry["state_dict"], name
        assert count_parameters(model) == entry["num_parameters"], name


def test_reference_state_dict_loads_strictly(reference_state_dicts):
    entry = reference_state_dicts["wrn16-8_theta_extent8"]
    state = {k: torch.zeros(shape) for k, shape in entry["state_dict"].items()}
    result = build_model(variant_of(entry["constructor"])).load_state_dict(state, strict=True)
    assert not result.missing_keys and not result.unexpected_keys


def test_seed_model_is_wrn_16_8_theta_minus_global():
    model = build_model()
    assert count_parameters(model) == 10_961_370
    assert model.variant == Variant(depth=16, width=8, num_classes=10, extent=0, extra_params=False, mlp=False)


def test_variant_is_detected_from_keys(reference_state_dicts):
    for name, entry in reference_state_dicts.items():
        state = {k: torch.empty(shape) for k, shape in entry["state_dict"].items()}
        expected = variant_of(entry["constructor"])
        if not expected.extra_params:      # θ⁻ has no weights that tell its extent
            expected = Variant(**{**expected.__dict__, "extent": 0})
        assert detect_variant(state) == expected, name


@pytest.mark.parametrize("variant", [Variant(depth=22, width=3, num_classes=100), Variant(depth=10, width=2, extent=2,
                                     extra_params=True, num_classes=7)])
def test_detection_reads_depth_width_and_classes(variant):
    assert detect_variant(build_model(variant).state_dict()) == variant


@pytest.mark.parametrize("bad", [dict(depth=12), dict(depth=4), dict(width=0), dict(extent=3), dict(num_classes=0)])
def test_invalid_variants_are_refused(bad):
    with pytest.raises(GenetError):
        Variant(**bad)


def _bn(x, state, prefix):
    return F.batch_norm(x, state[prefix + "running_mean"], state[prefix + "running_var"],
                        state[prefix + "weight"], state[prefix + "bias"], False, 0.0, 1e-5)


def _reference_gather(out, state, prefix, variant, spatial):
    """The reference's gather, written out with functional ops (independent of genet.model.network)."""
    channels = out.shape[1]
    if not variant.extra_params:
        g = F.adaptive_avg_pool2d(out, 1 if variant.extent == 0 else spatial // variant.extent)
    elif variant.extent == 0:
        g = _bn(F.conv2d(out, state[prefix + "downop.dwconv.weight"], groups=channels), state, prefix + "downop.bn.")
    else:
        steps = {2: 1, 4: 2, 8: 3}[variant.extent]
        names = ["downop."] if steps == 1 else [f"downop.{i}." for i in range(steps)]
        g = out
        for i, name in enumerate(names):
            g = F.conv2d(g, state[prefix + name + "dwconv.weight"], stride=2, padding=1, groups=channels)
            g = _bn(g, state, prefix + name + "bn.")
            if i < steps - 1:
                g = F.relu(g)
    if variant.mlp:
        g = F.conv2d(F.relu(F.conv2d(g, state[prefix + "mlp.0.weight"])), state[prefix + "mlp.2.weight"])
    return torch.sigmoid(F.interpolate(g, out.shape[-1]))      # the reference: nearest resize to the map's size


def reference_forward(state, variant, x):
    out = F.conv2d(x, state["conv1.weight"], padding=1)
    for stage, spatial in ((1, 32), (2, 16), (3, 8)):
        for i in range(variant.blocks_per_stage):
            p = f"block{stage}.layer.{i}."
            stride = 2 if (stage > 1 and i == 0) else 1
            act = F.relu(_bn(out, state, p + "bn1."))
            h = F.conv2d(act, state[p + "conv1.weight"], stride=stride, padding=1)
            h = F.conv2d(F.relu(_bn(h, state, p + "bn2.")), state[p + "conv2.weight"], padding=1)
            h = h * _reference_gather(h, state, p, variant, spatial)
            shortcut = state.get(p + "convShortcut.weight")
            short = F.conv2d(act, shortcut, stride=stride) if shortcut is not None else out
            out = short + h
    out = F.relu(_bn(out, state, "bn1."))
    return F.linear(F.avg_pool2d(out, 8).flatten(1), state["fc.weight"], state["fc.bias"])


@pytest.mark.parametrize("extent,extra_params,mlp", [(0, False, False), (4, False, True), (8, False, False),
                                                     (0, True, False), (0, True, True), (2, True, False),
                                                     (4, True, False), (8, True, True)])
def test_forward_equals_the_reference_function(extent, extra_params, mlp):
    variant = Variant(depth=10, width=2, extent=extent, extra_params=extra_params, mlp=mlp)
    torch.manual_seed(1)
    model = build_model(variant).eval()
    randomize_batchnorm(model, 1)
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        expected = reference_forward(model.state_dict(), variant, x)
        got = model(x)
    assert got.shape == (3, 10)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
