#!/usr/bin/env python3
"""bench.py - the lwp perf suite: lwp against Erlang and Go, side by side.

./run bench [ARGS] runs this after a release build; see perf/README.md.
For each workload and scheduler count it runs one discarded warm-up of
every implementation, then the repetitions, alternating lwp / erlang / go
so that the machine's drift hits all alike.  Each repetition is a fresh
process speaking one protocol (perf/peers/README.md):

    RESULT <figure> <value> <unit...> <ops>
    SAMPLES <figure> <unit> <value>...      (latency distributions)
    SCHEDULERS <n>  /  SKIP <why>           (lwp-bench --child only)

It prints one table, writes perf/results/<stamp>.json and gnuplot plots
(SVG and PNG) beside it.  Python 3 standard library only.
"""

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PEERS = ("erlang", "go")

# Quick mode (the default): the work of each workload times this, so that
# `./run bench --peers` stays within 3 minutes on a 2-core machine; --full
# runs the counts (1.0).  Rings keep their sizes, fanin its
# senders, selective its 10,000 queued messages (see README.md).
QUICK_SCALE = {
    "switch": 0.1,
    "switch-2fn": 0.1,
    "spawn-exit": 0.1,
    "spawn": 0.1,
    "ring": 0.1,
    "ring100k": 0.1,
    "pingpong": 0.1,
    "pingpong-x": 0.1,
    "skynet": 0.1,
    "fanin": 0.1,
    "fairness": 0.2,  # p99 of 200; Go's sleeps take 20 ms (README.md)
    "preempt-cost": 0.1,
    "selective": 0.2,
    "timers": 0.1,
    "link-chain": 0.1,
    "idle-rss": 0.1,
}
QUICK_DEFAULT_SCALE = 0.1  # workloads not listed (extra executables)
QUICK_REPS, FULL_REPS = 3, 5


def fmt(v):
    """A figure with about 3 significant digits, never in e-notation."""
    if v is None:
        return "-"
    a = abs(v)
    if a >= 10000:
        return "%.0f" % v
    if a >= 100:
        return "%.1f" % v
    if a >= 1:
        return "%.2f" % v
    return "%.3g" % v


def higher_is_better(unit):
    """Rates (M msg/s) are better high; times, bytes and % are better low."""
    return unit.endswith("/s")


def advantage(lwp, peer, unit):
    """How many times better lwp's figure is than peer's (> 1: lwp wins)."""
    if lwp is None or peer is None or lwp <= 0 or peer <= 0:
        return None  # a ratio of signed figures (cost-*) means nothing
    return lwp / peer if higher_is_better(unit) else peer / lwp


def fmt_advantage(factor, peer):
    """'3.20x better (go)' or '1.50x worse (erlang)': the factor is always
    >= 1 and the word says the direction, so it cannot be misread."""
    if factor is None:
        return "-"
    if factor >= 1:
        return "%.2fx better (%s)" % (factor, peer)
    return "%.2fx worse (%s)" % (1 / factor, peer)


# ---- the implementations ----------------------------------------------------


class Run:
    """What one repetition printed."""

    def __init__(self):
        self.results = {}  # figure -> (value, unit, ops)
        self.samples = {}  # figure -> (unit, [values])
        self.sched_ran = None
        self.skip = None
        self.wall = 0.0  # seconds the process ran, start-up included


def parse_output(text):
    run = Run()
    for line in text.splitlines():
        f = line.split()
        if len(f) >= 5 and f[0] == "RESULT":
            run.results[f[1]] = (float(f[2]), " ".join(f[3:-1]), int(f[-1]))
        elif len(f) >= 3 and f[0] == "SAMPLES":
            run.samples[f[1]] = (f[2], [float(x) for x in f[3:]])
        elif len(f) == 2 and f[0] == "SCHEDULERS":
            run.sched_ran = int(f[1])
        elif f and f[0] == "SKIP":
            run.skip = " ".join(f[1:])
    return run


class Impl:
    """An implementation: how to run one repetition of a workload."""

    name = None

    def __init__(self, workloads):
        self.workloads = workloads  # names it has

    def command(self, workload, sched, scale):
        raise NotImplementedError

    def env(self, opts):
        return {}


class LwpImpl(Impl):
    """What every lwp executable shares: its name and pinning."""

    name = "lwp"

    def env(self, opts):
        return {"LWP_PIN": "1" if opts.pin == "on" else "0"}


class Lwp(LwpImpl):
    def __init__(self, exe):
        self.exe = exe
        self.benches, self.figures = lwp_catalogue(exe)
        super().__init__([b["name"] for b in self.benches])

    def command(self, workload, sched, scale):
        return [self.exe, "--child", workload, "-n", repr(scale),
                "-s", str(sched)]


class LwpExtra(LwpImpl):
    """Another lwp executable in the build (build/perf/lwp-NAME-bench) that
    speaks the RESULT protocol with -s N -n SCALE: workload NAME."""

    def __init__(self, exe, workload):
        self.exe = exe
        super().__init__([workload])

    def command(self, workload, sched, scale):
        return [self.exe, "-s", str(sched), "-n", repr(scale)]


class Peer(Impl):
    def __init__(self, lang, builddir):
        self.name = lang
        self.builddir = builddir
        out = subprocess.run(self.base() + ["-l"], capture_output=True,
                             text=True, check=False)
        if out.returncode != 0:
            sys.exit("bench: the %s peer does not build or run:\n%s"
                     % (lang, out.stderr))
        super().__init__(out.stdout.split())

    def base(self):
        return [os.path.join(HERE, "peers", "run-peer.sh"), self.name,
                self.builddir]

    def command(self, workload, sched, scale):
        return self.base() + ["-b", workload, "-s", str(sched),
                              "-n", repr(scale)]

    def env(self, opts):
        if self.name == "erlang":  # bind schedulers to cores, or not
            return {"ERL_FLAGS": "+sbt db" if opts.pin == "on" else "+sbt u"}
        return {}  # goroutines' threads cannot be pinned


def lwp_catalogue(exe):
    """lwp-bench --figures: its benchmarks, in order, and their figures."""
    out = subprocess.run([exe, "--figures"], capture_output=True, text=True,
                         check=True).stdout
    benches, figures = [], {}
    for line in out.splitlines():
        f = line.split()
        if f[0] == "BENCH":
            benches.append({"name": f[1], "once": f[2] == "1",
                            "what": " ".join(f[3:])})
        elif f[0] == "FIGURE":
            target = float(f[3])
            figures[f[2]] = {
                "bench": f[1], "target": target or None,
                "at_least": f[4] == "1", "target_sched": int(f[5]) or None,
                "unit": " ".join(f[6:])}
    return benches, figures


def extra_executables(builddir):
    """Other lwp benchmark programs in the build, by workload name."""
    found = {}
    d = os.path.join(builddir, "perf")
    for fn in sorted(os.listdir(d)) if os.path.isdir(d) else []:
        m = re.fullmatch(r"lwp-(.+)-bench", fn)
        path = os.path.join(d, fn)
        if m and os.access(path, os.X_OK) and os.path.isfile(path):
            found[m.group(1)] = path
    return found


# ---- running ------------------------------------------------------------------


class Progress:
    """One status line on stderr: rewritten in place on a terminal."""

    def __init__(self):
        self.t0 = time.monotonic()
        self.tty = sys.stderr.isatty()
        self.width = 0

    def elapsed(self):
        s = int(time.monotonic() - self.t0)
        return "%d:%02d" % (s // 60, s % 60)

    def show(self, text):
        line = "[%s] %s" % (self.elapsed(), text)
        if self.tty:
            sys.stderr.write("\r" + line.ljust(self.width))
            self.width = len(line)
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()

    def say(self, text):
        """A line that stays (a failure, a note)."""
        if self.tty and self.width:
            sys.stderr.write("\r" + " " * self.width + "\r")
            self.width = 0
        sys.stderr.write(text + "\n")
        sys.stderr.flush()


def run_once(impl, workload, sched, scale, opts, extra_env=None):
    """One repetition: (Run, None) or (None, why it failed)."""
    env = dict(os.environ, **impl.env(opts), **(extra_env or {}))
    cmd = impl.command(workload, sched, scale)
    t0 = time.monotonic()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, env=env,
                           timeout=opts.timeout, check=False)
    except subprocess.TimeoutExpired:
        return None, "timed out after %d s" % opts.timeout
    if p.returncode != 0:
        tail = " | ".join(p.stderr.strip().splitlines()[-3:])
        return None, "exit %d: %s" % (p.returncode, tail)
    run = parse_output(p.stdout)
    run.wall = time.monotonic() - t0
    if not run.results and not run.skip:
        run.skip = p.stderr.strip().splitlines()[-1] if p.stderr.strip() \
            else "no result"
    return run, None


class Cell:
    """The repetitions of one workload by one implementation with one
    scheduler count."""

    def __init__(self):
        self.runs = []
        self.skip = None
        self.failed = None
        self.wall = 0.0  # seconds of all its runs, the warm-up included


def measure(workload, sched, impls, scale, opts, prog):
    """Warm-up, then opts.reps rounds alternating the implementations."""
    cells = {impl.name: Cell() for impl in impls}
    for rep in range(opts.reps + 1):
        label = "warm-up" if rep == 0 else "run %d/%d" % (rep, opts.reps)
        for impl in impls:
            cell = cells[impl.name]
            if cell.skip or cell.failed:
                continue
            prog.show("%-11s sched %-3d %-8s %-7s (scale %g)"
                      % (workload, sched, label, impl.name, scale))
            run, why = run_once(impl, workload, sched, scale, opts)
            if why:
                cell.failed = why
                prog.say("bench: FAILED: %s %s with %d scheduler(s): %s"
                         % (impl.name, workload, sched, why))
            elif run.skip:
                cell.skip = run.skip
            elif rep > 0:
                cell.runs.append(run)
            if run:
                cell.wall += run.wall
    return cells


def summarise(workload, sched, impl, cell, scale, lwp_figures):
    """The figure objects of the JSON for one cell."""
    out = []
    if not cell.runs:
        return out
    for fig, (_, unit, ops) in cell.runs[0].results.items():
        samples = [r.results[fig][0] for r in cell.runs if fig in r.results]
        obj = {
            "workload": workload, "figure": fig, "impl": impl, "sched": sched,
            "unit": unit, "better": "higher" if higher_is_better(unit)
            else "lower", "median": statistics.median(samples),
            "min": min(samples), "max": max(samples), "samples": samples,
            "ops": ops, "scale": scale, "wall_s": round(cell.wall, 2),
        }
        ran = [r.sched_ran for r in cell.runs if r.sched_ran is not None]
        if ran:
            obj["sched_ran"] = max(set(ran), key=ran.count)
        meta = lwp_figures.get(fig) if impl == "lwp" else None
        if meta and meta["target"] and (not meta["target_sched"]
                                        or meta["target_sched"] == sched):
            # The targets are for the counts: smaller runs
            # amortise less (README.md), so they are not judged.
            obj["target"] = meta["target"]
            obj["at_least"] = meta["at_least"]
            obj["pass"] = None if scale != 1 else (
                obj["median"] >= meta["target"] if meta["at_least"]
                else obj["median"] <= meta["target"])
        out.append(obj)
    return out


def latencies(workload, sched, impl, cell):
    """The latency samples of all repetitions of a cell, pooled."""
    pooled = {}
    for r in cell.runs:
        for fig, (unit, v) in r.samples.items():
            pooled.setdefault(fig, (unit, []))[1].extend(v)
    return [{"workload": workload, "figure": fig, "impl": impl,
             "sched": sched, "unit": unit, "samples": sorted(v)}
            for fig, (unit, v) in pooled.items()]


def add_ratios(figures):
    """Each lwp figure gets vs_best_peer: the best peer's median against
    lwp's, as lwp's advantage factor (> 1: lwp better)."""
    by_key = {}
    for f in figures:
        by_key.setdefault((f["figure"], f["sched"]), {})[f["impl"]] = f
    for impls in by_key.values():
        lwp = impls.get("lwp")
        peers = [f for name, f in impls.items() if name != "lwp"]
        if not lwp or not peers:
            continue
        hi = higher_is_better(lwp["unit"])
        best = (max if hi else min)(peers, key=lambda f: f["median"])
        lwp["vs_best_peer"] = {
            "peer": best["impl"],
            "factor": advantage(lwp["median"], best["median"], lwp["unit"])}


# ---- the machine ----------------------------------------------------------------


def sh(cmd, cwd=None):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, cwd=cwd,
                              check=False, timeout=60).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


def hwloc_summary():
    """Packages, NUMA nodes, cores, PUs and caches from lstopo's XML."""
    xml = sh(["lstopo-no-graphics", "--of", "xml"])
    if not xml:
        return None
    counts, caches = {}, {}
    for o in ET.fromstring(xml).iter("object"):
        t = o.get("type")
        counts[t] = counts.get(t, 0) + 1
        if t.endswith("Cache") and o.get("cache_size"):
            name = {"L1Cache": "L1d", "L1iCache": "L1i"}.get(t, t[:-5])
            caches.setdefault(name, []).append(int(o.get("cache_size")))
    s = {"packages": counts.get("Package", 0),
         "numa_nodes": counts.get("NUMANode", 0),
         "cores": counts.get("Core", 0), "pus": counts.get("PU", 0),
         "caches": {k: {"count": len(v), "size_kib": v[0] // 1024}
                    for k, v in sorted(caches.items())}}
    s["text"] = "%d package(s), %d NUMA node(s), %d cores, %d PUs; %s" % (
        s["packages"], s["numa_nodes"], s["cores"], s["pus"],
        ", ".join("%s %d x %s" % (k, c["count"], kib(c["size_kib"]))
                  for k, c in s["caches"].items()))
    return s


def kib(k):
    return "%d MiB" % (k // 1024) if k >= 1024 and k % 1024 == 0 \
        else "%d KiB" % k


def cpu_model():
    for line in sh(["lscpu"]).splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def meson_info(builddir, what):
    try:
        with open(os.path.join(builddir, "meson-info",
                               "intro-%s.json" % what)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def build_description(builddir):
    """The C compiler (as meson calls it) and the build options that
    matter for speed."""
    cc = ["cc"]
    for t in meson_info(builddir, "targets") or []:
        for src in t.get("target_sources", []):
            if src.get("language") == "c" and src.get("compiler"):
                cc = src["compiler"]
    version = sh(cc + ["--version"]).splitlines()
    opts = {o["name"]: o["value"] for o in meson_info(builddir, "buildoptions")
            or [] if o["name"] in ("buildtype", "optimization", "debug",
                                   "b_ndebug", "b_lto", "allocator")}
    return {"compiler": version[0] if version else " ".join(cc),
            "options": opts}


def machine_description(opts, impls):
    mem = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) // 1024
    u = platform.uname()
    commit = sh(["git", "rev-parse", "--short=12", "HEAD"], cwd=ROOT)
    dirty = sh(["git", "status", "--porcelain", "--untracked-files=no"],
               cwd=ROOT)
    d = {
        "host": u.node, "machine_note": opts.machine,
        "cpu_model": cpu_model(), "cpus_usable": len(os.sched_getaffinity(0)),
        "memory_mib": mem, "hwloc": hwloc_summary(),
        "kernel": "%s %s %s" % (u.system, u.release, u.version),
        "arch": u.machine, "loadavg_start": os.getloadavg()[0],
        "lwp_commit": commit + ("-dirty" if dirty else ""),
        "build": build_description(opts.build),
    }
    if any(i.name == "erlang" for i in impls):
        d["erlang"] = sh(["erl", "-noshell", "-eval",
                          'io:format("OTP ~s, erts ~s", [erlang:system_info('
                          'otp_release), erlang:system_info(version)]), '
                          'halt().'])
    if any(i.name == "go" for i in impls):
        d["go"] = sh(["go", "version"])
    return d


def machine_text(m):
    hw = m["hwloc"]["text"] if m.get("hwloc") else "hwloc: not available"
    lines = ["machine  %s%s: %s, %d CPUs usable, %d MiB"
             % (m["host"], " (%s)" % m["machine_note"]
                if m.get("machine_note") else "", m["cpu_model"],
                m["cpus_usable"], m["memory_mib"]),
             "topology %s" % hw,
             "kernel   %s" % m["kernel"],
             "lwp      %s, %s, %s" % (m["lwp_commit"], m["build"]["compiler"],
                                      " ".join("%s=%s" % kv for kv in
                                               m["build"]["options"].items()))]
    for k in ("erlang", "go"):
        if m.get(k):
            lines.append("%-8s %s" % (k, m[k]))
    return "\n".join(lines)


# ---- the table ----------------------------------------------------------------


def cell_text(f):
    if f is None:
        return ""
    return "%s (%s-%s)" % (fmt(f["median"]), fmt(f["min"]), fmt(f["max"]))


def target_text(f):
    if not f or "target" not in f:
        return ""
    return "%s %g %s" % (">=" if f["at_least"] else "<=", f["target"],
                         "(--full)" if f["pass"] is None else
                         "PASS" if f["pass"] else "MISS")


def print_table(res, impl_names, out=sys.stdout):
    """One row per figure and scheduler count; a column per implementation
    (median (min-max)); lwp's advantage over the best peer; lwp's target."""
    by_key, order = {}, []
    for f in res["figures"]:
        key = (f["figure"], f["sched"])
        if key not in by_key:
            order.append(key)
        by_key.setdefault(key, {})[f["impl"]] = f
    notes = {}
    for what in ("skipped", "failed"):
        for n in res[what]:
            notes[(n["workload"], n["sched"], n["impl"])] = what
    peers = [i for i in impl_names if i != "lwp"]
    cols = ["figure", "unit", "sched"] + impl_names
    if peers:
        cols.append("lwp vs best peer")
    cols.append("lwp target")
    rows = []
    for key in order:
        cells = by_key[key]
        any_f = next(iter(cells.values()))
        row = [key[0], any_f["unit"], str(key[1])]
        for name in impl_names:
            f = cells.get(name)
            why = notes.get((any_f["workload"], key[1], name), "n/a")
            row.append(cell_text(f) if f else
                       "FAILED" if why == "failed" else why)
        lwp = cells.get("lwp")
        if peers:
            v = lwp.get("vs_best_peer") if lwp else None
            row.append(fmt_advantage(v["factor"], v["peer"]) if v else "-")
        row.append(target_text(lwp))
        rows.append(row)
    widths = [max(len(str(r[i])) for r in rows + [cols])
              for i in range(len(cols))]
    right = set(range(3, 3 + len(impl_names)))

    def line(r):
        return "  ".join(str(c).rjust(w) if i in right or i == 2
                         else str(c).ljust(w)
                         for i, (c, w) in enumerate(zip(r, widths))).rstrip()
    print(line(cols), file=out)
    for r in rows:
        print(line(r), file=out)
    skips = {}
    for n in res["skipped"]:
        why = n["why"].split("skipped: ")[-1]
        skips.setdefault((n["workload"], n["sched"], why), []).append(
            n["impl"])
    for (wl, sched, why), names in skips.items():
        print("skipped: %s with %d scheduler(s) (%s): %s"
              % (wl, sched, ", ".join(names), why), file=out)
    for n in res["failed"]:
        print("FAILED:  %s %s with %d scheduler(s): %s"
              % (n["impl"], n["workload"], n["sched"], n["why"]), file=out)


# ---- plots --------------------------------------------------------------------

COLORS = {"lwp": "#1f77b4", "erlang": "#d62728", "go": "#2ca02c"}


def gp_str(s):
    return '"%s"' % s.replace('"', "'")


def plot_scaling(res, impl_names):
    """The first figure of each workload against the scheduler count."""
    firsts, seen = [], set()
    for f in res["figures"]:
        if f["workload"] not in seen:
            seen.add(f["workload"])
            firsts.append((f["workload"], f["figure"], f["unit"]))
    data, panels = [], []
    for k, (wl, fig, unit) in enumerate(firsts):
        series = []
        signed = any(f["min"] < 0 for f in res["figures"]
                     if f["figure"] == fig)  # cost-*: % either way
        for name in impl_names:
            pts = sorted((f["sched"], f["median"], f["min"], f["max"])
                         for f in res["figures"]
                         if f["figure"] == fig and f["impl"] == name)
            if not pts:
                continue
            block = "$s%d_%s" % (k, name)
            data.append("%s << EOD\n%s\nEOD" % (block, "\n".join(
                "%d %g %g %g" % p for p in pts)))
            series.append("%s using 1:2:3:4 with yerrorlines lw 2 pt 7 "
                          "lc rgb %s title %s" % (block, gp_str(COLORS.get(
                              name, "black")), gp_str(name)))
        panels.append("set title %s\nset ylabel %s\nset yrange [%s:*]\n"
                      "plot %s" % (gp_str(fig), gp_str(unit),
                                   "*" if signed else "0",
                                   ", ".join(series)))
    ncol = 4
    nrow = (len(panels) + ncol - 1) // ncol
    scheds = sorted({f["sched"] for f in res["figures"]})
    body = ("set multiplot layout %d,%d title %s\n"
            "set xlabel 'schedulers'\nset xtics (%s)\nset key top left opaque\n"
            "set grid\nset xrange [%g:%g]\n%s\n"
            "unset multiplot\n"
            % (nrow, ncol, gp_str("scaling by scheduler count (median, "
                                  "min-max bars)"),
               ", ".join(str(s) for s in scheds), scheds[0] - 0.5,
               scheds[-1] + 0.5, "\n".join(panels)))
    return data, body, (ncol * 420, nrow * 320)


def plot_latency(res, impl_names):
    """CDFs of the latency samples (ping-pong batches, fairness round
    trips), one panel per figure and scheduler count."""
    keys = sorted({(lat["figure"], lat["sched"]) for lat in res["latency"]})
    if not keys:
        return None
    data, panels = [], []
    for k, (fig, sched) in enumerate(keys):
        series, unit = [], ""
        for name in impl_names:
            lat = [x for x in res["latency"] if x["figure"] == fig
                   and x["sched"] == sched and x["impl"] == name]
            if not lat:
                continue
            v, unit = lat[0]["samples"], lat[0]["unit"]
            block = "$l%d_%s" % (k, name)
            data.append("%s << EOD\n%s\nEOD" % (block, "\n".join(
                "%g %g" % (x, (i + 1) / len(v)) for i, x in enumerate(v))))
            series.append("%s using 1:2 with steps lw 2 lc rgb %s title %s"
                          % (block, gp_str(COLORS.get(name, "black")),
                             gp_str(name)))
        title = {"fair-rtt-p50": "fairness: round trip among 4 spinners"
                 }.get(fig, fig + ": ns per round trip, batches of n/1000")
        panels.append("set title %s\nset xlabel %s\nplot %s" % (
            gp_str("%s, %d scheduler(s)" % (title, sched)), gp_str(unit),
            ", ".join(series)))
    ncol = 2
    nrow = (len(panels) + ncol - 1) // ncol
    body = ("set multiplot layout %d,%d title %s\nset logscale x\n"
            "set ylabel 'fraction <= x'\nset yrange [0:1]\nset key bottom "
            "right\nset grid\n%s\nunset multiplot\nunset logscale x\n"
            % (nrow, ncol, gp_str("latency distributions (CDF)"),
               "\n".join(panels)))
    return data, body, (ncol * 560, nrow * 340)


def plot_peers(res, impl_names):
    """Each peer's median relative to lwp's, per figure, at the largest
    scheduler count: > 1 means the peer is that many times worse."""
    peers = [i for i in impl_names if i != "lwp"]
    if not peers:
        return None
    top = max(f["sched"] for f in res["figures"])
    rows = []
    for f in res["figures"]:
        if f["impl"] != "lwp" or f["sched"] != top:
            continue
        vals = []
        for p in peers:
            pf = [x for x in res["figures"] if x["impl"] == p
                  and x["figure"] == f["figure"] and x["sched"] == top]
            a = advantage(f["median"], pf[0]["median"], f["unit"]) \
                if pf else None
            vals.append("%g" % a if a else "NaN")
        if any(v != "NaN" for v in vals):
            rows.append("%s %s" % (gp_str(f["figure"]), " ".join(vals)))
    if not rows:
        return None
    data = ["$bars << EOD\n%s\nEOD" % "\n".join(rows)]
    plots = ", ".join("$bars using %d:xtic(1) title %s lc rgb %s"
                      % (k + 2, gp_str(p), gp_str(COLORS.get(p, "gray")))
                      for k, p in enumerate(peers))
    body = ("set title %s\nset style data histograms\n"
            "set style histogram clustered gap 1\nset style fill solid 0.8\n"
            "set logscale y\nset ylabel 'peer / lwp (log; > 1: lwp better)'\n"
            "set xtics rotate by -45\nset grid ytics\nset key top right\n"
            "set arrow from graph 0, first 1 to graph 1, first 1 nohead "
            "lw 2 lc rgb 'black'\nplot %s\nunset arrow\nunset logscale y\n"
            % (gp_str("how many times better lwp is than each peer, %d "
                      "scheduler(s)" % top), plots))
    return data, body, (max(900, 45 * len(rows) * len(peers)), 560)


def write_plots(res, stem, impl_names, prog):
    """stem-{scaling,latency,peers}.{svg,png} and the gnuplot script
    stem.gp that makes them (self-contained: the data is inline)."""
    if not shutil.which("gnuplot"):
        prog.say("bench: gnuplot not found: no plots (apt-get install "
                 "gnuplot-nox)")
        return []
    script, files = ["# made by perf/bench.py; gnuplot %s\n"
                     % os.path.basename(stem + ".gp")], []
    for kind, maker in (("scaling", plot_scaling), ("latency", plot_latency),
                        ("peers", plot_peers)):
        made = maker(res, impl_names)
        if not made:
            continue
        data, body, (w, h) = made
        script.append("\n".join(data))
        for term, ext in (("svg size %d,%d dynamic background rgb 'white'",
                           "svg"), ("pngcairo size %d,%d", "png")):
            out = "%s-%s.%s" % (os.path.basename(stem), kind, ext)
            script.append("reset\nset terminal %s font 'Sans,9'\n"
                          "set output %s\n%s" % (term % (w, h), gp_str(out),
                                                 body))
            files.append(os.path.join(os.path.dirname(stem), out))
    with open(stem + ".gp", "w") as f:
        f.write("\n".join(script) + "\nset output\n")
    p = subprocess.run(["gnuplot", os.path.basename(stem + ".gp")],
                       cwd=os.path.dirname(stem), capture_output=True,
                       text=True, check=False)
    if p.returncode != 0:
        prog.say("bench: gnuplot failed:\n" + p.stderr)
        return []
    return files


# ---- instructions, traces -----------------------------------------------------


def instructions(opts, prog):
    """perf/callgrind.sh on switch, ring, pingpong (send/receive),
    spawn-exit and spawn: instructions per operation, 1 scheduler."""
    prog.show("callgrind: switch ring pingpong spawn-exit spawn")
    p = subprocess.run([os.path.join(HERE, "callgrind.sh"), "-B", opts.build,
                        "-s", "1"], capture_output=True, text=True,
                       check=False)
    if p.returncode != 0:
        prog.say("bench: FAILED: callgrind.sh:\n" + p.stderr)
        return None
    out = []
    for line in p.stdout.splitlines():
        m = re.match(r"(\S+)\s+([\d.]+) Ir/op\s+\((\d+) Ir / (\d+) ops", line)
        if m:
            out.append({"workload": m.group(1), "ir_per_op":
                        float(m.group(2)), "ir": int(m.group(3)),
                        "ops": int(m.group(4)), "sched": 1})
    return out


def traces(opts, lwp, workloads, scheds, prog):
    """One repetition of each lwp workload with LWP_TRACE set, and the
    utilisation plot of each trace."""
    os.makedirs(opts.trace, exist_ok=True)
    for wl in workloads:
        for s in scheds:
            path = os.path.join(os.path.abspath(opts.trace),
                                "%s-%d.json" % (wl, s))
            prog.show("trace %s sched %d -> %s" % (wl, s, path))
            _, why = run_once(lwp, wl, s, scale_of(wl, opts), opts,
                              {"LWP_TRACE": path})
            if why:
                prog.say("bench: trace of %s failed: %s" % (wl, why))
            elif not os.path.exists(path):
                prog.say("bench: %s: no trace written (an lwp built "
                         "with -Dtrace=disabled?)" % path)
            else:
                utilisation_plot(path, prog)


def utilisation_plot(trace, prog):
    """scripts/trace-util util: TRACE's -util.svg beside it."""
    svg = trace[:-len(".json")] + "-util.svg"
    util = os.path.join(ROOT, "scripts", "trace-util")
    r = subprocess.run([sys.executable, util, "util", trace, "-o", svg],
                       capture_output=True, text=True)
    if r.returncode:
        prog.say("bench: %s: no plot: %s" % (trace, r.stderr.strip()))


# ---- main ---------------------------------------------------------------------


def scale_of(workload, opts):
    if opts.scale:
        return opts.scale
    if opts.full:
        return 1.0
    return QUICK_SCALE.get(workload, QUICK_DEFAULT_SCALE)


def parse_args(argv):
    ncpu = len(os.sched_getaffinity(0))
    ap = argparse.ArgumentParser(
        prog="./run bench",
        description="lwp's perf suite: every workload for lwp (and with "
        "--peers for Erlang and Go), median of N runs after a warm-up, "
        "one table, a JSON file and plots under perf/results/.")
    ap.add_argument("--peers", action="store_true",
                    help="also run the Erlang and Go twins, interleaved")
    ap.add_argument("--full", action="store_true",
                    help="the issue's full counts and %d runs (default: "
                    "quick mode, scaled down, %d runs)" % (FULL_REPS,
                                                           QUICK_REPS))
    ap.add_argument("-r", "--reps", type=int,
                    help="runs per figure (median, min, max of these)")
    ap.add_argument("-b", "--workload", action="append", default=[],
                    metavar="NAME", help="run only this workload "
                    "(repeatable, or comma-separated); -l lists them")
    ap.add_argument("-s", "--schedulers", default="1,%d" % ncpu,
                    help="comma-separated scheduler counts (default 1,%d: "
                    "1 and all cores)" % ncpu)
    ap.add_argument("--pin", choices=("on", "off"), default="on",
                    help="bind schedulers to cores: lwp (LWP_PIN) and "
                    "Erlang (+sbt db); Go cannot (default on)")
    ap.add_argument("-n", "--scale", type=float,
                    help="multiply every workload's counts by this "
                    "(overrides quick/full)")
    ap.add_argument("--instructions", action="store_true",
                    help="also count instructions per operation under "
                    "callgrind (switch, ring, pingpong, spawn)")
    ap.add_argument("--trace", metavar="DIR",
                    help="also run each lwp workload once with "
                    "LWP_TRACE=DIR/<workload>-<sched>.json, and plot each "
                    "scheduler's utilisation in <workload>-<sched>-util.svg")
    ap.add_argument("-o", "--out", default=os.path.join(HERE, "results"),
                    help="where the JSON and plots go (default perf/results)")
    ap.add_argument("--machine", default="",
                    help="a note naming the machine, kept in the report "
                    "(e.g. '2-core VM')")
    ap.add_argument("--no-plots", action="store_true")
    ap.add_argument("--timeout", type=int,
                    help="seconds one run may take (default 120, --full 900)")
    ap.add_argument("-B", "--build", default=os.path.join(ROOT,
                                                          "build-release"),
                    help="the release build directory")
    ap.add_argument("-l", "--list", action="store_true",
                    help="list the workloads and exit")
    ap.add_argument("--plot", metavar="RESULT.json",
                    help="only (re)draw the plots of a result file")
    opts = ap.parse_args(argv)
    try:
        opts.scheds = [int(s) for s in opts.schedulers.split(",")]
    except ValueError:
        ap.error("--schedulers: a comma-separated list of counts")
    if not opts.scheds or min(opts.scheds) < 1:
        ap.error("--schedulers: counts from 1 up")
    opts.reps = opts.reps or (FULL_REPS if opts.full else QUICK_REPS)
    opts.timeout = opts.timeout or (900 if opts.full else 120)
    opts.workload = [w for arg in opts.workload for w in arg.split(",") if w]
    return opts


def replot(path):
    """The plots of an existing result file, beside it."""
    with open(path) as f:
        res = json.load(f)
    names = ["lwp"] + res["options"]["peers"]
    files = write_plots(res, path[:-len(".json")], names, Progress())
    for p in files:
        print("plot     %s" % os.path.relpath(p))
    return 0 if files else 1


def main(argv):
    opts = parse_args(argv)
    if opts.plot:
        return replot(opts.plot)
    exe = os.path.join(opts.build, "perf", "lwp-bench")
    if not os.access(exe, os.X_OK):
        sys.exit("bench: %s not built (./run bench builds it)" % exe)
    lwp = Lwp(exe)
    extras = {w: LwpExtra(p, w) for w, p in
              extra_executables(opts.build).items()}
    order = [b["name"] for b in lwp.benches] + list(extras)
    once = {b["name"] for b in lwp.benches if b["once"]}
    if opts.list:
        for b in lwp.benches:
            print("%-12s %s" % (b["name"], b["what"]))
        for w, e in extras.items():
            print("%-12s %s (RESULT protocol)" % (w, e.exe))
        return 0
    unknown = [w for w in opts.workload if w not in order]
    if unknown:
        sys.exit("bench: no workload %s (-l lists them)" % ", ".join(unknown))
    workloads = [w for w in order if not opts.workload or w in opts.workload]
    prog = Progress()
    peers = []
    if opts.peers:
        prog.show("building the peers")
        peers = [Peer(lang, os.path.join(opts.build, "perf", "peers"))
                 for lang in PEERS]
    impl_names = ["lwp"] + [p.name for p in peers]
    res = {"tool": "lwp perf/bench.py", "format": 1,
           "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
           "machine": machine_description(opts, peers),
           "options": {"mode": "full" if opts.full else "quick",
                       "reps": opts.reps, "warmup": 1,
                       "schedulers": opts.scheds, "pin": opts.pin,
                       "scale": {w: scale_of(w, opts) for w in workloads},
                       "peers": [p.name for p in peers],
                       "argv": argv},
           "figures": [], "latency": [], "skipped": [], "failed": []}
    for wl in workloads:
        impls = [extras[wl] if wl in extras else lwp] + \
            [p for p in peers if wl in p.workloads]
        for s in opts.scheds[:1] if wl in once else opts.scheds:
            cells = measure(wl, s, impls, scale_of(wl, opts), opts, prog)
            for name, cell in cells.items():
                res["figures"] += summarise(wl, s, name, cell,
                                            scale_of(wl, opts), lwp.figures)
                res["latency"] += latencies(wl, s, name, cell)
                for what, why in (("skipped", cell.skip),
                                  ("failed", cell.failed)):
                    if why:
                        res[what].append({"workload": wl, "impl": name,
                                          "sched": s, "why": why})
    add_ratios(res["figures"])
    if opts.instructions:
        res["instructions"] = instructions(opts, prog)
    if opts.trace:
        traces(opts, lwp, [w for w in workloads if w not in extras],
               opts.scheds, prog)
    res["machine"]["loadavg_end"] = os.getloadavg()[0]
    res["elapsed_s"] = round(time.monotonic() - prog.t0, 1)
    os.makedirs(opts.out, exist_ok=True)
    stem = os.path.join(opts.out, "%s-%s-%s-%s" % (
        time.strftime("%Y%m%d-%H%M%S"), res["machine"]["host"],
        res["machine"]["lwp_commit"], res["options"]["mode"]))
    with open(stem + ".json", "w") as f:
        json.dump(res, f, indent=1)
        f.write("\n")
    plots = [] if opts.no_plots else write_plots(res, stem, impl_names, prog)
    prog.say("")
    print(machine_text(res["machine"]))
    print("run      %s mode, median of %d runs after a warm-up, pin %s, "
          "scale %s; %s elapsed" % (
              res["options"]["mode"], opts.reps, opts.pin,
              "x%g" % opts.scale if opts.scale else "1" if opts.full else
              "x0.1-x0.2 (quick: README.md)", prog.elapsed()))
    print("cells    median (min-max) of the runs; 'Nx better (peer)': lwp's "
          "median is N times better than the best peer's\n")
    print_table(res, impl_names)
    if res.get("instructions"):
        print("\ninstructions per operation (callgrind, 1 scheduler):")
        for i in res["instructions"]:
            print("  %-11s %8.1f Ir/op  (%d ops)" % (i["workload"],
                                                   i["ir_per_op"], i["ops"]))
    print("\nresults  %s" % os.path.relpath(stem + ".json"))
    for p in plots:
        print("plot     %s" % os.path.relpath(p))
    failed = res["failed"] or (opts.instructions and not res["instructions"])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
