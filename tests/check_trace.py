#!/usr/bin/env python3
"""check_trace.py - check an lwp trace (Chrome/Perfetto trace-event JSON).

usage: check_trace.py TRACE [--min-flows N] [--expect NAME]...
                            [--expect-slice TEXT]... [--tags-above N]

Checks that the file is valid JSON in the trace-event format and that its
events are consistent:
  - every event has ph, pid, tid and a numeric ts;
  - on each track (tid), B/E slices nest and balance, and the times of B, E,
    X and i events never go back in file order;
  - every flow id has one "s" and one "f"; s is no later than f; s lies
    inside a slice of its track and f at the start of a process slice;
  - every "receive" from the first process slice of its track on lies in
    a process slice: the process that received was running;
  - --min-flows: at least N flows;  --expect: an event of that name;
    --expect-slice: a process slice whose name contains TEXT;
    --tags-above: there are sends or receives, and every one carries a tag
    above N (a flight recorder kept only the last ones);
    --receive-at-switch TAG: the receive of the message tagged TAG is at
    the start of its process slice (it took the stamp of the switch that
    resumed it), where the clock is the CPU's counter, else no earlier;
    --receive-later TAG: ... strictly after the start (it read the clock).
Prints a one-line summary; exits 1 with the first problem found.
"""
import argparse
import json
import sys
from collections import defaultdict


def fail(msg):
    print("check_trace: " + msg, file=sys.stderr)
    sys.exit(1)


def receive_of(receives, tag):
    got = [e for e in receives if e["args"]["tag"] == tag]
    if len(got) != 1:
        fail(f"{len(got)} receives of tag {tag}, expected 1")
    return got[0]


def slice_start(runs, ts, tag):
    """The start of the process slice holding ts (the later one where a
    slice ends at ts and the next begins)."""
    starts = [b for b, end in runs if b <= ts <= end]
    if not starts:
        fail(f"the receive of tag {tag} at {ts} is in no process slice")
    return max(starts)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("trace")
    ap.add_argument("--min-flows", type=int, default=0)
    ap.add_argument("--expect", action="append", default=[])
    ap.add_argument("--expect-slice", action="append", default=[])
    ap.add_argument("--tags-above", type=int)
    ap.add_argument("--receive-at-switch", type=int, action="append",
                    default=[])
    ap.add_argument("--receive-later", type=int, action="append",
                    default=[])
    a = ap.parse_args()

    try:
        with open(a.trace) as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        fail(f"{a.trace}: not valid JSON: {e}")
    events = doc.get("traceEvents")
    if not isinstance(events, list):
        fail("no traceEvents list")

    stack = defaultdict(list)  # tid -> open slices (B events)
    last = {}  # tid -> last ts
    slices = defaultdict(list)  # tid -> [(begin, end, name)]
    begins = defaultdict(set)  # tid -> ts of process-slice begins
    runs = defaultdict(list)  # tid -> [(begin, end)] of process slices
    receives = []
    flows = defaultdict(dict)  # id -> {"s": ev, "f": ev}
    names = set()
    for i, e in enumerate(events):
        for k in ("ph", "pid", "tid", "ts"):
            if k not in e:
                fail(f"event {i} has no {k}: {e}")
        if not isinstance(e["ts"], (int, float)):
            fail(f"event {i}: ts is not a number")
        ph, tid, ts = e["ph"], e["tid"], e["ts"]
        names.add(e.get("name"))
        if ph in "BEXi":
            if ts < last.get(tid, ts):
                fail(f"event {i}: time goes back on track {tid}: "
                     f"{ts} < {last[tid]}")
            last[tid] = ts
        if ph == "B":
            stack[tid].append(e)
            if e.get("cat") == "process":
                begins[tid].add(ts)
        elif ph == "E":
            if not stack[tid]:
                fail(f"event {i}: E without a B on track {tid}")
            b = stack[tid].pop()
            slices[tid].append((b["ts"], ts, b.get("name", "")))
            if b.get("cat") == "process":
                runs[tid].append((b["ts"], ts))
        elif ph == "X":
            slices[tid].append((ts, ts + e.get("dur", 0), e.get("name", "")))
        elif ph in "sf":
            if ph in flows[e.get("id")]:
                fail(f"event {i}: flow {e.get('id')} has two '{ph}'")
            flows[e.get("id")][ph] = e
        elif ph == "i" and e.get("name") == "receive":
            receives.append(e)
        elif ph not in "iM":
            fail(f"event {i}: unexpected ph {ph!r}")
    for tid, st in stack.items():
        if st:
            fail(f"track {tid}: {len(st)} slice(s) never end")

    for fid, fl in flows.items():
        if set(fl) != {"s", "f"}:
            fail(f"flow {fid} is not one s and one f: {sorted(fl)}")
        s, f = fl["s"], fl["f"]
        if s["ts"] > f["ts"]:
            fail(f"flow {fid} goes back in time")
        if not any(b <= s["ts"] <= e for b, e, _ in slices[s["tid"]]):
            fail(f"flow {fid}: its send is in no slice")
        if f["ts"] not in begins[f["tid"]]:
            fail(f"flow {fid}: its wakeup is not where a process runs")
    for e in receives:
        r = runs[e["tid"]]
        if r and e["ts"] >= r[0][0] and \
                not any(b <= e["ts"] <= end for b, end in r):
            fail(f"a receive at {e['ts']} on track {e['tid']} is in no "
                 "process slice")
    counter = doc.get("otherData", {}).get("clock") == "cpu counter"
    for tag, later in [(t, False) for t in a.receive_at_switch] + \
            [(t, True) for t in a.receive_later]:
        e = receive_of(receives, tag)
        b = slice_start(runs[e["tid"]], e["ts"], tag)
        if later:
            ok, want = e["ts"] > b, "after"
        elif counter:
            ok, want = e["ts"] == b, "at"
        else:
            ok, want = e["ts"] >= b, "at or after"
        if not ok:
            fail(f"the receive of tag {tag} at {e['ts']} is not {want} the "
                 f"start of its slice at {b}")
    if len(flows) < a.min_flows:
        fail(f"{len(flows)} flows, expected at least {a.min_flows}")
    for n in a.expect:
        if n not in names:
            fail(f"no event named {n!r}")
    for t in a.expect_slice:
        if not any(t in n for sl in slices.values() for _, _, n in sl):
            fail(f"no slice named like {t!r}")
    if a.tags_above is not None:
        tagged = [e for e in events if e.get("name") in ("send", "receive")]
        if not tagged:
            fail("--tags-above: no send or receive to look at")
        for e in tagged:
            if e["args"]["tag"] <= a.tags_above:
                fail(f"a {e['name']} with tag {e['args']['tag']} was kept")
    nslices = sum(len(s) for s in slices.values())
    print(f"check_trace: {a.trace}: {len(events)} events, {nslices} slices, "
          f"{len(flows)} flows, {len(slices)} tracks: ok")


if __name__ == "__main__":
    main()
