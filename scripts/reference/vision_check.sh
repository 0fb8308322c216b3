#!/bin/sh
# Reference check for SenteiVision, run from the package root. Needs python3 with numpy, onnxruntime, pycocotools.
#  1. ONNX Runtime + the numpy reference (vision_reference.py) on coco128 -> reference.jsonl, raw tensors;
#     pycocotools mAP of the reference.
#  2. Pre/post-processing parity: the Swift pipeline with ORT's outputs standing in for the model
#     (ReferenceParityTests): identical input tensors, matching detections, and pycocotools on our detections
#     equals our COCOEvaluator to 0.001.
#  3. With SENTEI=<path to a built sentei>: the whole pipeline on our engine.
#     `sentei detect --json` at 0.25 vs the reference (box IoU >= 0.99, |dscore| <= 0.01), and `sentei eval`
#     on coco128 and tud-campus vs pycocotools on the detections it wrote (|d| <= 0.001).
# Usage: [SENTEI=.build/release/sentei] scripts/reference/vision_check.sh [scratch-path]
set -eu
SHARED=${SENTEI_SHARED:-../shared}
SCRATCH=${1:-.build}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
REF=scripts/reference
MANIFEST=Models/yolox_nano.json
COCO="$SHARED/data/coco128"
TUD="$SHARED/data/tud-campus"

python3 $REF/vision_reference.py --manifest $MANIFEST --model "$SHARED/models/yolox_nano.onnx" \
    --threshold 0.01 --nms 0.65 --max-det 300 --dump "$OUT" --out "$OUT/reference.jsonl" "$COCO/images"
python3 $REF/vision_cocoeval.py --dets "$OUT/reference.jsonl" --manifest $MANIFEST --data "$COCO" > "$OUT/reference_eval.json"
echo "reference (ORT + numpy), coco128: $(cut -c1-90 "$OUT/reference_eval.json")"

SENTEI_SHARED="$SHARED" SENTEI_VISION_ORT_DUMP="$OUT" swift test -c "${SWIFT_CONFIGURATION:-debug}" ${SWIFT_SKIP_BUILD:+--skip-build} --scratch-path "$SCRATCH" --filter ReferenceParityTests
python3 $REF/vision_cocoeval.py --dets "$OUT/swift.jsonl" --manifest $MANIFEST --data "$COCO" > "$OUT/pycoco_on_swift.json"
python3 $REF/vision_compare.py --ours "$OUT/swift.jsonl" --reference "$OUT/reference.jsonl" \
    --eval "$OUT/swift_eval.json" --pycoco "$OUT/pycoco_on_swift.json"

if [ -n "${SENTEI:-}" ]; then
    python3 $REF/vision_reference.py --manifest $MANIFEST --model "$SHARED/models/yolox_nano.onnx" \
        --threshold 0.25 --nms 0.45 --out "$OUT/reference_detect.jsonl" "$COCO/images" "$TUD/frames"
    "$SENTEI" detect --model $MANIFEST --onnx "$SHARED/models/yolox_nano.onnx" --threshold 0.25 --json \
        "$COCO/images" "$TUD/frames" > "$OUT/sentei_detect.jsonl"
    python3 $REF/vision_compare.py --ours "$OUT/sentei_detect.jsonl" --reference "$OUT/reference_detect.jsonl" --threshold 0.25
    for set in coco128 tud-campus; do
        if [ $set = coco128 ]; then DATA=$COCO; KIND=--data; else DATA=$TUD; KIND=--mot; fi
        "$SENTEI" eval --model $MANIFEST --onnx "$SHARED/models/yolox_nano.onnx" --data "$DATA" \
            --detections "$OUT/sentei_$set.jsonl" --json > "$OUT/sentei_$set.json"
        python3 $REF/vision_cocoeval.py --dets "$OUT/sentei_$set.jsonl" --manifest $MANIFEST $KIND "$DATA" > "$OUT/pycoco_$set.json"
        echo "sentei eval, $set: $(cut -c1-90 "$OUT/sentei_$set.json")"
        python3 $REF/vision_compare.py --eval "$OUT/sentei_$set.json" --pycoco "$OUT/pycoco_$set.json"
    done
fi
