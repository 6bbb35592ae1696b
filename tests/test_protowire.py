"""cyclegan.protowire and the contract readers built on it, against the onnx package's own
parser as the independent reference."""

import hashlib
import subprocess
import sys

import onnx
import pytest
from onnx import TensorProto, helper

from cyclegan import contract, protowire
from cyclegan.infer import bundled


def _model(props: dict[str, str], weight: float = 1.0) -> bytes:
    """A one-node model with an initializer (so the graph has bytes worth hashing)."""
    w = helper.make_tensor("w", TensorProto.FLOAT, [3], [weight, 2.0, 3.0])
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "w"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3])], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    helper.set_model_props(model, props)
    return model.SerializeToString()


PROPS = {"format": contract.FORMAT, "domains": '{"A": "été", "B": "冬"}', "empty": "",
         "long": "x" * 300}  # 300 bytes: a two-byte length varint


def test_metadata_matches_onnx_parser():
    data = _model(PROPS)
    want = {p.key: p.value for p in onnx.load_from_string(data).metadata_props}
    assert contract.read_metadata(data) == want == PROPS


def test_metadata_of_real_files_matches_onnx_parser():
    for path in sorted(bundled.ASSETS.glob("*.onnx")):
        want = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
        assert contract.read_metadata(path) == want, path.name


def test_graph_digest_is_the_graphs_deterministic_serialization():
    data = _model(PROPS)
    graph = onnx.load_from_string(data).graph.SerializeToString(deterministic=True)
    assert contract.graph_digest(data) == "sha256:" + hashlib.sha256(graph).hexdigest()
    # Metadata is not part of the graph; a weight is.
    assert contract.graph_digest(_model({"other": "meta"})) == contract.graph_digest(data)
    assert contract.graph_digest(_model(PROPS, weight=1.5)) != contract.graph_digest(data)


def test_set_metadata_then_read_back():
    data = contract.set_metadata(_model(PROPS), {"format": "new", "added": "1"})
    assert contract.read_metadata(data) == PROPS | {"format": "new", "added": "1"}


@pytest.mark.parametrize("cut", [1, 7, 100])
def test_truncated_files_raise_a_wire_error(cut):
    data = _model(PROPS)
    with pytest.raises(protowire.WireError):
        contract.read_metadata(data[:-cut])


def test_varint_and_fixed_fields():
    # field 1 varint 300, field 2 fixed64, field 3 fixed32, field 4 "hi"
    data = bytes([0x08, 0xAC, 0x02, 0x11, *range(8), 0x1D, *range(4), 0x22, 2]) + b"hi"
    got = [(n, v if isinstance(v, int) else bytes(v)) for n, v in protowire.fields(data)]
    assert got == [(1, 300), (2, bytes(range(8))), (3, bytes(range(4))), (4, b"hi")]
    with pytest.raises(protowire.WireError, match="wire type 3"):
        list(protowire.fields(bytes([0x0B])))


def test_infer_on_an_onnx_file_does_not_import_onnx(tmp_path):
    # The onnx package costs 0.6-0.7 s to import, more than a 12 MP photo's translation;
    # the variant check beside the model must not pull it in.
    from PIL import Image

    Image.new("RGB", (40, 32), (90, 140, 60)).save(tmp_path / "a.png")
    code = ("import sys; from cyclegan.cli.infer import main; "
            f"rc = main([{str(tmp_path / 'a.png')!r}, {str(tmp_path / 'out')!r}, '--quiet']); "
            "print(rc, 'onnx' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out[-2:] == ["0", "False"], out
