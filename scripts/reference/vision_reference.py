#!/usr/bin/env python3
"""Reference detection pipeline for SenteiVision: the same pre/post-processing in numpy, ONNX Runtime runs the model.

JPEG decode goes through the same libturbojpeg (ctypes) as the Swift code, so both start from identical pixels.
Letterbox sampling is defined here exactly as in Sources/SenteiVision/Letterbox.swift (see `letterbox`):

  r  = min(Sw / W, Sh / H)                                  (float64)
  topLeft (YOLOX):   rw, rh = floor(W * r), floor(H * r); pad left/top = 0
  center (Ultralytics): rw, rh = round-half-even(W * r), …; left = round(dw - 0.1), top = round(dh - 0.1)
  column dx of the resized image samples sx = (dx + 0.5) * (W / rw) - 0.5, clamped to >= 0; x0 = floor(sx),
  fx = sx - x0; x0 >= W - 1 -> x0 = x1 = W - 1, fx = 0 (the same for rows). Weights are float32.
  value = ((1 - fx) * v0 + fx * v1) of the row blend v = (1 - fy) * row(y0) + fy * row(y1), times valueScale.

Post-processing: YOLOX grid/stride decode (obj and cls are already sigmoided in the export: the graph ends in
Sigmoid -> Concat -> Reshape -> Transpose), or Ultralytics [1, 84, N] boxes; score = obj * max cls (YOLOX) or
max cls (Ultralytics), keep score >= threshold, class-aware greedy NMS (suppress IoU > nms), keep the best
`max_det`, map back by (x - pad) / r, clip to the image.

Output: one JSON line per image, the same format as `sentei detect --json`.
"""
import argparse
import ctypes
import json
import math
import os
import sys

import numpy as np

TJPF_RGB, TJPF_BGR = 0, 1


class TurboJPEG:
    def __init__(self):
        self.lib = ctypes.CDLL("libturbojpeg.so.0")
        self.lib.tjInitDecompress.restype = ctypes.c_void_p
        self.lib.tjGetErrorStr2.restype = ctypes.c_char_p
        self.lib.tjGetErrorStr2.argtypes = [ctypes.c_void_p]
        self.lib.tjDecompressHeader3.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_ulong] + [
            ctypes.POINTER(ctypes.c_int)] * 4
        self.lib.tjDecompress2.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_void_p,
                                           ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int]
        self.handle = self.lib.tjInitDecompress()

    def decode(self, data, pixel_format):
        w, h, ss, cs = (ctypes.c_int() for _ in range(4))
        if self.lib.tjDecompressHeader3(self.handle, data, len(data), ctypes.byref(w), ctypes.byref(h),
                                        ctypes.byref(ss), ctypes.byref(cs)) != 0:
            raise ValueError(self.lib.tjGetErrorStr2(self.handle).decode())
        out = np.empty((h.value, w.value, 3), np.uint8)
        if self.lib.tjDecompress2(self.handle, data, len(data), out.ctypes.data, w.value, 0, h.value,
                                  pixel_format, 0) != 0:
            raise ValueError(self.lib.tjGetErrorStr2(self.handle).decode())
        return out


def axis_taps(src, dst):
    scale = src / dst
    s = (np.arange(dst, dtype=np.float64) + 0.5) * scale - 0.5
    s = np.maximum(s, 0.0)
    i0 = np.floor(s).astype(np.int64)
    f = s - i0
    edge = i0 >= src - 1
    i0[edge] = src - 1
    f[edge] = 0.0
    i1 = np.minimum(i0 + 1, src - 1)
    return i0, i1, f.astype(np.float32)


def letterbox_geometry(w, h, sw, sh, placement):
    r = min(sw / w, sh / h)
    if placement == "topLeft":
        rw, rh, left, top = int(math.floor(w * r)), int(math.floor(h * r)), 0, 0
    else:
        rw, rh = int(round(w * r)), int(round(h * r))
        left, top = int(round((sw - rw) / 2 - 0.1)), int(round((sh - rh) / 2 - 0.1))
    return r, max(rw, 1), max(rh, 1), left, top


def letterbox(img, sw, sh, placement, pad, value_scale):
    """img: HxWx3 uint8 in the model's colour order -> 3xShxSw float32."""
    h, w, _ = img.shape
    r, rw, rh, left, top = letterbox_geometry(w, h, sw, sh, placement)
    y0, y1, fy = axis_taps(h, rh)
    x0, x1, fx = axis_taps(w, rw)
    src = img.astype(np.float32)
    one = np.float32(1)
    rows = (one - fy)[:, None, None] * src[y0] + fy[:, None, None] * src[y1]          # rh x W x 3
    res = (one - fx)[None, :, None] * rows[:, x0] + fx[None, :, None] * rows[:, x1]    # rh x rw x 3
    out = np.full((3, sh, sw), np.float32(pad) * np.float32(value_scale), np.float32)
    out[:, top:top + rh, left:left + rw] = res.transpose(2, 0, 1) * np.float32(value_scale)
    return out, (r, left, top)


def yolox_decode(raw, sw, sh, strides):
    """raw: N x (5 + C). Returns boxes (N x 4 xyxy in input pixels), scores (N), classes (N)."""
    grids, mults = [], []
    for s in strides:
        gh, gw = sh // s, sw // s
        yv, xv = np.meshgrid(np.arange(gh), np.arange(gw), indexing="ij")
        grids.append(np.stack((xv, yv), 2).reshape(-1, 2))
        mults.append(np.full((gh * gw, 1), s))
    grid = np.concatenate(grids).astype(np.float32)
    stride = np.concatenate(mults).astype(np.float32)
    if grid.shape[0] != raw.shape[0]:
        raise ValueError(f"YOLOX head: {raw.shape[0]} anchors but strides {strides} give {grid.shape[0]}")
    xy = (raw[:, :2] + grid) * stride
    wh = np.exp(raw[:, 2:4]) * stride
    boxes = np.concatenate([xy - wh / 2, xy + wh / 2], 1)
    cls = raw[:, 5:]
    classes = cls.argmax(1)
    scores = raw[:, 4] * cls[np.arange(len(cls)), classes]
    return boxes, scores, classes


def ultralytics_decode(raw):
    """raw: (4 + C) x N."""
    t = raw.T
    cxcy, wh = t[:, :2], t[:, 2:4]
    boxes = np.concatenate([cxcy - wh / 2, cxcy + wh / 2], 1)
    cls = t[:, 4:]
    classes = cls.argmax(1)
    return boxes, cls[np.arange(len(cls)), classes], classes


def nms(boxes, scores, classes, iou_threshold):
    """Greedy, class-aware; order by score descending (stable on ties). Returns kept indices in that order."""
    order = np.argsort(-scores, kind="stable")
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    suppressed = np.zeros(len(scores), bool)
    keep = []
    for pos, i in enumerate(order):
        if suppressed[i]:
            continue
        keep.append(i)
        rest = order[pos + 1:]
        rest = rest[(~suppressed[rest]) & (classes[rest] == classes[i])]
        if len(rest) == 0:
            continue
        iw = np.maximum(np.minimum(boxes[i, 2], boxes[rest, 2]) - np.maximum(boxes[i, 0], boxes[rest, 0]), 0)
        ih = np.maximum(np.minimum(boxes[i, 3], boxes[rest, 3]) - np.maximum(boxes[i, 1], boxes[rest, 1]), 0)
        inter = iw * ih
        iou = inter / (area[i] + area[rest] - inter)
        suppressed[rest[iou > iou_threshold]] = True
    return np.array(keep, np.int64)


def detect(session, manifest, tj, path, threshold, nms_threshold, max_det, dump=None):
    inp, out = manifest["input"], manifest["output"]
    _, _, sh, sw = inp["shape"]
    order = TJPF_BGR if inp["colourOrder"] == "BGR" else TJPF_RGB
    img = tj.decode(open(path, "rb").read(), order)
    h, w, _ = img.shape
    value_scale = np.float32(inp["valueRange"][1]) / np.float32(255)
    lb = manifest["letterbox"]
    tensor, (r, left, top) = letterbox(img, sw, sh, lb["placement"], lb["padValue"], value_scale)
    raw = session.run([out["name"]], {inp["name"]: tensor[None]})[0][0]
    if dump:
        # Raw float32 input and output, for the Swift parity test (SENTEI_VISION_ORT_DUMP); not committed.
        stem = os.path.splitext(os.path.basename(path))[0]
        tensor.astype("<f4").tofile(os.path.join(dump, stem + ".input.f32"))
        raw.astype("<f4").tofile(os.path.join(dump, stem + ".output.f32"))
    if manifest["head"]["kind"] == "yolox":
        boxes, scores, classes = yolox_decode(raw, sw, sh, manifest["head"]["strides"])
    else:
        boxes, scores, classes = ultralytics_decode(raw)
    mask = scores >= threshold
    boxes, scores, classes = boxes[mask], scores[mask], classes[mask]
    keep = nms(boxes, scores, classes, nms_threshold)[:max_det]
    labels = manifest["labels"]
    dets = []
    for i in keep:
        b = boxes[i].astype(np.float64)
        x1, x2 = [min(max((v - left) / r, 0.0), w) for v in (b[0], b[2])]
        y1, y2 = [min(max((v - top) / r, 0.0), h) for v in (b[1], b[3])]
        c = int(classes[i])
        dets.append({"label": labels[c], "class": c, "score": float(scores[i]), "box": [x1, y1, x2, y2]})
    return {"image": path, "width": w, "height": h, "detections": dets}


def list_images(paths):
    out = []
    for p in paths:
        if os.path.isdir(p):
            for root, _, files in os.walk(p):
                out += [os.path.join(root, f) for f in files if f.lower().endswith((".jpg", ".jpeg"))]
        else:
            out.append(p)
    return sorted(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--manifest", required=True, help="Models/<name>.json")
    ap.add_argument("--model", help="ONNX file (default: ../shared/models/<manifest file>)")
    ap.add_argument("--threshold", type=float, default=0.25)
    ap.add_argument("--nms", type=float, default=0.45)
    ap.add_argument("--max-det", type=int, default=300)
    ap.add_argument("--out", help="JSON lines output (default stdout)")
    ap.add_argument("--dump", help="directory for raw <stem>.input.f32 / <stem>.output.f32 (parity test input)")
    ap.add_argument("images", nargs="+", help="JPEG files or directories")
    args = ap.parse_args()

    import onnxruntime as ort
    manifest = json.load(open(args.manifest))
    model = args.model or os.path.join(os.environ.get("SENTEI_SHARED", "../shared"), "models", manifest["file"])
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    session = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
    tj = TurboJPEG()
    out = open(args.out, "w") if args.out else sys.stdout
    if args.dump:
        os.makedirs(args.dump, exist_ok=True)
    for path in list_images(args.images):
        try:
            rec = detect(session, manifest, tj, path, args.threshold, args.nms, args.max_det, args.dump)
        except ValueError as e:
            rec = {"image": path, "error": str(e)}
        out.write(json.dumps(rec) + "\n")


if __name__ == "__main__":
    main()
