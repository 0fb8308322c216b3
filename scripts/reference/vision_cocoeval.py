#!/usr/bin/env python3
"""pycocotools COCOeval (bbox) over detections in `sentei detect --json` form, against a YOLO-format dataset
(images/…/*.jpg + labels/…/*.txt) or a MOTChallenge sequence (frames/ + gt.txt, person only).

The ground truth is built the way Sources/SenteiVision/Evaluation does it, so `sentei eval` and this script must
agree to 1e-3: image ids = 1-based position in the sorted image list, gt boxes from normalised cx cy w h times the
JPEG size (read with libturbojpeg), area = w * h, iscrowd 0, categories = class index + 1 for all manifest labels.
MOTChallenge rows are kept when conf != 0 and class is -1 (MOT15) or 1 (pedestrian); boxes are used as written.

Prints {"map50_95", "map50", "images", "per_class": {label: AP@[.5:.95]}} (APs in 0-1).
"""
import argparse
import contextlib
import ctypes
import io
import json
import os

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval


def jpeg_size(path, lib=ctypes.CDLL("libturbojpeg.so.0")):
    lib.tjInitDecompress.restype = ctypes.c_void_p
    lib.tjDecompressHeader3.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_ulong] + [
        ctypes.POINTER(ctypes.c_int)] * 4
    h = lib.tjInitDecompress()
    data = open(path, "rb").read()
    w, ht, a, b = (ctypes.c_int() for _ in range(4))
    ok = lib.tjDecompressHeader3(h, data, len(data), *(ctypes.byref(x) for x in (w, ht, a, b))) == 0
    lib.tjDestroy(ctypes.c_void_p(h))
    return (w.value, ht.value) if ok else None


def yolo_dataset(root):
    images_dir = os.path.join(root, "images")
    paths = sorted(os.path.relpath(os.path.join(r, f), images_dir)
                   for r, _, fs in os.walk(images_dir) for f in fs if f.lower().endswith((".jpg", ".jpeg")))
    images, anns = [], []
    for i, rel in enumerate(paths, 1):
        size = jpeg_size(os.path.join(images_dir, rel))
        if size is None:
            continue
        W, H = size
        stem = os.path.splitext(os.path.basename(rel))[0]
        images.append({"id": i, "file_name": stem, "width": W, "height": H})
        label = os.path.join(root, "labels", os.path.splitext(rel)[0] + ".txt")
        if not os.path.exists(label):
            continue
        for n, line in enumerate(open(label), 1):
            f = line.split()
            if not f:
                continue
            if len(f) != 5:
                raise ValueError(f"{label}:{n}: expected 'class cx cy w h', got {line!r}")
            c, cx, cy, w, h = int(f[0]), *map(float, f[1:])
            box = [(cx - w / 2) * W, (cy - h / 2) * H, w * W, h * H]
            anns.append({"image_id": i, "category_id": c + 1, "bbox": box, "area": box[2] * box[3], "iscrowd": 0})
    return images, anns


def mot_sequence(root):
    frames_dir = os.path.join(root, "frames") if os.path.isdir(os.path.join(root, "frames")) else os.path.join(root, "img1")
    paths = sorted(f for f in os.listdir(frames_dir) if f.lower().endswith((".jpg", ".jpeg")))
    images, by_frame = [], {}
    for i, name in enumerate(paths, 1):
        W, H = jpeg_size(os.path.join(frames_dir, name))
        stem = os.path.splitext(name)[0]
        images.append({"id": i, "file_name": stem, "width": W, "height": H})
        by_frame[int(stem)] = i
    anns = []
    for line in open(os.path.join(root, "gt", "gt.txt") if os.path.isdir(os.path.join(root, "gt")) else os.path.join(root, "gt.txt")):
        f = line.strip().split(",")
        if len(f) < 6:
            continue
        frame, conf = int(float(f[0])), float(f[6]) if len(f) > 6 else 1.0
        cls = int(float(f[7])) if len(f) > 7 else -1
        if conf == 0 or cls not in (-1, 1) or frame not in by_frame:
            continue
        box = [float(v) for v in f[2:6]]
        anns.append({"image_id": by_frame[frame], "category_id": 1, "bbox": box, "area": box[2] * box[3], "iscrowd": 0})
    return images, anns


def evaluate(images, anns, dets_path, labels, only_person):
    stem_to_id = {im["file_name"]: im["id"] for im in images}
    cats = [{"id": 1, "name": labels[0]}] if only_person else [{"id": i + 1, "name": n} for i, n in enumerate(labels)]
    for k, a in enumerate(anns, 1):
        a["id"] = k
    gt = {"images": images, "annotations": anns, "categories": cats}
    results = []
    for line in open(dets_path):
        rec = json.loads(line)
        if "detections" not in rec:
            continue
        image_id = stem_to_id.get(os.path.splitext(os.path.basename(rec["image"]))[0])
        if image_id is None:
            continue
        for d in rec["detections"]:
            if only_person and d["class"] != 0:
                continue
            x1, y1, x2, y2 = d["box"]
            results.append({"image_id": image_id, "category_id": d["class"] + 1, "bbox": [x1, y1, x2 - x1, y2 - y1],
                            "score": d["score"]})
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = gt
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(results) if results else COCO()
        ev = COCOeval(coco_gt, coco_dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    precision = ev.eval["precision"]  # T x R x K x A x M
    per_class = {}
    for k, cat in enumerate(ev.params.catIds):
        p = precision[:, :, k, 0, -1]
        p = p[p > -1]
        if p.size:
            per_class[cats[cat - 1]["name"] if not only_person else labels[0]] = float(p.mean())
    return {"map50_95": float(ev.stats[0]), "map50": float(ev.stats[1]), "images": len(images),
            "per_class": per_class}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dets", required=True, help="JSON lines from sentei detect --json or vision_reference.py")
    ap.add_argument("--manifest", required=True, help="Models/<name>.json (for the labels)")
    group = ap.add_mutually_exclusive_group(required=True)
    group.add_argument("--data", help="YOLO-format dataset root (images/ + labels/)")
    group.add_argument("--mot", help="MOTChallenge sequence root (gt.txt + frames/)")
    args = ap.parse_args()
    labels = json.load(open(args.manifest))["labels"]
    images, anns = yolo_dataset(args.data) if args.data else mot_sequence(args.mot)
    print(json.dumps(evaluate(images, anns, args.dets, labels, only_person=bool(args.mot))))


if __name__ == "__main__":
    main()
