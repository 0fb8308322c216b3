#!/usr/bin/env python3
"""Engine parity against ONNX Runtime: runs each shared model through `sentei run` and through ORT on the same
input and checks max |ours - ORT| <= 1e-3 * max |ORT| on every output. Exit 0 only when every model passes.

YOLOX-Nano gets a real letterboxed image from the shared data (BGR 0-255, pad 114, top-left); the YOLOv8n graphs
(random weights) get a real image resized to their input, RGB 0-1. Their final outputs hardly depend on the convs
(the signal shrinks ~20x per stage, so the head's last convs give their biases and the outputs the anchor grid), so
each YOLOv8n graph is also run with every stage's output as the graph's outputs (each C2f block's cv2, each strided
conv, the head's 3x3 conv pairs): tiny but far from denormal, and judged by the same relative rule, so a conv error
shows wherever it happens.
Usage: engine_parity.py SENTEI_BINARY SHARED_DIR [--threads N]
"""
import argparse, json, os, re, subprocess, sys, tempfile
import numpy as np
import onnx
import onnxruntime as ort
from PIL import Image


def letterbox(path, size, top_left, bgr, scale01):
    img = Image.open(path).convert("RGB")
    r = min(size / img.width, size / img.height)
    w, h = int(round(img.width * r)), int(round(img.height * r))
    canvas = np.full((size, size, 3), 114, dtype=np.float32)
    resized = np.asarray(img.resize((w, h), Image.BILINEAR), dtype=np.float32)
    y0, x0 = (0, 0) if top_left else ((size - h) // 2, (size - w) // 2)
    canvas[y0:y0 + h, x0:x0 + w] = resized
    if bgr:
        canvas = canvas[:, :, ::-1]
    if scale01:
        canvas = canvas / 255.0
    return np.ascontiguousarray(canvas.transpose(2, 0, 1)[None]).astype(np.float32)


STAGE_OUTPUT = re.compile(r"^/model\.\d+/(cv2/act/Mul|conv/Conv)$|^/model\.22/cv[23]\.\d/cv[23]\.\d\.1/act/Mul$")


def with_stage_outputs(model_path, out_path):
    """The graph with every stage's output tensor (see STAGE_OUTPUT) as its outputs."""
    m = onnx.load(model_path)
    stages = [n for n in m.graph.node if STAGE_OUTPUT.match(n.name)]
    if len(stages) < 10:
        raise SystemExit(f"engine parity: only {len(stages)} nodes match {STAGE_OUTPUT.pattern} in {model_path}")
    del m.graph.output[:]
    for n in stages:
        m.graph.output.append(onnx.helper.make_tensor_value_info(n.output[0], onnx.TensorProto.FLOAT, None))
    onnx.save(m, out_path)
    return out_path


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("sentei")
    ap.add_argument("shared")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    image = os.path.join(args.shared, "data/coco128/images/train2017/000000000009.jpg")
    cases = [
        ("yolox_nano.onnx", letterbox(image, 416, True, True, False)),
        ("yolov8n_640.onnx", letterbox(image, 640, False, False, True)),
        ("yolov8n_320.onnx", letterbox(image, 320, False, False, True)),
    ]
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        cases += [(name + ":stages", x) for name, x in cases if name.startswith("yolov8n")]
        for name, x in cases:
            model = os.path.join(args.shared, "models", name.split(":")[0])
            if name.endswith(":stages"):
                model = with_stage_outputs(model, os.path.join(tmp, name.replace(":", "-")))
            inp, out = os.path.join(tmp, "in.npy"), os.path.join(tmp, "out.npy")
            np.save(inp, x)
            subprocess.run([args.sentei, "run", "--model", model, "--input", inp, "--output", out,
                            "--threads", str(args.threads)], check=True)
            sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
            refs = sess.run(None, {sess.get_inputs()[0].name: x})
            for i, ref in enumerate(refs):
                path = out if i == 0 else out[:-4] + f".{i}.npy"
                ours = np.load(path)
                ok_shape = ours.shape == ref.shape
                err = float(np.max(np.abs(ours - ref))) if ok_shape else float("inf")
                scale = float(np.max(np.abs(ref)))
                ok = ok_shape and err <= 1e-3 * scale
                failures += 0 if ok else 1
                print(json.dumps({"model": name, "output": i, "name": sess.get_outputs()[i].name, "shape": list(ref.shape), "max_abs_err": err,
                                  "max_abs_ref": scale, "rel": err / scale if scale else err, "pass": ok}))
    print(f"engine parity: {len(cases) - min(failures, len(cases))} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
