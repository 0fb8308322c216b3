#!/usr/bin/env python3
"""Speed against ONNX Runtime, measured in the same run: alternates `sentei bench` and an ORT session (same thread
count, all graph optimisations on, sequential execution) several rounds and prints each engine's best p50/min and
the ratio ours/ORT (below 1.0 = Sentei faster). 2-thread timings on this VM are bimodal (vCPU placement), which is
why rounds alternate and the best round of each is compared.
Usage: compare_ort.py SENTEI_BINARY MODEL [--threads N] [--runs R] [--rounds K] [--shape images=1x3x320x320]
                      [--int8 TABLE.json]
"""
import argparse, json, os, subprocess, sys, time
import numpy as np
import onnxruntime as ort


def ort_bench(model, threads, runs, warmup, shape):
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    dims = shape or [d if isinstance(d, int) else 1 for d in inp.shape]
    x = np.random.default_rng(0).integers(0, 256, size=dims).astype(np.float32)
    for _ in range(warmup):
        sess.run(None, {inp.name: x})
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        sess.run(None, {inp.name: x})
        times.append((time.perf_counter() - t) * 1e3)
    times.sort()
    return {"min_ms": times[0], "p50_ms": times[len(times) // 2]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("sentei")
    ap.add_argument("model")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runs", type=int, default=40)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--shape", default=None, help="NAME=1x3xHxW input shape override")
    ap.add_argument("--int8", default=None, help="quantization table: Sentei runs mixed int8 (ORT stays fp32)")
    args = ap.parse_args()
    shape = [int(v) for v in args.shape.split("=")[1].split("x")] if args.shape else None
    ours, theirs = [], []
    for _ in range(args.rounds):
        cmd = [args.sentei, "bench", "--model", args.model, "--threads", str(args.threads), "--runs", str(args.runs),
               "--warmup", str(args.warmup), "--json"] + (["--shape", args.shape] if args.shape else []) \
            + (["--int8", args.int8] if args.int8 else [])
        ours.append(json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout))
        theirs.append(ort_bench(args.model, args.threads, args.runs, args.warmup, shape))
    best = lambda rows, key: min(r[key] for r in rows)
    result = {
        "model": os.path.basename(args.model), "threads": args.threads,
        "sentei_p50_ms": round(best(ours, "p50_ms"), 3), "sentei_min_ms": round(best(ours, "min_ms"), 3),
        "ort_p50_ms": round(best(theirs, "p50_ms"), 3), "ort_min_ms": round(best(theirs, "min_ms"), 3),
        "sentei_peak_rss_mb": round(max(r["peak_rss_bytes"] for r in ours) / 1e6, 1),
        "sentei_arena_mb": round(ours[0]["arena_bytes"] / 1e6, 2), "kernels": ours[0]["kernels"],
        "gmacs": ours[0]["gmacs"],
    }
    result["ratio_p50"] = round(result["sentei_p50_ms"] / result["ort_p50_ms"], 3)
    result["ratio_min"] = round(result["sentei_min_ms"] / result["ort_min_ms"], 3)
    # Against this machine's fp32 multiply-add peak, measured by each `sentei bench` run (the fastest of them).
    peak = max(r["fp32_peak_gflops_per_core"] for r in ours)
    result["fp32_peak_gflops_per_core"] = peak
    result["pct_of_fp32_peak_at_min"] = round(100 * 2 * result["gmacs"] / (result["sentei_min_ms"] / 1e3) / (peak * args.threads), 1)
    print(json.dumps(result))


if __name__ == "__main__":
    sys.exit(main())
