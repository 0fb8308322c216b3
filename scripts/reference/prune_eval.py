#!/usr/bin/env python3
"""Accuracy and parity check of pruned variants written by `sentei prune` (ONNX Runtime + pycocotools).

For each model: detections on a YOLO-format set with the shared reference pipeline (scripts/reference/
vision_reference.py: same letterbox, YOLOX decode, class-aware NMS), conf 0.01 and NMS 0.65 by default, scored with
pycocotools as scripts/reference/vision_cocoeval.py does, on all images and on the calibration split (first
--calib-count in sorted order) and the held-out rest. With --sentei, also runs the model through our engine
(`sentei run`) on one letterboxed image and reports the max |difference| to ONNX Runtime's output.

Prints one JSON object per model.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vision_cocoeval  # noqa: E402
import vision_reference  # noqa: E402


def evaluate(model, manifest, data, threshold, nms, calib_count, sentei):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    session = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
    tj = vision_reference.TurboJPEG()
    paths = vision_reference.list_images([os.path.join(data, "images")])
    labels = manifest["labels"]
    images, anns = vision_cocoeval.yolo_dataset(data)
    result = {"model": os.path.basename(model)}
    with tempfile.TemporaryDirectory() as tmp:
        dets_path = os.path.join(tmp, "dets.jsonl")
        with open(dets_path, "w") as f:
            for path in paths:
                f.write(json.dumps(vision_reference.detect(session, manifest, tj, path, threshold, nms, 300)) + "\n")
        ids = sorted(im["id"] for im in images)
        splits = {"all": set(ids), "calib": set(ids[:calib_count]), "heldout": set(ids[calib_count:])}
        for split, keep in splits.items():
            if not keep:
                continue
            sub_images = [im for im in images if im["id"] in keep]
            sub_anns = [dict(a) for a in anns if a["image_id"] in keep]
            r = vision_cocoeval.evaluate(sub_images, sub_anns, dets_path, labels, only_person=False)
            result[split] = {"map50_95": round(100 * r["map50_95"], 2), "map50": round(100 * r["map50"], 2)}
        if sentei:
            _, _, sh, sw = manifest["input"]["shape"]
            order = vision_reference.TJPF_BGR if manifest["input"]["colourOrder"] == "BGR" else vision_reference.TJPF_RGB
            img = tj.decode(open(paths[0], "rb").read(), order)
            scale = np.float32(manifest["input"]["valueRange"][1]) / np.float32(255)
            tensor, _ = vision_reference.letterbox(img, sw, sh, manifest["letterbox"]["placement"],
                                                   manifest["letterbox"]["padValue"], scale)
            x = tensor[None].astype(np.float32)
            np.save(os.path.join(tmp, "x.npy"), x)
            subprocess.run([sentei, "run", "--model", model, "--input", os.path.join(tmp, "x.npy"),
                            "--output", os.path.join(tmp, "y.npy"), "--threads", "1"], check=True)
            ours = np.load(os.path.join(tmp, "y.npy"))
            ref = session.run(None, {manifest["input"]["name"]: x})[0]
            result["engine_vs_ort_max_abs"] = float(np.abs(ours - ref).max())
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--manifest", default="Models/yolox_nano.json")
    ap.add_argument("--data", default=os.path.join(os.environ.get("SENTEI_SHARED", "../shared"), "data", "coco128"))
    ap.add_argument("--threshold", type=float, default=0.01)
    ap.add_argument("--nms", type=float, default=0.65)
    ap.add_argument("--calib-count", type=int, default=64)
    ap.add_argument("--sentei", help="path to the sentei binary, to compare our engine with ONNX Runtime")
    ap.add_argument("models", nargs="+", help=".onnx files")
    args = ap.parse_args()
    manifest = json.load(open(args.manifest))
    for model in args.models:
        print(json.dumps(evaluate(model, manifest, args.data, args.threshold, args.nms, args.calib_count, args.sentei)),
              flush=True)


if __name__ == "__main__":
    main()
