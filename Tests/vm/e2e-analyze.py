#!/usr/bin/env python3
"""Host-side checks of the end-to-end VM test (Tests/vm/run e2e), from the files the guest left in the share.

ap50: which tud-campus file each `detections` event on the socket came from, then person AP50 from those events
  (pycocotools via scripts/reference/vision_cocoeval.py) against `sentei eval` on exactly the same frames, outside
  the VM. The mapping: the guest's feeder logs every write (write index, file index, CLOCK_MONOTONIC before/after);
  v4l2loopback numbers buffers by write count and senteid's frame_sequence counts driver sequence numbers from its
  first frame, so write index = frame_sequence + s0 for one constant s0 per capture session. Each event's dequeue
  time (timestamp_ns; v4l2loopback sets no monotonic-timestamp flag, so senteid stamps the dequeue) names the last
  write before it, which gives a candidate s0; the most common candidate is s0 and the share of events agreeing
  with it is printed; an event that disagrees is not scored. A file processed twice counts once (its first
  processing).
journal-tracks: the track_new lines the socket delivered before the end of the AP window are exactly the journal's
  SENTEI_EVENT=track_new entries of the same daemon process up to the same moment (SENTEI_JSON equals the line).

Prints "CHECK <name> PASS|FAIL <figures>" lines; exit status 0.
"""
import argparse
import bisect
import collections
import json
import os
import subprocess
import sys
import tempfile


def read_marks(path):
    marks = {}
    for line in open(path):
        f = line.split()
        if len(f) >= 2:
            marks.setdefault(f[0], int(f[1]))
    return marks


def read_events(path, end_line):
    """(pid, event) for the first end_line lines; pid from the latest hello line."""
    pid, out = None, []
    with open(path) as fh:
        for i, line in enumerate(fh):
            if i >= end_line:
                break
            try:
                e = json.loads(line)
            except ValueError:
                continue
            if e.get("type") == "hello":
                pid = e.get("pid")
                continue
            out.append((pid, e, line.rstrip("\n")))
    return out


def check(name, ok, detail):
    print(f"CHECK {name} {'PASS' if ok else 'FAIL'} {detail}")


def ap50(args, events, first_pid):
    feed = []
    for line in open(os.path.join(args.out, "feed-1.log")):
        f = line.split()
        if len(f) == 4:  # a write cut short by the feeder's end leaves a partial last line
            feed.append((int(f[0]), int(f[1]), int(f[2])))
    if not feed:
        return check("ap50", False, "the feeder logged no writes")
    writes = {k: idx for k, idx, _ in feed}
    t0s = [t0 for _, _, t0 in feed]
    ks = [k for k, _, _ in feed]
    dets = [e for pid, e, _ in events if pid == first_pid and e.get("type") == "detections"]
    if not dets:
        return check("ap50", False, "no detections events from the first daemon process")
    candidates, candidate_of = [], {}
    for n, e in enumerate(dets):
        i = bisect.bisect_right(t0s, e["timestamp_ns"]) - 1
        if i >= 0:
            candidates.append(ks[i] - e["frame_sequence"])
            candidate_of[n] = candidates[-1]
    if not candidates:
        return check("ap50", False, "no detections event came after the first write")
    s0, agree = collections.Counter(candidates).most_common(1)[0]
    frames = sorted(f for f in os.listdir(args.frames) if f.lower().endswith(".jpg"))
    chosen, levels = {}, collections.Counter()
    for n, e in enumerate(dets):
        levels[e.get("level")] += 1
        k = e["frame_sequence"] + s0
        # An event whose dequeue time names another write is left out: v4l2loopback can hand the first buffer after
        # STREAMON over with driver sequence 0 whatever write it holds, so senteid's first frame_sequence does not
        # follow the others when the feeder started before the daemon (seen: sequence 0 holding write 1008).
        if k not in writes or e.get("level") != args.level or candidate_of.get(n) != s0:
            continue
        chosen.setdefault(writes[k], e)
    if len(chosen) < args.min_frames:
        return check("ap50", False, f"only {len(chosen)} distinct frames at level {args.level} mapped (need {args.min_frames}); "
                     f"{len(dets)} events, levels {dict(levels)}, s0 {s0} agreed by {agree}/{len(candidates)}")
    work = tempfile.mkdtemp(prefix="sentei-e2e-ap-")
    os.makedirs(os.path.join(work, "frames"))
    os.symlink(os.path.abspath(args.gt), os.path.join(work, "gt.txt"))
    with open(os.path.join(work, "socket-dets.jsonl"), "w") as fh:
        for idx, e in sorted(chosen.items()):
            name = frames[idx]
            os.symlink(os.path.abspath(os.path.join(args.frames, name)), os.path.join(work, "frames", name))
            fh.write(json.dumps({"image": name, "detections": e["detections"]}) + "\n")
    seq = os.path.join(work, "seq")
    os.makedirs(seq)
    os.rename(os.path.join(work, "frames"), os.path.join(seq, "frames"))
    os.rename(os.path.join(work, "gt.txt"), os.path.join(seq, "gt.txt"))
    ours = subprocess.run([sys.executable, args.cocoeval, "--dets", os.path.join(work, "socket-dets.jsonl"),
                           "--manifest", args.model, "--mot", seq], capture_output=True, text=True)
    if ours.returncode != 0:
        return check("ap50", False, f"vision_cocoeval.py failed: {ours.stderr.strip()[-300:]}")
    socket_ap = json.loads(ours.stdout.strip().splitlines()[-1])["map50"]
    ev = subprocess.run([args.sentei, "eval", "--model", args.model, "--data", seq, "--json"],
                        capture_output=True, text=True)
    if ev.returncode != 0:
        return check("ap50", False, f"sentei eval failed: {ev.stderr.strip()[-300:]}")
    eval_ap = json.loads(ev.stdout.strip().splitlines()[-1])["map50"]
    names = [frames[i][:-4] for i in sorted(chosen)]
    diff = abs(socket_ap - eval_ap)
    print(f"ap50: frames {' '.join(names)}")
    check("ap50", diff <= 0.02,
          f"socket AP50 {socket_ap:.4f} vs sentei eval {eval_ap:.4f} on the same {len(chosen)} frames "
          f"(|diff| {diff:.4f}, limit 0.02); {len(dets)} detections events, levels {dict(levels)}, "
          f"frame mapping s0={s0} agreed by {agree}/{len(candidates)} events")


def journal_tracks(args, events, first_pid):
    sock = [(e, raw) for pid, e, raw in events if pid == first_pid and e.get("type") == "track_new"]
    if not sock:
        return check("journal-tracks", False, "no track_new on the socket")
    horizon = max(e["timestamp_ns"] for e, _ in sock)
    entries = []
    for line in open(os.path.join(args.out, "journal-track_new.json")):
        try:
            j = json.loads(line)
        except ValueError:
            continue
        if str(j.get("_PID")) != str(first_pid):
            continue
        entries.append(j)
    journal = {}
    for j in entries:
        e = json.loads(j["SENTEI_JSON"])
        if e["timestamp_ns"] <= horizon:
            journal[(e["track_id"], e["frame_sequence"])] = (j, j["SENTEI_JSON"])
    socket = {(e["track_id"], e["frame_sequence"]): raw for e, raw in sock}
    missing = sorted(set(socket) - set(journal))
    extra = sorted(set(journal) - set(socket))
    differ = [k for k in set(socket) & set(journal) if json.loads(socket[k]) != json.loads(journal[k][1])]
    fields_ok = all(j.get("SENTEI_EVENT") == "track_new" and str(j.get("SENTEI_TRACK_ID")) == str(k[0])
                    for k, (j, _) in journal.items())
    persons = sum(1 for e, _ in sock if e.get("label") == "person")
    check("journal-tracks", not missing and not extra and not differ and fields_ok,
          f"{len(socket)} track_new on the socket ({persons} person), {len(journal)} in journalctl -u sentei "
          f"SENTEI_EVENT=track_new for pid {first_pid}; missing from journal {len(missing)}, only in journal "
          f"{len(extra)}, differing {len(differ)}, SENTEI_TRACK_ID fields {'ok' if fields_ok else 'WRONG'}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="the guest's output directory (share/out)")
    ap.add_argument("--frames", required=True, help="tud-campus frames directory")
    ap.add_argument("--gt", required=True, help="tud-campus gt.txt")
    ap.add_argument("--sentei", required=True, help="host sentei binary (for sentei eval)")
    ap.add_argument("--model", required=True, help="model manifest")
    ap.add_argument("--cocoeval", required=True, help="scripts/reference/vision_cocoeval.py")
    ap.add_argument("--min-frames", type=int, default=8)
    ap.add_argument("--level", type=int, default=0, help="the level whose input size the manifest has (0)")
    args = ap.parse_args()
    try:
        marks = read_marks(os.path.join(args.out, "marks.txt"))
        end = marks.get("ap-end")
        if end is None:
            check("ap50", False, "the guest never reached the end of the AP window")
            check("journal-tracks", False, "the guest never reached the end of the AP window")
            return
        events = read_events(os.path.join(args.out, "events.ndjson"), end)
        pids = [pid for pid, _, _ in events if pid is not None]
        first_pid = pids[0] if pids else None
        for f in (ap50, journal_tracks):
            try:
                f(args, events, first_pid)
            except (OSError, ValueError, KeyError) as err:
                check(f.__name__.replace("_", "-"), False, f"analysis error: {err!r}")
    except OSError as err:
        check("ap50", False, f"missing guest output: {err}")
        check("journal-tracks", False, f"missing guest output: {err}")


if __name__ == "__main__":
    main()
