"""The table printed on stdout and BENCHMARKS.md."""

import os
import platform
import subprocess

from . import loopback, network, stats
from .workloads import Metric

# Targets for the sandbox platforms: (issue, metric, test[, runtimes]). A
# test takes (median of the platform, medians of every runtime, the metric)
# and returns (met, how far off, the target in words); `runtimes`, when
# given, is the set of sandbox runtimes the target is for (all otherwise).


def _limit(key, limit, unit):
    def test(value, _all, _m):
        return value <= limit, f"{value / limit:.2f}× the limit", f"≤ {limit:g} {unit}"
    return key, test


def _vs(key, runtime, factor, words):
    def test(value, all_medians, _m):
        ref = all_medians.get(runtime)
        if ref is None:
            return None, f"no {runtime} figure", words
        bound = ref * factor
        return value <= bound if factor != 1 else value < bound, f"{value / ref:.2f}× {runtime}", words
    return key, test


def _as_good(key, runtime, share=1.0):
    """At least `share` of the reference's figure (a rate: higher is
    better), or at most 1/`share` of it (a latency); as good when 1."""
    def test(value, all_medians, m):
        ref = all_medians.get(runtime)
        words = (f"as good as {runtime}" if share == 1 else
                 f"≥ {share:g}× {runtime}" if not m.lower_is_better else f"≤ {1 / share:g}× {runtime}")
        if not ref or not value:
            return None, f"no {runtime} figure", words
        ratio = value / ref
        if m.lower_is_better:
            met = value <= ref / share
            off = f"{ratio:.2f}× {runtime}'s" + ("" if met else f" ({(value * share / ref - 1) * 100:.0f}% too slow)")
        else:
            met = value >= ref * share
            off = f"{ratio:.2f}× {runtime}'s" + ("" if met else f" ({(1 - value / (ref * share)) * 100:.0f}% short)")
        return met, off, words
    return key, test


SENTRY = frozenset({"sandbox-ptrace", "sandbox-seccomp"})
MICROVM = frozenset({"sandbox-kvm"})

TARGETS = [
    (5, *_limit("getpid", 4000, "ns")),
    (5, *_limit("open", 25, "us")),
    (5, *_limit("exec", 2500, "us")),
    (5, *_vs("lifecycle", "runc", 1.5, "≤ 1.5× runc")),
    (5, *_vs("lifecycle", "runsc", 1, "faster than runsc")),
    (5, *_limit("idle-rss", 15, "MiB")),
    # Issue 12: every network figure at least as good as runsc's in the
    # same run, and the TCP throughputs at least half of runc's.
    *[(12, *_as_good(m.key, "runsc")) for m in network.METRICS],
    *[(12, *_as_good(key, "runc", 0.5)) for key in network.THROUGHPUT],
    # Issue 13: over loopback, redis at least a quarter of runc's
    # requests/s on the sentry platforms and a tenth on the microvm (kvm);
    # HTTP (nginx) a quarter on every platform; everything at least as good
    # as runsc.
    *[(13, *_as_good(key, "runc", 0.25), SENTRY) for key in loopback.REDIS],
    *[(13, *_as_good(key, "runc", 0.1), MICROVM) for key in loopback.REDIS],
    *[(13, *_as_good(key, "runc", 0.25)) for key in loopback.HTTP],
    *[(13, *_as_good(m.key, "runsc")) for m in loopback.METRICS],
]


def _cmd_line(cmd):
    try:
        out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=20)
        return out.stdout.decode(errors="replace").strip().splitlines()[0]
    except (OSError, subprocess.TimeoutExpired, IndexError):
        return "unknown"


def machine(sandbox, repo):
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    mem = "unknown"
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    rev = _cmd_line(["git", "-C", repo, "log", "-1", "--format=%h"])
    profile = "release" if "/release/" in sandbox else "debug" if "/debug/" in sandbox else "?"
    return [
        f"CPU: {cpu}, {os.cpu_count()} cores; memory {mem}; kernel {platform.release()}",
        f"/dev/kvm: {'yes' if os.path.exists('/dev/kvm') else 'no'}",
        f"runc: {_cmd_line(['runc', '--version'])}; runsc: {_cmd_line(['runsc', '--version'])}",
        f"sandbox: {sandbox} ({profile} build), commit {rev}",
    ]


class Report:
    def __init__(self, runtimes):
        self.runtimes = runtimes  # names, in column order
        self.metrics = {}  # key -> Metric, in first-seen order
        self.sections = {}  # key -> section title
        self.values = {}  # key -> runtime -> [values]
        self.failures = []  # (runtime, what, why)
        self.notes = []

    def add(self, section, metric, runtime, value):
        self.metrics.setdefault(metric.key, metric)
        self.sections.setdefault(metric.key, section)
        self.values.setdefault(metric.key, {}).setdefault(runtime, []).append(value)

    def fail(self, runtime, what, why):
        self.failures.append((runtime, what, why))
        print(f"FAILED [{runtime}] {what}: {why}", flush=True)

    def medians(self, key):
        return {rt: stats.median(v) for rt, v in self.values.get(key, {}).items()}

    # --- tables -----------------------------------------------------------
    def _figures(self, section):
        head = ["workload", "unit", *self.runtimes]
        rows = []
        for key, m in self.metrics.items():
            if self.sections[key] != section:
                continue
            vals = self.values[key]
            rows.append([m.label, m.unit + ("" if m.lower_is_better else " (higher is better)"),
                         *(stats.cell(vals.get(rt, [])) for rt in self.runtimes)])
        return head, rows

    def _ratios(self, reference):
        others = [rt for rt in self.runtimes if rt.startswith("sandbox")]
        head = ["workload", *others]
        rows = []
        for key, m in self.metrics.items():
            med = self.medians(key)
            ref = med.get(reference)
            if ref is None or not m.ratio:
                continue
            rows.append([m.label, *(stats.ratio(stats.slowdown(m, med.get(rt), ref)) for rt in others)])
        return head, rows

    def _targets(self):
        head = ["issue", "target", "runtime", "median", "wanted", "result"]
        rows = []
        for issue, key, test, *only in TARGETS:
            m = self.metrics.get(key)
            if m is None:
                continue
            med = self.medians(key)
            for rt in self.runtimes:
                if not rt.startswith("sandbox") or med.get(rt) is None or (only and rt not in only[0]):
                    continue
                met, off, words = test(med[rt], med, m)
                verdict = "—" if met is None else ("met" if met else "MISSED")
                rows.append([str(issue), m.label, rt, f"{stats.fmt(med[rt])} {m.unit}", words,
                             f"{verdict} ({off})"])
        return head, rows

    def target_summary(self):
        """'N of M met' per issue, for the targets with a verdict."""
        out = []
        _, rows = self._targets()
        for issue in sorted({r[0] for r in rows}, key=int):
            got = [r[5] for r in rows if r[0] == issue and not r[5].startswith("—")]
            met = sum(1 for r in got if r.startswith("met"))
            out.append(f"issue {issue}: {met} of {len(got)} targets met")
        return out

    def section_titles(self):
        seen = []
        for key in self.metrics:
            if self.sections[key] not in seen:
                seen.append(self.sections[key])
        return seen

    # --- output -----------------------------------------------------------
    def print_text(self):
        for title in self.section_titles():
            _text_table(title, *self._figures(title))
        for ref in ("runc", "runsc"):
            if ref in self.runtimes:
                _text_table(f"slowdown against {ref} (median / median; < 1: better)", *self._ratios(ref))
        _text_table("targets", *self._targets())
        for line in self.target_summary():
            print(line)
        for note in self.notes:
            print(f"NOTE: {note}")
        for rt, what, why in self.failures:
            print(f"FAILED [{rt}] {what}: {why}")

    def markdown(self, header, descriptions, profile_notes):
        out = ["# Benchmarks", ""]
        out += header
        out += ["", "## What is measured", ""]
        out += [f"- **{name}**: {about}" for name, about in descriptions]
        out += ["", "Cells: median (min–max) over the rounds. Ratios: how many times slower "
                "(or bigger) than the reference, median over median, whichever way the "
                "figure goes (< 1× is better than the reference).", ""]
        for title in self.section_titles():
            out += [f"## {title}", "", *_md_table(*self._figures(title)), ""]
        for ref in ("runc", "runsc"):
            if ref in self.runtimes:
                out += [f"## Against {ref}", "", *_md_table(*self._ratios(ref)), ""]
        out += ["## Targets", "", "Issue 5: the system-call, life-cycle and memory targets. Issue 12: "
                "every network figure at least as good as runsc's in the same run, and TCP throughput "
                "at least half of runc's. Issue 13: over loopback (server and client in one container), "
                "redis requests/s at least 25% of runc's on the sentry platforms (ptrace, seccomp) and 10% "
                "on the microvm (kvm), nginx requests/s at least 25% of runc's, every loopback figure at "
                "least as good as runsc's. The result gives the median's ratio to the reference and, "
                "when missed, by how much.", "", *_md_table(*self._targets()), "",
                *[f"- {line}" for line in self.target_summary()], ""]
        if self.notes or self.failures:
            out += ["## Notes", ""]
            out += [f"- {n}" for n in self.notes]
            out += [f"- FAILED [{rt}] {what}: {why}" for rt, what, why in self.failures]
            out += [""]
        if profile_notes:
            out += [profile_notes.strip(), ""]
        return "\n".join(out)


def _text_table(title, head, rows):
    if not rows:
        return
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    print(f"\n== {title}")
    for r in [head, *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip())


def _md_table(head, rows):
    if not rows:
        return ["(no figures)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return lines


# Metrics of the container-level measurements.
LIFECYCLE = Metric("lifecycle", "create+start+wait+delete of /bin/true", "ms")
DOCKER_RUN = Metric("docker-run", "docker run --rm IMG true", "ms")
IDLE_RSS = Metric("idle-rss", "idle sleep container: RSS of its host processes (sum)", "MiB")
IDLE_PSS = Metric("idle-pss", "idle sleep container: PSS of its host processes (sum)", "MiB")
IDLE_PROCS = Metric("idle-procs", "idle sleep container: host processes", "count", ratio=False)
SCALE_TIME = Metric("scale-time", "start N containers at once: time until all started", "s")
SCALE_HOST = Metric(
    "scale-host", "start N containers at once: host memory used (MemAvailable drop)", "MiB", ratio=False
)
SCALE_PSS = Metric("scale-pss", "start N containers at once: PSS of their host processes", "MiB")
