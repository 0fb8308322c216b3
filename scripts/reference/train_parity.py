#!/usr/bin/env python3
"""Training-mode gradients of the Swift engine against PyTorch autograd on small graphs.

For each graph below: build it as ONNX (onnx.helper, numpy weights), run `sentei gradients` (forward, then backward of
L = sum(r * output) for a fixed random r), compute the same graph in PyTorch from the same numpy arrays, and compare
the output, the input gradient and every conv weight/bias gradient. The graphs go through the engine's importer and
fusion passes, so fused conv epilogues (bias, SiLU, sigmoid, residual add) are what is checked.

Tolerance: max |swift - torch| <= 1e-5 * max(1, max |torch|) per tensor (fp32 both sides; differences are
summation order only).

Needs torch==2.13.0+cpu (pip install torch==2.13.0+cpu), numpy, onnx.
Usage: scripts/reference/train_parity.py [path/to/sentei]
"""
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import TensorProto, helper, numpy_helper

TOLERANCE = 1e-5
rng = np.random.default_rng(0)


def weights(shape, scale=None):
    fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
    scale = scale if scale is not None else 1 / np.sqrt(fan_in)
    return (rng.uniform(-1, 1, size=shape) * scale).astype(np.float32)


class Builder:
    """Collects ONNX nodes and initialisers, and the same arrays for the torch side."""

    def __init__(self):
        self.nodes, self.inits, self.params = [], [], {}

    def const(self, name, array):
        self.inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def conv(self, name, x, cin, cout, k, stride=1, pad=0, group=1):
        w = weights((cout, cin // group, k, k))
        b = weights((cout,), 0.1)
        self.params[name] = (w, b, dict(stride=stride, padding=pad, groups=group))
        self.const(name + "_w", w)
        self.const(name + "_b", b)
        self.nodes.append(helper.make_node("Conv", [x, name + "_w", name + "_b"], [name], name=name, kernel_shape=[k, k],
                                           strides=[stride, stride], pads=[pad] * 4, group=group))
        return name

    def op(self, kind, inputs, name, **attrs):
        self.nodes.append(helper.make_node(kind, inputs, [name], name=name, **attrs))
        return name

    def silu(self, x):
        s = self.op("Sigmoid", [x], x + "_sig")
        return self.op("Mul", [x, s], x + "_silu")

    def model(self, input_shape, output):
        graph = helper.make_graph(self.nodes, "parity", [helper.make_tensor_value_info("x", TensorProto.FLOAT, input_shape)],
                                  [helper.make_tensor_value_info(output, TensorProto.FLOAT, None)], self.inits)
        return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def tconv(p, name, x):
    w, b, kw = p[name]
    return F.conv2d(x, p[name + ".w"], p[name + ".b"], **kw)


def backbone():
    """Dense 3x3 + SiLU, depthwise 3x3/s2 + SiLU, 1x1 with fused residual, SPPF-style max pool + concat, nearest 2x
    up-sampling, slice, strided dense 3x3/s2 with sigmoid."""
    b = Builder()
    a = b.silu(b.conv("c1", "x", 3, 8, 3, pad=1))
    d = b.silu(b.conv("dw", a, 8, 8, 3, stride=2, pad=1, group=8))
    p = b.silu(b.conv("pw", d, 8, 8, 1))
    r = b.op("Add", [p, d], "res")
    m = b.op("MaxPool", [r], "pool", kernel_shape=[5, 5], pads=[2, 2, 2, 2], strides=[1, 1])
    c = b.op("Concat", [r, m], "cat", axis=1)
    scales = b.const("scales", np.array([1, 1, 2, 2], np.float32))
    u = b.op("Resize", [c, "", scales], "up", mode="nearest")
    s = b.op("Slice", [u, b.const("st", np.array([2], np.int64)), b.const("en", np.array([14], np.int64)),
                       b.const("ax", np.array([1], np.int64))], "slice")
    o = b.op("Sigmoid", [b.conv("c2", s, 12, 6, 3, stride=2, pad=1)], "out")

    def torch_fn(x, p):
        a = F.silu(tconv(p, "c1", x))
        d = F.silu(tconv(p, "dw", a))
        r = F.silu(tconv(p, "pw", d)) + d
        m = F.max_pool2d(r, 5, 1, 2)
        u = F.interpolate(torch.cat([r, m], 1), scale_factor=2, mode="nearest")
        return torch.sigmoid(tconv(p, "c2", u[:, 2:14]))

    return b, [1, 3, 12, 12], o, torch_fn


def head():
    """A YOLOX-style head: shared stem, box / objectness (sigmoid) / class (sigmoid) 1x1 convs, concat, reshape,
    transpose; with Sub/Div by constants on the box branch."""
    b = Builder()
    stem = b.silu(b.conv("stem", "x", 4, 8, 1))
    f = b.silu(b.conv("dwh", stem, 8, 8, 3, pad=1, group=8))
    box = b.op("Div", [b.op("Sub", [b.conv("box", f, 8, 4, 1), b.const("c0", np.float32(0.5))], "boxs"), b.const("c1", np.float32(2))], "boxd")
    obj = b.op("Sigmoid", [b.conv("obj", f, 8, 1, 1)], "objs")
    cls = b.op("Sigmoid", [b.conv("cls", stem, 8, 3, 1)], "clss")
    cat = b.op("Concat", [box, obj, cls], "cat", axis=1)
    flat = b.op("Reshape", [cat, b.const("shape", np.array([1, 8, -1], np.int64))], "flat")
    out = b.op("Transpose", [flat], "out", perm=[0, 2, 1])

    def torch_fn(x, p):
        stem = F.silu(tconv(p, "stem", x))
        f = F.silu(tconv(p, "dwh", stem))
        box = (tconv(p, "box", f) - 0.5) / 2
        cat = torch.cat([box, torch.sigmoid(tconv(p, "obj", f)), torch.sigmoid(tconv(p, "cls", stem))], 1)
        return cat.reshape(1, 8, -1).permute(0, 2, 1)

    return b, [1, 4, 6, 7], out, torch_fn


def write_npy(path, array):
    np.save(path, np.ascontiguousarray(array, dtype=np.float32))


def check(name, make, sentei):
    builder, shape, output, torch_fn = make()
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        onnx.save(builder.model(shape, output), os.path.join(tmp, "m.onnx"))
        x = rng.uniform(-1, 1, size=shape).astype(np.float32)
        tx = torch.tensor(x, requires_grad=True)
        params = {}
        for key, (w, b, _) in builder.params.items():
            params[key + ".w"] = torch.tensor(w, requires_grad=True)
            params[key + ".b"] = torch.tensor(b, requires_grad=True)
        params.update(builder.params)
        y = torch_fn(tx, params)
        r = rng.uniform(-1, 1, size=tuple(y.shape)).astype(np.float32)
        (y * torch.tensor(r)).sum().backward()
        write_npy(os.path.join(tmp, "x.npy"), x)
        write_npy(os.path.join(tmp, "r.npy"), r)
        out = os.path.join(tmp, "out")
        subprocess.run([sentei, "gradients", "--model", os.path.join(tmp, "m.onnx"), "--input", os.path.join(tmp, "x.npy"),
                        "--output-gradient", os.path.join(tmp, "r.npy"), "--out", out], check=True, capture_output=True)
        pairs = [("output", np.load(os.path.join(out, "output.npy")), y.detach().numpy()),
                 ("input gradient", np.load(os.path.join(out, "input_grad.npy")), tx.grad.numpy())]
        for key in builder.params:
            for role, suffix in (("weight", ".w"), ("bias", ".b")):
                path = os.path.join(out, f"{key}.{role}.npy")
                if not os.path.exists(path):
                    failures.append(f"{key}.{role}: no gradient written")
                    continue
                pairs.append((f"{key}.{role}", np.load(path).reshape(params[key + suffix].shape), params[key + suffix].grad.numpy()))
        for label, ours, theirs in pairs:
            error = float(np.max(np.abs(ours - theirs))) if ours.shape == theirs.shape else float("inf")
            limit = TOLERANCE * max(1.0, float(np.max(np.abs(theirs))))
            status = "ok" if error <= limit else "FAIL"
            print(f"  {name:9s} {label:16s} max|diff| {error:.2e} (limit {limit:.1e}) {status}")
            if error > limit:
                failures.append(f"{name} {label}: {error:.3e} > {limit:.3e}")
    return failures


def main():
    sentei = sys.argv[1] if len(sys.argv) > 1 else ".build/release/sentei"
    print(f"torch {torch.__version__}, tolerance {TOLERANCE} x max(1, max|torch|) per tensor")
    failures = check("backbone", backbone, sentei) + check("head", head, sentei)
    if failures:
        print("FAILED:\n  " + "\n  ".join(failures))
        sys.exit(1)
    print("training gradients match PyTorch")


if __name__ == "__main__":
    main()
