#!/usr/bin/env python3
"""Compare SenteiVision output with the reference.

  detections: --ours A.jsonl --reference B.jsonl   every reference detection needs a same-class partner with
              box IoU >= 0.99 and |score diff| <= 0.01, and every one of ours a reference partner. With
              --threshold T, detections scoring below T + 0.01 may be missing on one side (a score that close to
              the cut can fall either way between two runtimes).
  mAP:        --eval ours_eval.json --pycoco pycoco_eval.json   |map50_95 diff| and |map50 diff| <= 0.001.
Exits non-zero with a list of differences when a check fails.
"""
import argparse
import json
import os
import sys


def iou(a, b):
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def load(path):
    out = {}
    for line in open(path):
        rec = json.loads(line)
        out[os.path.splitext(os.path.basename(rec["image"]))[0]] = rec.get("detections")
    return out


def compare_detections(ours_path, ref_path, threshold=None):
    ours, ref = load(ours_path), load(ref_path)
    problems, matched = [], 0
    borderline = (lambda d: d["score"] < threshold + 0.01) if threshold is not None else (lambda d: False)
    for stem, theirs in sorted(ref.items()):
        mine = ours.get(stem)
        if theirs is None or mine is None:
            if (theirs is None) != (mine is None):
                problems.append(f"{stem}: error on one side only")
            continue
        used = set()
        for t in theirs:
            j = next((j for j, d in enumerate(mine) if j not in used and d["class"] == t["class"]
                      and iou(d["box"], t["box"]) >= 0.99 and abs(d["score"] - t["score"]) <= 0.01), None)
            if j is None:
                if not borderline(t):
                    problems.append(f"{stem}: reference {t} has no match in ours")
            else:
                used.add(j)
                matched += 1
        for j, d in enumerate(mine):
            if j not in used and not borderline(d):
                problems.append(f"{stem}: ours {d} has no match in the reference")
    missing = sorted(set(ref) - set(ours))
    problems += [f"{s}: missing from ours" for s in missing]
    print(f"detections: {matched} matched, {len(problems)} problems")
    return problems


def compare_eval(ours_path, pycoco_path):
    ours, ref = json.load(open(ours_path)), json.load(open(pycoco_path))
    problems = []
    for key in ("map50_95", "map50"):
        d = abs(ours[key] - ref[key])
        print(f"{key}: ours {ours[key]:.6f} pycocotools {ref[key]:.6f} |diff| {d:.2e}")
        if d > 0.001:
            problems.append(f"{key} differs by {d}")
    return problems


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ours")
    ap.add_argument("--reference")
    ap.add_argument("--threshold", type=float, help="score threshold both runs used (allows borderline misses)")
    ap.add_argument("--eval")
    ap.add_argument("--pycoco")
    args = ap.parse_args()
    problems = []
    if args.ours and args.reference:
        problems += compare_detections(args.ours, args.reference, args.threshold)
    if args.eval and args.pycoco:
        problems += compare_eval(args.eval, args.pycoco)
    for p in problems[:20]:
        print("  " + p)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
