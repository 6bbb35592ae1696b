"""Exact rewrites of an fp32 generator graph before it is quantized, for onnxruntime's CPU kernels.

Profiling the int8 graph (docs/inference.md, "Where the int8 time goes") found two float
nodes among the slowest: the 7x7 head convolution with 3 output channels, which onnxruntime
computes as if it had 16 (its blocked layout), and the stride-2 ConvTranspose upsamplers,
which have no int8 kernel. Both are rewritten into equivalent graphs (the same function up to
float rounding) before calibration:

- head: SpaceToDepth(2) -> Conv(4x4, 4*out channels) -> DepthToSpace(2). Four output
  pixels per position fill the blocked layout; 2.4x faster than the 7x7 conv here. It stays
  float like the convolution it replaces.
- ConvTranspose with stride s and an output exactly s times its input: Conv(over the input,
  s*s*out channels, one phase of the output each) -> DepthToSpace(s), the sub-pixel form.
  A plain Conv is quantized like the others (about 1.8x the multiply-adds of the
  ConvTranspose, which skips the zeros it would insert, but at int8 speed).

And one after quantization: a reflect Pad whose only reader is a QuantizeLinear is moved
behind it (Quantize then Pad the uint8 tensor: the same values, a quarter of the bytes). The
float pads were 7-9% of the bundled summer2winter's int8 time, a third of that after.

Torch-free: works on onnx protos and numpy arrays.
"""

from __future__ import annotations

import numpy as np

HEAD_BLOCK = 2  # SpaceToDepth block size for the head rewrite
HEAD_MAX_OUT = 4  # heads with at most this many output channels waste the blocked layout
# Ops through which the head's output may reach the graph output (then the head's output
# size is the image size, which is a multiple of the model's size_multiple).
ELEMENTWISE = ("Tanh", "Sigmoid", "Identity")


def _attrs(node) -> dict:
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _plain_2d(attrs: dict) -> bool:
    """No groups, no dilation, no auto_pad: the only form the rewrites below handle."""
    return (attrs.get("group", 1) == 1 and set(attrs.get("dilations", [1, 1])) == {1}
            and attrs.get("auto_pad", b"NOTSET") in (b"NOTSET", "NOTSET"))


def subpixel_weights(w: np.ndarray, stride: int, pad: int) -> tuple[np.ndarray, int, int]:
    """ConvTranspose weights (in, out, k, k) -> (Conv weights (out*s*s, in, K, K), pad before,
    pad after) such that DepthToSpace(s, CRD) of Conv(x) equals ConvTranspose(x), when
    k + output_padding - 2*pad == s.

    Output row i = s*i' + d receives input row u through tap a when s*u - pad + a = i, so
    u = i' + m with m = (d + pad - a) / s; K spans every m of every phase d."""
    c_in, c_out, k, _ = w.shape
    ms = [(d + pad - a) // stride for d in range(stride) for a in range(k)
          if (d + pad - a) % stride == 0]
    m_min, m_max = min(ms), max(ms)
    taps = m_max - m_min + 1
    out = np.zeros((c_out, stride, stride, c_in, taps, taps), w.dtype)
    for dy in range(stride):
        for ty in range(taps):
            ay = dy + pad - stride * (ty + m_min)
            if not 0 <= ay < k:
                continue
            for dx in range(stride):
                for tx in range(taps):
                    ax = dx + pad - stride * (tx + m_min)
                    if 0 <= ax < k:
                        out[:, dy, dx, :, ty, tx] = w[:, :, ay, ax].T
    return out.reshape(c_out * stride * stride, c_in, taps, taps), -m_min, m_max


def space_to_depth_weights(w: np.ndarray, block: int) -> np.ndarray:
    """Conv weights (out, in, k, k), k odd -> weights (out*b*b, in*b*b, K, K) such that
    DepthToSpace(b, CRD)(Conv(SpaceToDepth(b)(x))) equals Conv(x) for x of even size.

    Output pixel (b*i' + di) reads input row b*i' + di + a = b*(i' + ka) + si, so
    a = b*ka + si - di; SpaceToDepth puts input phase (si, sj) of channel c at channel
    (si*b + sj)*in + c."""
    c_out, c_in, k, _ = w.shape
    taps = (k + block - 2) // block + 1
    out = np.zeros((c_out, block, block, block, block, c_in, taps, taps), w.dtype)
    for di in range(block):
        for si in range(block):
            for ky in range(taps):
                a = block * ky + si - di
                if not 0 <= a < k:
                    continue
                for dj in range(block):
                    for sj in range(block):
                        for kx in range(taps):
                            b = block * kx + sj - dj
                            if 0 <= b < k:
                                out[:, di, dj, si, sj, :, ky, kx] = w[:, :, a, b]
    return out.reshape(c_out * block * block, block * block * c_in, taps, taps)


class _Graph:
    """The few graph edits the rewrites need: initializers by name, consumers, replacing a
    node by a chain of new ones at the same place."""

    def __init__(self, proto):
        self.proto = proto
        self.graph = proto.graph
        self.inits = {t.name: t for t in self.graph.initializer}

    def array(self, name: str) -> np.ndarray | None:
        from onnx import numpy_helper

        t = self.inits.get(name)
        return None if t is None else numpy_helper.to_array(t)

    def add_array(self, name: str, value: np.ndarray) -> str:
        from onnx import numpy_helper

        self.graph.initializer.append(numpy_helper.from_array(value, name))
        return name

    def drop_unused(self) -> None:
        used = {name for n in self.graph.node for name in n.input}
        keep = [t for t in self.graph.initializer if t.name in used]
        del self.graph.initializer[:]
        self.graph.initializer.extend(keep)

    def consumers(self, tensor: str) -> list:
        return [n for n in self.graph.node if tensor in n.input]

    def replace(self, node, new_nodes: list) -> None:
        # By output name: protobuf hands out new wrapper objects, and every node's output
        # names are unique in a valid graph.
        nodes = list(self.graph.node)
        i = next(j for j, n in enumerate(nodes) if n.output[0] == node.output[0])
        del self.graph.node[:]
        self.graph.node.extend(nodes[:i] + new_nodes + nodes[i + 1:])


def _rewrite_conv_transpose(g: _Graph, node) -> bool:
    from onnx import helper

    a = _attrs(node)
    w = g.array(node.input[1])
    if w is None or w.ndim != 4 or not _plain_2d(a) or "output_shape" in a:
        return False
    k = w.shape[2]
    strides, pads = a.get("strides", [1, 1]), a.get("pads", [0, 0, 0, 0])
    out_pad = a.get("output_padding", [0, 0])
    s, p = strides[0], pads[0]
    if (w.shape[3] != k or s < 2 or set(strides) != {s} or set(pads) != {p}
            or set(out_pad) != {out_pad[0]} or k + out_pad[0] - 2 * p != s):
        return False
    w2, before, after = subpixel_weights(w, s, p)
    if before < 0 or after < 0:
        return False
    name = node.name or node.output[0]
    bias = _repeated_bias(g, node, f"{name}/subpixel.bias", s * s)
    if bias is None:
        return False
    inputs = [node.input[0], g.add_array(f"{name}/subpixel.weight", w2), *bias]
    phases = f"{name}/subpixel_output"
    g.replace(node, [
        helper.make_node("Conv", inputs, [phases], name=f"{name}/subpixel",
                         kernel_shape=list(w2.shape[2:]), pads=[before, before, after, after]),
        helper.make_node("DepthToSpace", [phases], list(node.output), name=f"{name}/shuffle",
                         blocksize=s, mode="CRD"),
    ])
    return True


def _repeated_bias(g: _Graph, node, name: str, times: int) -> list[str] | None:
    """The rewritten convolution's bias input: each of `node`'s biases repeated `times`
    (one per output phase) as a new initializer `name`; [] when it has none, None when its
    bias is not a constant (the rewrite then does not apply)."""
    if len(node.input) < 3 or not node.input[2]:
        return []
    bias = g.array(node.input[2])
    return None if bias is None else [g.add_array(name, np.repeat(bias, times))]


def _reaches_output(g: _Graph, tensor: str) -> bool:
    outputs = {o.name for o in g.graph.output}
    while tensor not in outputs:
        users = g.consumers(tensor)
        if len(users) != 1 or users[0].op_type not in ELEMENTWISE:
            return False
        tensor = users[0].output[0]
    return True


def _rewrite_head(g: _Graph, node, size_multiple: int) -> bool:
    from onnx import helper

    a = _attrs(node)
    w = g.array(node.input[1])
    b = HEAD_BLOCK
    if (w is None or w.ndim != 4 or not _plain_2d(a) or size_multiple % b
            or w.shape[0] > HEAD_MAX_OUT or w.shape[2] != w.shape[3] or w.shape[2] % 2 == 0
            or set(a.get("strides", [1, 1])) != {1} or any(a.get("pads", [0, 0, 0, 0]))
            or not _reaches_output(g, node.output[0])):
        return False
    # The head's output is the image (a multiple of size_multiple, so even) and its input
    # is k - 1 larger (no padding, k odd): even too, which SpaceToDepth needs.
    w2 = space_to_depth_weights(w, b)
    name = node.name or node.output[0]
    bias = _repeated_bias(g, node, f"{name}/s2d.bias", b * b)
    if bias is None:
        return False
    inputs = [f"{name}/space_to_depth_output", g.add_array(f"{name}/s2d.weight", w2), *bias]
    phases = f"{name}/s2d_output"
    g.replace(node, [
        helper.make_node("SpaceToDepth", [node.input[0]], [inputs[0]],
                         name=f"{name}/space_to_depth", blocksize=b),
        # The name stays: it is the float node the quantizer excludes and the record names.
        helper.make_node("Conv", inputs, [phases], name=node.name,
                         kernel_shape=list(w2.shape[2:])),
        helper.make_node("DepthToSpace", [phases], list(node.output),
                         name=f"{name}/depth_to_space", blocksize=b, mode="CRD"),
    ])
    return True


def rewrite(proto, size_multiple: int) -> list[str]:
    """Rewrite `proto` (an onnx ModelProto, edited in place) for faster int8 inference;
    returns what was rewritten, e.g. ["head", "conv_transpose x2"]. size_multiple: what
    the model's height and width are multiples of (its metadata)."""
    g = _Graph(proto)
    done = []
    n = sum(_rewrite_conv_transpose(g, node) for node in
            [x for x in g.graph.node if x.op_type == "ConvTranspose"])
    if n:
        done.append(f"conv_transpose x{n}")
    convs = [x for x in g.graph.node if x.op_type == "Conv"]
    if convs and _rewrite_head(g, convs[-1], size_multiple):
        done.append("head")
    g.drop_unused()
    return done


def pad_after_quantize(proto) -> int:
    """Quantize-then-pad instead of pad-then-quantize wherever a reflect or edge Pad feeds
    only a QuantizeLinear (elementwise quantization commutes with copying values outward);
    edits `proto` in place and returns how many pads moved."""
    g = _Graph(proto)
    outputs = {o.name for o in g.graph.output}
    producer = {out: n for n in g.graph.node for out in n.output}
    moved = 0
    for q in [n for n in g.graph.node if n.op_type == "QuantizeLinear"]:
        pad = producer.get(q.input[0])
        if (pad is None or pad.op_type != "Pad"
                or _attrs(pad).get("mode", b"constant") not in (b"reflect", b"edge")
                or len(g.consumers(pad.output[0])) != 1 or pad.output[0] in outputs):
            continue
        nodes = list(g.graph.node)
        i = next(j for j, n in enumerate(nodes) if n.output[0] == pad.output[0])
        j = next(j for j, n in enumerate(nodes) if n.output[0] == q.output[0])
        new_q, new_pad = type(q)(), type(pad)()
        new_q.CopyFrom(q)
        new_pad.CopyFrom(pad)
        unpadded = q.output[0] + "/unpadded"
        new_q.input[0], new_q.output[0] = pad.input[0], unpadded
        new_pad.input[0], new_pad.output[0] = unpadded, q.output[0]
        # The quantize takes the pad's place (its inputs exist there) and the pad follows at
        # once, before anything that reads the quantized tensor.
        rest = nodes[:i] + nodes[i + 1:j] + nodes[j + 1:]
        del g.graph.node[:]
        g.graph.node.extend(rest[:i] + [new_q, new_pad] + rest[i:])
        producer = {out: n for n in g.graph.node for out in n.output}
        moved += 1
    return moved
