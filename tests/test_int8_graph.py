"""int8_graph: the pre-quantization rewrites compute what they replace, and the pad move is exact.

References are independent of the rewrite code: torch's conv_transpose2d / conv2d in float64
for the weight algebra, the untouched ONNX graph in onnxruntime for whole generators.
"""

import numpy as np
import onnx
import pytest
import torch
import torch.nn.functional as F
from onnx import TensorProto, helper, numpy_helper

from cyclegan.export import int8_graph
from cyclegan.export.to_onnx import trace_to_onnx
from cyclegan.infer.runtime import OrtGenerator
from cyclegan.models import ModelConfig

from conftest import tiny_generator


def _space_to_depth(x: torch.Tensor, b: int) -> torch.Tensor:
    """ONNX SpaceToDepth (DCR): channel (si*b + sj)*C + c holds x[c, b*u + si, b*v + sj]."""
    n, c, h, w = x.shape
    x = x.reshape(n, c, h // b, b, w // b, b).permute(0, 3, 5, 1, 2, 4)
    return x.reshape(n, b * b * c, h // b, w // b)


@pytest.mark.parametrize("k,s,p,op", [(3, 2, 1, 1), (4, 2, 1, 0), (5, 2, 2, 1), (3, 3, 0, 0),
                                      (6, 3, 2, 1)])
def test_subpixel_conv_equals_conv_transpose(k, s, p, op):
    torch.manual_seed(0)
    x = torch.randn(2, 5, 7, 6, dtype=torch.float64)
    w = torch.randn(5, 4, k, k, dtype=torch.float64)
    want = F.conv_transpose2d(x, w, stride=s, padding=p, output_padding=op)
    w2, before, after = int8_graph.subpixel_weights(w.numpy(), s, p)
    y = F.conv2d(F.pad(x, (before, after, before, after)), torch.from_numpy(w2))
    got = F.pixel_shuffle(y, s)  # = DepthToSpace CRD
    assert got.shape == want.shape == (2, 4, 7 * s, 6 * s)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("k", [3, 5, 7])
def test_space_to_depth_conv_equals_conv(k):
    torch.manual_seed(1)
    x = torch.randn(1, 6, 10 + k - 1, 14 + k - 1, dtype=torch.float64)  # even output size
    w = torch.randn(3, 6, k, k, dtype=torch.float64)
    want = F.conv2d(x, w)
    w2 = int8_graph.space_to_depth_weights(w.numpy(), 2)
    got = F.pixel_shuffle(F.conv2d(_space_to_depth(x, 2), torch.from_numpy(w2)), 2)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


def _generator(upsample: str) -> bytes:
    return trace_to_onnx(tiny_generator(ModelConfig(ngf=8, n_blocks=2, upsample=upsample)))


@pytest.mark.parametrize("upsample,expected,shuffles", [
    ("deconv", ["conv_transpose x2", "head"], 3), ("resize", ["head"], 1)])
def test_rewritten_generator_computes_the_same(upsample, expected, shuffles):
    data = _generator(upsample)
    proto = onnx.load_from_string(data)
    assert int8_graph.rewrite(proto, 4) == expected
    onnx.checker.check_model(proto)
    ops = [n.op_type for n in proto.graph.node]
    assert "ConvTranspose" not in ops and ops.count("DepthToSpace") == shuffles
    used = {i for n in proto.graph.node for i in n.input}
    assert all(t.name in used for t in proto.graph.initializer)  # replaced weights dropped
    x = np.random.default_rng(0).uniform(-1, 1, (2, 3, 36, 20)).astype(np.float32)
    want = OrtGenerator(data, "cpu")(x)
    got = OrtGenerator(proto.SerializeToString(), "cpu")(x)
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_head_left_alone_when_its_input_may_be_odd_or_it_is_wide():
    proto = onnx.load_from_string(_generator("resize"))
    assert int8_graph.rewrite(proto, 1) == []  # a size multiple of 1 allows odd inputs
    assert "SpaceToDepth" not in {n.op_type for n in proto.graph.node}
    wide = tiny_generator(ModelConfig(ngf=8, n_blocks=1, out_channels=8))
    proto = onnx.load_from_string(trace_to_onnx(wide))
    assert int8_graph.rewrite(proto, 4) == ["conv_transpose x2"]


def _pad_quantize_model(second_reader: bool) -> onnx.ModelProto:
    """x -> Pad(reflect) -> QuantizeLinear -> DequantizeLinear -> y (and -> Neg -> z)."""
    inits = [numpy_helper.from_array(np.array([0, 0, 2, 1, 0, 0, 1, 2], np.int64), "pads"),
             numpy_helper.from_array(np.array(0.02, np.float32), "scale"),
             numpy_helper.from_array(np.array(128, np.uint8), "zp")]
    nodes = [helper.make_node("Pad", ["x", "pads"], ["p"], mode="reflect", name="pad"),
             helper.make_node("QuantizeLinear", ["p", "scale", "zp"], ["q"], name="q"),
             helper.make_node("DequantizeLinear", ["q", "scale", "zp"], ["y"], name="dq")]
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 8, 9])]
    if second_reader:
        nodes.append(helper.make_node("Neg", ["p"], ["z"], name="neg"))
        outputs.append(helper.make_tensor_value_info("z", TensorProto.FLOAT, [1, 2, 8, 9]))
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(
        "x", TensorProto.FLOAT, [1, 2, 5, 6])], outputs, inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def _run(proto, x):
    import onnxruntime as ort

    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {"x": x})


def test_pad_moves_behind_its_quantize_exactly():
    x = np.random.default_rng(0).uniform(-3, 3, (1, 2, 5, 6)).astype(np.float32)
    proto = _pad_quantize_model(second_reader=False)
    want = _run(proto, x)
    assert int8_graph.pad_after_quantize(proto) == 1
    onnx.checker.check_model(proto)
    assert [n.op_type for n in proto.graph.node] == ["QuantizeLinear", "Pad",
                                                     "DequantizeLinear"]
    got = _run(proto, x)
    np.testing.assert_array_equal(got[0], want[0])


def test_pad_with_another_reader_stays():
    proto = _pad_quantize_model(second_reader=True)
    assert int8_graph.pad_after_quantize(proto) == 0
    assert [n.op_type for n in proto.graph.node][:2] == ["Pad", "QuantizeLinear"]
