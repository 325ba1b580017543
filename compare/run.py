#!/usr/bin/env python3
"""Joey beside gVisor and the MicroVM path: `make compare` writes docs/COMPARISON.md.

One run measures, side by side on this machine: native processes (runc for the container
paths), Joey on each platform the machine can run, runsc (`--platform=ptrace`) and a MicroVM
(QEMU's `microvm` machine with Debian's kernel, compare/microvm.py), in four parts:
isolation (seccomp allow-lists read from the running processes, host system calls seen
during a workload, what a guest reaches, trusted code), compatibility (Joey's compat suite on
every runner), efficiency (start-up, micro-costs, workloads) and density (N sandboxes
started at once: time until all have printed, host memory each). The report, its charts
(docs/compare-*.svg) and every sample (docs/compare.json) are generated; do not edit them.
COMPARE_QUICK=1 (or --quick) is a smaller run of the same sections.
"""
import argparse
import importlib.util
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DOCS = os.path.join(ROOT, "docs")
WORK = "/var/tmp/joey-compare"  # not /tmp: that is each Joey sandbox's own tmpfs
# Each run's container state roots and ids (runsc names its control sockets after the id,
# machine-wide): what a run that died left cannot collide with the next.
STATE = os.path.join(WORK, f"state-{os.getpid()}")
RUN = os.getpid()
sys.path.insert(0, HERE)
import microvm  # noqa: E402
import seccomp_filters  # noqa: E402


def load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, os.path.dirname(path))
    spec.loader.exec_module(module)
    return module


bench = load("joey_bench", os.path.join(ROOT, "bench", "run.py"))
compat = load("joey_compat", os.path.join(ROOT, "compat", "run.py"))
cpython = load("joey_cpython", os.path.join(ROOT, "Tests", "cpython", "run.py"))

MICRO = ["getpid", "getpid-syscall", "open-read-close", "pipe-pingpong", "fork-exit-wait", "execve", "thread-create-join"]


def sha_job(mib):
    """A shell job every runner can run: `mib` MiB written into /tmp, then hashed (busybox)."""
    return (f"busybox sh -c 'busybox head -c {mib << 20} /dev/zero > /tmp/cmp.$$ && busybox sha256sum /tmp/cmp.$$ "
            "&& busybox rm /tmp/cmp.$$'")


class Runner:
    """One way of running a program. `prefix` runs a host program in a fresh sandbox (None:
    the runner cannot, like the MicroVM, whose programs live in its initramfs); `oci` is the
    runtime's command for containers (None: no container path)."""

    def __init__(self, name, prefix, oci=None, label=None):
        self.name, self.prefix, self.oci, self.label = name, prefix, oci, label or name


def find_runners(joey, vm):
    """bench's runners (every Joey platform that runs here, runsc when installed), each with
    its container command, and the MicroVM when it boots."""
    found = []
    for name, prefix in bench.runners(joey):
        if name == "native":
            found.append(Runner(name, prefix, oci=["runc"] if shutil.which("runc") else None, label="native (runc for containers)"))
        elif name.startswith("joey-"):
            found.append(Runner(name, prefix, oci=[joey, "--platform", name[len("joey-"):]]))
        else:
            found.append(Runner(name, prefix, oci=[prefix[0], "--platform=ptrace", "--network=none"]))
    if vm.accel:
        found.append(Runner("microvm", None, label=f"microvm ({vm.accel.upper()})"))
    return found


# ---- what every runner runs -------------------------------------------------------------

def prepare(joey):
    os.makedirs(WORK, exist_ok=True)
    hello = os.path.join(WORK, "hello")
    bench.sh(["gcc", "-O2", "-static", "-o", hello, os.path.join(HERE, "hello.c")])
    micro = os.path.join(WORK, "micro")
    bench.sh(["gcc", "-O2", "-static", "-pthread", "-o", micro, os.path.join(ROOT, "bench", "micro.c")])
    bundle = os.path.join(WORK, "bundle")
    shutil.rmtree(bundle, ignore_errors=True)
    os.makedirs(os.path.join(bundle, "rootfs"))
    shutil.copy(hello, os.path.join(bundle, "rootfs", "hello"))
    bench.sh([joey, "spec"], cwd=bundle)
    with open(os.path.join(bundle, "config.json")) as fh:
        config = json.load(fh)
    config["process"]["args"] = ["/hello", "3600"]
    config["process"]["terminal"] = False
    config["root"]["readonly"] = True
    with open(os.path.join(bundle, "config.json"), "w") as fh:
        json.dump(config, fh, indent=1)
    return hello, micro, bundle


def first_output(cmd, word=b"ready"):
    """Seconds from starting `cmd` until `word` is on its stdout."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd="/")
    seen = None
    for line in p.stdout:
        if seen is None and word in line:
            seen = time.perf_counter() - t0
    p.wait()
    if seen is None:
        raise RuntimeError(f"{' '.join(cmd)}: never printed {word!r}")
    return seen


def pctl(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def startup(runners, vm, hello, rounds):
    """Start-up to first output of a static program, p50 and p95 over `rounds` starts each
    (a quarter as many MicroVM boots under TCG, each seconds of CPU)."""
    image = vm.image("hello", {"hello": hello}, "/hello\n") if vm.accel else None
    samples = {r.name: [] for r in runners}
    for i in range(rounds):
        for r in runners:
            if r.name != "microvm":
                samples[r.name].append(first_output(r.prefix + [hello]))
            elif vm.accel == "kvm" or i % 4 == 0:
                samples[r.name].append(first_output(vm.command(image)))
    return {n: {"p50": pctl(v, 50), "p95": pctl(v, 95), "samples": v} for n, v in samples.items()}


def micro_costs(runners, vm, micro, quick):
    """bench/micro.c's operations, each runner in turn, the median of 3 rounds (1 when quick)."""
    sizes = dict(bench.MICRO)
    scale = 10 if quick else 1
    samples = {r.name: {n: [] for n in MICRO} for r in runners}
    for _ in range(1 if quick else 3):
        for r in runners:
            if r.name == "microvm":
                script = "".join(f"/micro {n} {max(1, sizes[n] // scale)} /job.sh\n" for n in MICRO)
                text = vm.run(vm.image("micro", {"micro": micro}, script))
                for p in (l.split() for l in text.splitlines()):
                    if len(p) == 2 and p[0] in MICRO:
                        samples[r.name][p[0]].append(float(p[1]))
            else:
                for n in MICRO:
                    samples[r.name][n].append(bench.run_micro(r.prefix, micro, n, max(1, sizes[n] // scale)))
    return {r: {n: statistics.median(v) for n, v in ops.items() if v} for r, ops in samples.items()}


def workloads(runners, vm, rounds, mib):
    """Whole commands timed from outside, sandbox start-up included."""
    sha = sha_job(mib)
    jobs = [("python3 -c pass", ["/usr/bin/python3", "-c", "pass"]),
            (f"{mib} MiB into /tmp and sha256sum it (busybox)", ["/bin/sh", "-c", sha])]
    out = {}
    for title, cmd in jobs:
        samples = {}
        for _ in range(rounds):
            for r in runners:
                if r.name == "microvm":
                    if "python3" in cmd[0]:
                        continue  # the initramfs holds static programs only
                    # Timed inside the VM: its boot is the start-up section's.
                    # /proc/uptime's 10 ms steps: the job takes seconds under TCG.
                    text = vm.run(vm.image("sha", {}, "busybox cat /proc/uptime\n" + sha + "\nbusybox cat /proc/uptime\n"))
                    up = [float(l.split()[0]) for l in text.splitlines() if re.match(r"^\d+\.\d+ \d+\.\d+$", l.strip())]
                    if len(up) != 2:
                        raise RuntimeError(f"microvm: the workload printed no times: {text[-500:]}")
                    samples.setdefault(r.name, []).append(up[1] - up[0])
                    continue
                t0 = time.perf_counter()
                subprocess.run(r.prefix + cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd="/", timeout=900)
                samples.setdefault(r.name, []).append(time.perf_counter() - t0)
        out[title] = {n: statistics.median(v) for n, v in samples.items()}
    return out


# ---- density ----------------------------------------------------------------------------

def mem_available():
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 0


def pids():
    return {int(p) for p in os.listdir("/proc") if p.isdigit()}


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().split(b"\0")
    except OSError:
        return []


def parent(pid):
    """The parent's pid; None for a process gone or a zombie (a runtime's CLI that exited
    and is not reaped yet is no process the sandbox holds)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return None if fields[0] == "Z" else int(fields[1])
    except (OSError, ValueError, IndexError):
        return None


def held(d):
    """Host memory one idle sandbox holds: the larger of its PSS and MemAvailable's fall
    (which moves with the page cache too, so small N can read near zero)."""
    return max(d["pss"], d["available_drop"])


def pss(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def density(runner, vm, bundle, n):
    """Starts `n` sandboxes at once, each running /hello (prints `ready`, then sleeps); the
    time until all have printed, each one's latency, and the host memory they hold idle:
    summed PSS of the host processes that appeared, and MemAvailable's fall (kernel memory
    included: page tables, namespaces)."""
    outdir = os.path.join(WORK, "density")
    shutil.rmtree(outdir, ignore_errors=True)
    os.makedirs(outdir)
    root = os.path.join(STATE, runner.name)
    before, avail0 = pids(), mem_available()
    image = vm.image("idle", {"hello": os.path.join(bundle, "rootfs", "hello")}, "/hello 3600\n") if runner.name == "microvm" else None
    t0 = time.perf_counter()
    procs = []
    for i in range(n):
        with open(os.path.join(outdir, str(i)), "w") as out:
            cmd = vm.command(image) if image else runner.oci + ["--root", root, "run", "--detach", "--bundle", bundle, f"cmp{RUN}-{i}"]
            procs.append(subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL))
    latency = {}
    deadline = t0 + (60 + 15 * n if image else 60 + n)
    while len(latency) < n and time.perf_counter() < deadline:
        for i in range(n):
            if i not in latency:
                with open(os.path.join(outdir, str(i)), "rb") as fh:
                    if b"ready" in fh.read():
                        latency[i] = time.perf_counter() - t0
        time.sleep(0.002)
    time.sleep(2)  # idle: let start-up's transient memory go
    # Kernel threads started meanwhile (kthreadd's children) are not the sandboxes', nor the
    # exited CLIs (`run --detach`) still waiting to be reaped.
    fresh = {p for p in pids() - before - {os.getpid()} if parent(p) not in (None, 2)}
    held = sum(pss(p) for p in fresh)
    avail1 = mem_available()
    # Ended in parallel: runsc takes a second or more to delete one.
    enders = []
    for i, p in enumerate(procs):
        if image:
            p.kill()
        else:
            enders.append(subprocess.Popen(runner.oci + ["--root", root, "delete", "--force", f"cmp{RUN}-{i}"],
                                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    for p in procs + enders:
        p.wait()
    # What a runtime's delete left running (runsc's, when several run at once, can leave a
    # sandbox behind without its state) would skew every later measurement. Only processes
    # named after this run's files are ours to end (a sentry's end ends its stubs).
    for p in fresh:
        if any(WORK.encode() in a for a in cmdline(p)):
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass
    lat = sorted(latency.values())
    return {"n": n, "printed": len(lat), "all": lat[-1] if len(lat) == n else None,
            "p50": pctl(lat, 50) if lat else None, "p99": pctl(lat, 99) if lat else None,
            "pss": held / n, "processes": len(fresh) / n, "available_drop": (avail0 - avail1) / n}


def busy_seconds():
    """CPU time the whole machine has spent busy (every core), from /proc/stat."""
    with open("/proc/stat") as fh:
        v = [int(x) for x in fh.readline().split()[1:]]
    return (sum(v) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK")


def container_path(joey, bundle, n):
    """Where one Joey container's start goes, containers started one at a time: the floor of
    any `joey` command (`--version`), `create` (the CLI reads config.json and spawns the
    sentry, which sets up its namespaces and confinement and loads the program, then
    reports ready), `start` until the first output; and the CPU a whole `run --detach`
    costs the machine (every process it makes, measured machine-wide)."""
    root = os.path.join(STATE, "path")
    out = os.path.join(WORK, "path.out")
    steps = {"floor": [], "create": [], "start": []}
    for i in range(n):
        t0 = time.perf_counter()
        subprocess.run([joey, "--version"], check=True, stdout=subprocess.DEVNULL)
        t1 = time.perf_counter()
        with open(out, "w") as fh:
            subprocess.run([joey, "--root", root, "create", "--bundle", bundle, f"p{i}"], check=True, stdout=fh,
                           stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        t2 = time.perf_counter()
        subprocess.run([joey, "--root", root, "start", f"p{i}"], check=True)
        while b"ready" not in open(out, "rb").read():
            time.sleep(0.0005)
        t3 = time.perf_counter()
        subprocess.run([joey, "--root", root, "delete", "--force", f"p{i}"], check=True)
        steps["floor"].append(t1 - t0)
        steps["create"].append(t2 - t1)
        steps["start"].append(t3 - t2)
    time.sleep(1)
    idle0 = busy_seconds()
    time.sleep(1)
    background = busy_seconds() - idle0  # what the machine does anyway, per second
    c0, t0 = busy_seconds(), time.perf_counter()
    for i in range(n):
        subprocess.run([joey, "--root", root, "run", "--detach", "--bundle", bundle, f"c{i}"], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    time.sleep(0.5)  # the last sentries finish starting
    cpu = (busy_seconds() - c0 - background * (time.perf_counter() - t0)) / n
    for i in range(n):
        subprocess.run([joey, "--root", root, "delete", "--force", f"c{i}"], capture_output=True)
    return {k: statistics.median(v) for k, v in steps.items()} | {"cpu": cpu}


# ---- isolation --------------------------------------------------------------------------

def idle_sandbox_pids(runner, vm, bundle):
    """Starts one idle sandbox; [(role, pid)] of its host processes that run the runtime's
    code, and a function that ends it."""
    if runner.name == "microvm":
        p = subprocess.Popen(vm.command(vm.image("idle1", {"hello": os.path.join(bundle, "rootfs", "hello")}, "/hello 3600\n")),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1)
        return [("qemu", p.pid)], lambda: (p.kill(), p.wait())
    root = os.path.join(STATE, runner.name)
    subprocess.run(runner.oci + ["--root", root, "run", "--detach", "--bundle", bundle, f"iso{RUN}"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state = json.loads(bench.sh(runner.oci + ["--root", root, "state", f"iso{RUN}"]))
    roles = [("container init" if runner.name == "native" else "sentry", state["pid"])]
    if runner.name.startswith("runsc"):
        for p in pids():
            args = cmdline(p)
            if args and args[0].endswith(b"runsc-gofer") and any(root.encode() in a for a in args):
                roles.append(("gofer", p))
    return roles, lambda: subprocess.run(runner.oci + ["--root", root, "delete", "--force", f"iso{RUN}"], capture_output=True)


def allow_lists(runners, vm, bundle):
    names = seccomp_filters.load_names(os.path.join(ROOT, "syscalls", "linux_amd64.tsv"))
    out = {}
    for r in runners:
        if r.oci is None and r.name != "microvm":
            continue
        roles, stop = idle_sandbox_pids(r, vm, bundle)
        try:
            out[r.name] = {}
            for role, pid in roles:
                try:
                    out[r.name][role] = seccomp_filters.summarize(pid, names)
                except OSError as e:
                    out[r.name][role] = {"error": str(e)}
        finally:
            stop()
    return out


def host_calls(runners, vm, mib):
    """Distinct host system calls the runner's host processes made during the sha256 workload,
    from `perf trace -s` (a call a seccomp filter traps never reaches the host and is not seen)."""
    if subprocess.run(["perf", "trace", "-s", "--", "/bin/true"], capture_output=True).returncode != 0:
        return None
    out = {}
    for r in runners:
        cmd = vm.command(vm.image("sha1", {}, sha_job(mib) + "\n")) if r.name == "microvm" else r.prefix + ["/bin/sh", "-c", sha_job(mib)]
        log = os.path.join(WORK, "perf-trace.txt")
        subprocess.run(["perf", "trace", "-s", "-o", log, "--"] + cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd="/")
        calls, total = set(), 0
        with open(log) as fh:
            for line in fh:
                m = re.match(r"^\s+([a-z_0-9]+)\s+(\d+)\s+\d+\s+[\d.]+", line)
                if m:
                    calls.add(m.group(1))
                    total += int(m.group(2))
        out[r.name] = {"distinct": sorted(calls), "calls": total}
    return out


def guest_interface(joey):
    joey_table = json.loads(bench.sh([joey, "syscalls", "--format", "json"]))
    out = {"joey": {s: sum(1 for e in joey_table if e["support"] == s) for s in ("supported", "partial", "unsupported")}}
    runsc = shutil.which("runsc")
    if runsc:
        text = subprocess.run([runsc, "help", "syscalls"], capture_output=True, text=True).stdout
        section = text.split("linux/amd64:", 1)[-1].split("linux/arm64:", 1)[0]
        rows = re.findall(r"^\d+\s+\S+\s+(Full Support|Partial Support|Unimplemented)", section, re.M)
        out["runsc"] = {"supported": rows.count("Full Support"), "partial": rows.count("Partial Support"),
                        "unsupported": rows.count("Unimplemented")}
    return out


def lines_of_code():
    """Non-blank lines of Joey's trusted code: the sentry, platforms and runtime (Sources/)."""
    total = {}
    for base, _, files in os.walk(os.path.join(ROOT, "Sources")):
        for f in files:
            ext = os.path.splitext(f)[1]
            if ext in (".swift", ".c", ".h", ".S"):
                with open(os.path.join(base, f), errors="replace") as fh:
                    total[ext] = total.get(ext, 0) + sum(1 for l in fh if l.strip())
    return total


# ---- compatibility ----------------------------------------------------------------------

QUICK_FAMILIES = ["files", "pipes"]


def compatibility(runners, vm, quick):
    """Joey's compat suite (static builds) on every runner: cases passed of those that pass natively."""
    cases_dir = compat.CASES
    files = sorted(os.path.join(cases_dir, f) for f in os.listdir(cases_dir) if f.endswith(".c")
                   and (not quick or os.path.splitext(f)[0] in QUICK_FAMILIES))
    binaries = [b for b in compat.compile_all(files) if b[1] == "static"]
    results = {}
    for r in runners:
        got = {}
        if r.name == "microvm":
            script = "".join(f"echo '## {fam}'; /{fam}\n" for fam, _, _ in binaries)
            # The suite's binaries unpack into guest memory: 1 GiB for them and their cases.
            text = vm.run(vm.image("compat", {fam: path for fam, _, path in binaries}, script), timeout=1800, memory="1G")
            for chunk in text.split("## ")[1:]:
                fam = chunk.split("\n", 1)[0].strip()
                got.update({(fam, c): ok for c, (ok, _) in compat.parse(chunk).items()})
        else:
            for fam, _, path in binaries:
                res, _ = compat.run(r.prefix, path, 600)
                got.update({(fam, c): ok for c, (ok, _) in res.items()})
        results[r.name] = got
    native = {k for k, ok in results["native"].items() if ok}
    return {"families": len(binaries), "cases": len(native),
            "passed": {n: sum(1 for k in native if got.get(k)) for n, got in results.items()},
            "by_family": {n: {fam: [sum(1 for k in native if k[0] == fam and got.get(k)), sum(1 for k in native if k[0] == fam)]
                              for fam, _, _ in binaries} for n, got in results.items()}}


def third_party(runners, quick):
    """psutil's own tests (compat/psutil_suite.py: written against Linux, not against Joey) on
    native, Joey (systrap) and runsc: tests passed of those that pass natively. Full runs only."""
    if quick:
        return {"skipped": "quick mode"}
    why = compat.psutil_suite.missing()
    if why:
        return {"skipped": why}
    res = {r.name: compat.psutil_suite.run(r.prefix, 1200) for r in runners if r.name in ("native", "joey-systrap", "runsc-ptrace")}
    native = {t for t, ok in res["native"].items() if ok}
    return {"tests": len(native), "passed": {n: sum(1 for t in native if got.get(t)) for n, got in res.items()}}


# CPython's own test modules in the comparison: the socket, event, process and file modules
# real servers lean on (a subset of Tests/cpython's list: the whole list takes runsc an hour).
CPYTHON_MODULES = ["test_epoll", "test_selectors", "test_fcntl", "test_pty", "test_mmap", "test_httpservers",
                   "test_urllib2_localnet", "test_signal", "test_tempfile", "test_shutil", "test_posix"]


def cpython_modules(runners, quick):
    """CPython's test modules (Debian's libpython3.11-testsuite) on the runners that have
    Python: a module counts for a runner when it ends as it does natively (OK or not, with
    the same number of tests run), as Tests/cpython/run.py judges it."""
    if subprocess.run([cpython.PYTHON, "-c", "import test.support"], capture_output=True).returncode:
        return {"skipped": "/usr/bin/python3's test package is not installed (libpython3.11-testsuite)"}
    modules = CPYTHON_MODULES[:2] if quick else CPYTHON_MODULES
    out = {"modules": modules, "native": {}, "runs": {}}
    for m in modules:
        out["native"][m] = cpython.summary(cpython.run([], m, [], 600))
    for r in runners:
        if r.name in ("joey-systrap", "runsc-ptrace"):
            out["runs"][r.name] = {m: cpython.summary(cpython.run(r.prefix, m, [], 600)) for m in modules}
    return out


def cpython_same(native, got):
    return got[0] == native[0] and got[1].startswith("OK") == native[1].startswith("OK")


# ---- the report -------------------------------------------------------------------------

COLORS = {"native": "#777777", "joey-systrap": "#2a7ab0", "joey-ptrace": "#8fbbd9", "joey-kvm": "#3a9a5b",
          "runsc-ptrace": "#d9822b", "microvm": "#a23b72"}


def bar_chart(path, title, groups, unit, log=True, legend=None):
    """Horizontal grouped bars: groups = [(label, [(series, value)])]; log scale by default;
    `legend` names a series otherwise than by its key."""
    import math
    values = [v for _, s in groups for _, v in s if v and v > 0]
    if not values:
        return
    lo = 10 ** math.floor(math.log10(min(values))) if log else 0
    hi = max(values)
    decades = max(1, math.ceil(math.log10(hi / lo))) if log else 1
    bar, gap, left, width = 13, 12, 190, 520
    height = 50 + sum(len(s) * bar + gap for _, s in groups) + 45
    scale = (lambda v: width * math.log10(max(v, lo) / lo) / decades) if log else (lambda v: width * v / hi)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 90}" height="{height}" font-family="sans-serif" font-size="11">',
           f'<text x="10" y="20" font-size="14">{title}</text>']
    ticks = [lo * 10 ** d for d in range(decades + 1)] if log else [hi * i / 4 for i in range(5)]
    for t in ticks:
        gx = left + scale(t)
        out.append(f'<line x1="{gx:.1f}" y1="35" x2="{gx:.1f}" y2="{height - 40}" stroke="#ddd"/>')
        out.append(f'<text x="{gx:.1f}" y="{height - 27}" text-anchor="middle" font-size="9">{unit(t)}</text>')
    y = 40
    for label, series in groups:
        out.append(f'<text x="{left - 6}" y="{y + len(series) * bar / 2 + 4:.1f}" text-anchor="end">{label}</text>')
        for name, v in series:
            if v and v > 0:
                out.append(f'<rect x="{left}" y="{y}" width="{max(1.0, scale(v)):.1f}" height="{bar - 2}" fill="{COLORS.get(name, "#999")}"/>')
                out.append(f'<text x="{left + max(1.0, scale(v)) + 3:.1f}" y="{y + bar - 3}" font-size="9">{unit(v)}</text>')
            y += bar
        y += gap
    names = list(dict.fromkeys(n for _, s in groups for n, _ in s))
    for i, name in enumerate(names):
        lx = left + i * 100
        out.append(f'<rect x="{lx}" y="{height - 16}" width="10" height="10" fill="{COLORS.get(name, "#999")}"/>')
        out.append(f'<text x="{lx + 14}" y="{height - 7}">{(legend or {}).get(name, name)}</text>')
    out.append("</svg>")
    with open(path, "w") as fh:
        fh.write("\n".join(out) + "\n")


def allowed(s):
    """Named x86-64 calls a filter lets through (unassigned numbers it allows are not calls)."""
    return len(s["allowed"]) - s.get("unnamed_allowed", 0)


def secs(v):
    return bench.fmt_ns(v * 1e9) if v is not None else "—"


def mib(v):
    """MiB; a fall in MemAvailable below zero is the page cache's noise, shown as such."""
    if v is None:
        return "—"
    return f"{v / 2**20:.1f} MiB" if v >= 0 else "(noise)"


def write(data):
    m, names = data["machine"], data["runners"]
    labels = data["labels"]
    acc = data["microvm"]
    tcg = acc.get("accel") == "tcg"
    L = ["# Joey, gVisor and the MicroVM path, measured side by side", "",
         f"Generated by `make compare` (compare/run.py) on {m['date']}{' in quick mode (COMPARE_QUICK=1)' if data['quick'] else ''}; "
         "do not edit: every number below was measured in that one run on the machine described here. "
         "Charts: docs/compare-*.svg; every sample: docs/compare.json.", "",
         "## The machine and the runners", "",
         f"- {m['cpu']}, {m['cores']} cores, {m['memory_mib']} MiB; host kernel {m['kernel']}; /dev/kvm: {m['kvm']}",
         f"- Joey commit {m['joey_commit']} (release build); {m['runsc']}; {data['qemu']}",
         "- **native**: the program as a host process; for containers, runc (namespaces and cgroups, no sandbox).",
         "- **joey-*P***: `joey do --platform P` (programs) and `joey --platform P run --detach` (containers).",
         "- **runsc-ptrace**: gVisor's runsc with `--platform=ptrace --network=none` (`do`, and `run --detach`).",
         f"- **microvm**: QEMU {acc.get('qemu_version', '')} `-M microvm`, 1 vCPU, {microvm.MEMORY} of guest memory, Debian's kernel "
         f"({acc.get('kernel', '?')}), an initramfs with the static programs and busybox, one serial port and no other device, "
         "QEMU's own seccomp sandbox on.",
         ]
    if tcg:
        L += [f"  **Under TCG** (QEMU's instruction translator, no hardware virtualization): {acc.get('why_not_kvm')}. "
              "Every MicroVM figure here is TCG's: its CPU-bound work runs many times slower than it would under KVM, "
              "and its start-up is QEMU translating the kernel's boot. Published figures for MicroVMs on hardware KVM are "
              "quoted beside ours (their sources at the end); they were not measured here."]
    L.append("")

    # Isolation
    L += ["## Isolation", "",
          "### Host system calls each runtime's host processes may make",
          "",
          "Read from the seccomp filters installed in the running processes (PTRACE_SECCOMP_GET_FILTER, then every "
          "x86-64 system call number run through the filter, every argument-dependent branch followed: "
          "compare/seccomp_filters.py). *Allowed* counts calls some argument values let through; *conditional* those "
          "allowed only for some arguments.", "",
          "| runner | process | filters | allowed | of which conditional | otherwise |", "|---|---|---|---|---|---|"]
    for n, roles in data["allow_lists"].items():
        for role, s in roles.items():
            if "error" in s:
                L.append(f"| {labels[n]} | {role} | — | — | — | {s['error']} |")
            elif s["filters"] == 0:
                L.append(f"| {labels[n]} | {role} | none | every call | — | — |")
            else:
                L.append(f"| {labels[n]} | {role} | {s['filters']} ({s['instructions']} instructions) | {allowed(s)} | "
                         f"{len(s['conditional'])} | {s['default']} |")
    L += ["", "Joey's container sentry serves the container's network namespace with host sockets, so its list has the "
          "socket calls `joey debug seccomp --container --network host` explains; `joey do` with `--network=none` has fewer. "
          "The container init under runc has no filter here because the bundle asks for none: Docker's default profile "
          "\"disables around 44 system calls out of 300+\", and it confines the *guest*, which under runc is the only barrier.", ""]
    if data["host_calls"]:
        L += ["### Host system calls made while running a workload", "",
              f"`perf trace -s` over the whole runner while it writes {data['sha_mib']} MiB into /tmp and hashes it with busybox "
              "(start-up included). A call a runtime's seccomp filter traps never reaches the host and is not counted.", "",
              "| runner | distinct host calls | host calls in all |", "|---|---|---|"]
        for n, h in data["host_calls"].items():
            L.append(f"| {labels[n]} | {len(h['distinct'])} | {h['calls']} |")
        L.append("")
    gi = data["guest_interface"]
    L += ["### What a guest reaches", "",
          "| runner | the guest's system calls are answered by | implemented | partly | not (ENOSYS or an errno) | host interface behind it |",
          "|---|---|---|---|---|---|",
          "| native, runc | the host kernel | all | — | — | every host system call (runc: a seccomp profile if configured) |",
          f"| Joey | the sentry (Swift) | {gi['joey']['supported']} | {gi['joey']['partial']} | {gi['joey']['unsupported']} | "
          "the sentry's allow-list above |"]
    if "runsc" in gi:
        L.append(f"| runsc | the sentry (Go) | {gi['runsc']['supported']} | {gi['runsc']['partial']} | {gi['runsc']['unsupported']} | "
                 "the sentry's and gofer's allow-lists above |")
    L += ["| MicroVM | a guest Linux kernel | all of the guest kernel's | — | — | the VMM's virtual devices (here one serial "
          "port) and the CPU's virtualization (KVM) or QEMU's translator (TCG); the VMM's allow-list above |", ""]
    loc = data["loc"]
    L += ["### Trusted code", "",
          f"- Joey: {sum(loc.values()):,} non-blank lines in Sources/ (" + ", ".join(f"{v:,} {k}" for k, v in sorted(loc.items())) +
          "), counted in this run, plus the host kernel's system calls on its allow-list.",
          "- Counted once from public snapshots (not in this run; non-blank lines, tests and generated code left out): "
          "gVisor's `pkg/` and `runsc/` 383,365 lines of Go, its sentry (`pkg/sentry/`) alone 184,688 (google/gvisor "
          "3c5eee17, August 2026); Firecracker's `src/` 61,768 lines of Rust (firecracker-microvm/firecracker 81b38b9d). "
          "QEMU was too large to fetch here; Firecracker's paper puts it at 96% fewer lines than QEMU. A MicroVM "
          "also trusts the host kernel's KVM module, and the guest kernel is the guest's own (outside the host's TCB).", ""]

    # Compatibility
    c = data["compat"]
    L += ["## Compatibility", "",
          f"Joey's compat suite ({c['families']} families, static builds{', a quick subset' if data['quick'] else ''}): "
          f"cases passed of the {c['cases']} that pass natively. Each case is written against Linux first.", "",
          "| runner | passed | share |", "|---|---|---|"]
    for n in names:
        if n in c["passed"]:
            L.append(f"| {labels[n]} | {c['passed'][n]}/{c['cases']} | {100 * c['passed'][n] / max(1, c['cases']):.0f}% |")
    if "microvm" in c["passed"]:
        worst = sorted(((v[1] - v[0], fam) for fam, v in c["by_family"]["microvm"].items()), reverse=True)[:3]
        L += ["", "The MicroVM runs Linux itself (Debian's 6.1 kernel in place of the host's "
              f"{m['kernel']}), from an initramfs without the host's files or users; its misses are mostly there "
              "(most in: " + ", ".join(f"{fam} {n}" for n, fam in worst if n) + ")."]
    tp = data["third_party"]
    L += ["", "That suite is Joey's own: it tests what we thought of. A third-party suite written against Linux, "
          "psutil's own tests (they read nearly all of /proc and check it against ps, free and the kernel's calls), on the "
          "runners that have Python:", ""]
    if "skipped" in tp:
        L.append(f"- not run: {tp['skipped']}.")
    else:
        L += [f"- {labels[n]}: {v}/{tp['tests']} ({100 * v / max(1, tp['tests']):.0f}%)" for n, v in tp["passed"].items()]
    L.append("")
    cp = data.get("cpython", {"skipped": "not measured in this run"})
    L += ["CPython's own test modules (Debian's libpython3.11-testsuite, `python3 -m test -v MODULE`): a module counts "
          "when it ends as it does natively, with the same number of tests run.", ""]
    if "skipped" in cp:
        L += [f"- not run: {cp['skipped']}.", ""]
    else:
        runs = list(cp["runs"])
        L += ["| module | native | " + " | ".join(labels[n] for n in runs) + " |", "|---|---|" + "---|" * len(runs)]
        for mod in cp["modules"]:
            nat = cp["native"][mod]
            cells = [("as natively" if cpython_same(nat, cp["runs"][n][mod]) else f"{cp['runs'][n][mod][0]} run, {cp['runs'][n][mod][1]}")
                     for n in runs]
            L.append(f"| {mod} | {nat[0]} run, {nat[1]} | " + " | ".join(cells) + " |")
        L += ["", "Modules as natively: " + ", ".join(
            f"{labels[n]} {sum(cpython_same(cp['native'][m], cp['runs'][n][m]) for m in cp['modules'])}/{len(cp['modules'])}"
            for n in runs) + ". (The MicroVM's initramfs holds static programs only: no Python.)", ""]

    # Efficiency
    L += ["## Efficiency", "", "### Start-up to first output", "",
          f"A static program that prints one line, started {data['rounds']} times per runner, interleaved "
          "(the MicroVM a quarter as often under TCG); "
          "from the runner's start until the line is read.", "",
          "| runner | p50 | p95 |", "|---|---|---|"]
    for n in names:
        if n in data["startup"]:
            s = data["startup"][n]
            L.append(f"| {labels[n]} | {secs(s['p50'])} | {secs(s['p95'])} |")
    L += ["", "Published (hardware KVM, not measured here): Firecracker ≤125 ms from the InstanceStart call to the guest's "
          "/sbin/init (1 vCPU, 128 MiB, its tuned guest kernel); Kata Containers with Cloud Hypervisor 0.69 s to the "
          "workload (Kata's own CI baseline, 2023) and 850–950 ms end to end through CRI (Kuasar's benchmark).", "",
          "![start-up](compare-startup.svg)", "",
          "### Micro-costs", "", "Per operation, timed inside the sandbox (bench/micro.c, static); the median of "
          f"{1 if data['quick'] else 3} rounds.", "",
          "| operation | " + " | ".join(labels[n] for n in names if n in data["micro"]) + " |",
          "|---|" + "---|" * len(data["micro"])]
    for op in MICRO:
        L.append(f"| {op} | " + " | ".join(bench.fmt_ns(data["micro"][n][op]) if op in data["micro"][n] else "—"
                                           for n in names if n in data["micro"]) + " |")
    L += ["", "### Workloads", "", "Whole commands timed from outside (sandbox start-up included); in the MicroVM "
          "timed inside the guest (its boot is above).", "",
          "| workload | " + " | ".join(labels[n] for n in names) + " |", "|---|" + "---|" * len(names)]
    for title, res in data["workloads"].items():
        L.append(f"| {title} | " + " | ".join(secs(res.get(n)) for n in names) + " |")
    L.append("")

    # Density
    L += ["## Density and concurrent start", "",
          "N sandboxes started at once from one bundle (containers: `run --detach`; MicroVMs: N QEMU processes), each "
          "running a static program that prints `ready` and sleeps. *All printed*: from the first start until the last "
          "`ready`; latencies from the same instant. Memory is measured idle, 2 s after the last print: the summed PSS of "
          "the host processes that appeared (per sandbox), and the fall in MemAvailable per sandbox, which adds kernel "
          "memory (page tables, namespaces, sockets).", "",
          "| runner | N | all printed | p50 | p99 | PSS per sandbox | host memory per sandbox | host processes each |",
          "|---|---|---|---|---|---|---|---|"]
    for n in names:
        for d in data["density"].get(n, []):
            done = secs(d["all"]) if d["all"] is not None else f"{d['printed']}/{d['n']} printed"
            L.append(f"| {labels[n]} | {d['n']} | {done} | {secs(d['p50'])} | {secs(d['p99'])} | {mib(d['pss'])} | "
                     f"{mib(d['available_drop'])} | {d['processes']:.1f} |")
    budget = data["budget"]
    L += ["", f"**Largest N in a {budget // 2**30} GiB memory budget**, from the larger of the two memory figures per sandbox "
          "at the largest N measured (memory only: CPU, pids and the runtime's own limits are not counted):", ""]
    for n, v in data["max_n"].items():
        L.append(f"- {labels[n]}: about {v:,}")
    cp = data["container_path"]
    biggest = max(data["density"].get("joey-systrap", [{"n": 0}]), key=lambda d: d["n"])
    L += ["", "**Where a Joey container's start goes** (systrap, one container at a time, medians): any `joey` command costs "
          f"{secs(cp['floor'])} to start and exit (`joey --version`); `create` took {secs(cp['create'])} (the CLI parses its "
          "arguments and config.json and forks the sentry, which makes its namespaces, confines itself, starts its stub "
          "factory and loads the program, then reports ready); `start` to the "
          f"first output {secs(cp['start'])}. A whole `run --detach` costs the machine {secs(cp['cpu'])} of CPU, every process "
          f"it makes included, so {m['cores']} cores start at most {m['cores'] / cp['cpu']:.0f} containers a second"
          + (f"; N={biggest['n']} at once printed in {secs(biggest['all'])}, against {secs(biggest['n'] * cp['cpu'] / m['cores'])} "
             "of CPU divided over the cores" if biggest.get("all") else "") + "."]
    L += ["", "Published (not measured here): RunD starts over 200 secure containers in a second and deploys over 2,500 "
          "on a node with 384 GB (a 104-core Xeon node, per its artifact); Firecracker's VMM threads cost ≤5 MiB per "
          "MicroVM beside the guest's memory.", "",
          "![density](compare-density.svg)", "", "![memory](compare-memory.svg)", ""]

    # Conclusion
    L += ["## What the numbers say", ""] + data["conclusion"] + [""]
    L += ["For scale: gVisor's own count (2019) is 53 host system calls for its sentry without networking and 15 more "
          "with it; Docker's default profile disables about 44 of the 300-odd calls a runc container could make.", ""]
    L += ["## How to reproduce", "",
          "```", "make compare                 # about 20 minutes here", "COMPARE_QUICK=1 make compare # under 3 minutes", "```", "",
          "It needs runsc, runc, qemu-system-x86, perf (linux-perf) and root; `make compare` installs the packages. Debian's "
          "kernel is unpacked from its package into /var/tmp/joey-compare (nothing is installed on the host).", "",
          "## Sources of the published figures", "",
          "- Firecracker: SPECIFICATION.md in firecracker-microvm/firecracker (≤125 ms to guest /sbin/init, VMM threads "
          "≤5 MiB); Agache et al., *Firecracker: Lightweight Virtualization for Serverless Applications*, NSDI 2020 "
          "(\"approximately 50k lines of Rust code (96% fewer lines than QEMU)\", tests and bindings included).",
          "- Kata Containers: tests/metrics/cmd/checkmetrics/ci_worker/checkmetrics-json-clh-kata-metric8.toml in "
          "kata-containers/kata-containers (boot-times to-workload 0.69 s with Cloud Hypervisor, 2023); "
          "kuasar-io/kuasar tests/benchmark/Benchmark.md (Kata 2.5.2 with Cloud Hypervisor: 850–950 ms).",
          "- RunD: Li et al., *RunD: A Lightweight Secure Container Runtime for High-density Deployment and High-concurrency "
          "Startup in Serverless Computing*, USENIX ATC 2022, abstract; the node from the authors' artifact (lzjzx1122/RunD_ATC22).",
          "- gVisor: *gVisor Security Basics – Part 1*, gvisor.dev blog, 2019 (53 host calls, 15 more with networking).",
          "- Docker: docs.docker.com/engine/security/seccomp.", ""]
    with open(os.path.join(DOCS, "COMPARISON.md"), "w") as fh:
        fh.write("\n".join(L))

    # The MicroVM's accelerator in the legend too: TCG figures must not pass for KVM's.
    legend = {n: labels[n] for n in names if n == "microvm"}
    bar_chart(os.path.join(DOCS, "compare-startup.svg"), "Start-up to first output, p50 (log scale)",
              [(labels[n], [(n, data["startup"][n]["p50"])]) for n in names if n in data["startup"]], secs, legend=legend)
    ns = sorted({d["n"] for v in data["density"].values() for d in v})
    bar_chart(os.path.join(DOCS, "compare-density.svg"), "N sandboxes started at once: time until all printed (log scale)",
              [(f"N = {k}", [(n, d["all"]) for n in names for d in data["density"].get(n, []) if d["n"] == k]) for k in ns], secs, legend=legend)
    bar_chart(os.path.join(DOCS, "compare-memory.svg"), "PSS per idle sandbox at the largest N (log scale)",
              [(labels[n], [(n, data["density"][n][-1]["pss"])]) for n in names if data["density"].get(n)], mib, legend=legend)


def conclusion(data):
    """Sentences written from the numbers, not from expectations."""
    out = []
    st, dens, names = data["startup"], data["density"], data["runners"]
    joey = next((n for n in names if n == "joey-systrap"), None)
    if joey and "runsc-ptrace" in st:
        out.append(f"- **Start-up**: Joey (systrap) reaches a program's first output in {secs(st[joey]['p50'])}, "
                   f"{st['runsc-ptrace']['p50'] / st[joey]['p50']:.0f}× sooner than runsc ({secs(st['runsc-ptrace']['p50'])})"
                   + (f" and {st['microvm']['p50'] / st[joey]['p50']:.0f}× sooner than the MicroVM under TCG ({secs(st['microvm']['p50'])})"
                      if "microvm" in st else "")
                   + f"; native is {secs(st['native']['p50'])}. An application kernel starts a process, not a machine: "
                   "there is no firmware, kernel boot or device probing to wait for, which is also why a MicroVM on hardware "
                   "KVM, with no translation, still needs about 125 ms (Firecracker's published figure).")
    if joey and dens.get(joey) and dens.get("runsc-ptrace"):
        common = max({d["n"] for d in dens[joey]} & {d["n"] for d in dens["runsc-ptrace"]}, default=None)
        j = next((d for d in dens[joey] if d["n"] == common), None)
        r = next((d for d in dens["runsc-ptrace"] if d["n"] == common), None)
        if j and r and j["all"] and r["all"]:
            out.append(f"- **Density**: {j['n']} Joey containers started at once all printed in {secs(j['all'])}, "
                       f"{r['n']} runsc containers in {secs(r['all'])}; each idle Joey sandbox holds {mib(held(j))} "
                       f"of host memory against runsc's {mib(held(r))}"
                       + (f" and the MicroVM's {mib(held(dens['microvm'][-1]))} (under TCG: its translation cache included)" if dens.get("microvm") else "")
                       + ". A guest kernel's boot-time allocations and page cache are memory a sandbox that shares the host "
                       "kernel never spends.")
            most = max(dens[joey], key=lambda d: d["n"])
            if most["n"] > common and most["all"]:
                out[-1] += (f" {most['n']} Joey containers at once all printed in {secs(most['all'])} on these "
                            f"{data['machine']['cores']} cores (RunD's published figure: 200 in 1 s on a 104-vCPU node).")
    micro = data["micro"]
    if joey and "getpid" in micro.get(joey, {}) and "getpid" in micro.get("native", {}):
        line = (f"- **Where the MicroVM wins**: a system call inside a VM never leaves the guest: on hardware KVM it costs "
                f"what it costs natively ({bench.fmt_ns(micro['native']['getpid'])} here), where Joey's systrap pays "
                f"{bench.fmt_ns(micro[joey]['getpid'])} at a patched call site and {bench.fmt_ns(micro[joey]['getpid-syscall'])} "
                f"when the call traps, and runsc's ptrace platform {bench.fmt_ns(micro.get('runsc-ptrace', {}).get('getpid', 0))}.")
        if "microvm" in micro and "getpid" in micro["microvm"]:
            line += (f" Under TCG the MicroVM's getpid was {bench.fmt_ns(micro['microvm']['getpid'])}: this machine cannot show "
                     "that advantage, and its CPU-bound work (the workloads above) runs at TCG's speed.")
        out.append(line)
    if "runsc-ptrace" in st and dens.get("runsc-ptrace") and joey and "fork-exit-wait" in micro.get("runsc-ptrace", {}):
        out.append(f"- **Joey against gVisor**, the same design in another language: here Joey's systrap starts "
                   f"{st['runsc-ptrace']['p50'] / st[joey]['p50']:.0f}× sooner than runsc's ptrace platform, forks "
                   f"{micro['runsc-ptrace']['fork-exit-wait'] / micro[joey]['fork-exit-wait']:.1f}× faster and holds "
                   f"{held(dens['runsc-ptrace'][-1]) / max(held(dens[joey][-1]), 1):.1f}× less memory per sandbox. What this "
                   "does not measure: runsc's faster platforms (KVM, and systrap in releases newer than the one installed "
                   "here) and its years of compatibility work with real programs.")
    comp = data["compat"]["passed"]
    if joey in comp and "runsc-ptrace" in comp:
        out.append(f"- **Compatibility**: the MicroVM runs a real Linux kernel, so its compatibility is Linux's "
                   f"({comp.get('microvm', '—')} of {data['compat']['cases']} cases here, in a bare initramfs); Joey passed "
                   f"{comp[joey]} and runsc {comp['runsc-ptrace']} of this suite, which is Joey's own"
                   + (f"; of psutil's {data['third_party']['tests']} tests Joey passed {data['third_party']['passed'].get(joey)} "
                      f"and runsc {data['third_party']['passed'].get('runsc-ptrace')}" if "tests" in data["third_party"] else "")
                   + (f"; of {len(data['cpython']['modules'])} of CPython's own test modules, "
                      + " and ".join(f"{'Joey' if n == joey else 'runsc'} ended {sum(cpython_same(data['cpython']['native'][m], data['cpython']['runs'][n][m]) for m in data['cpython']['modules'])} as natively"
                                    for n in data["cpython"]["runs"])
                      if "modules" in data.get("cpython", {}) else "")
                   + ". A MicroVM needs no compatibility work at all: that is its strongest argument.")
    al = data["allow_lists"]
    if joey in al and "runsc-ptrace" in al:
        js = next(iter(al[joey].values()))
        rs = al["runsc-ptrace"]
        if "allowed" in js:
            out.append(f"- **Isolation**: a Joey guest reaches only the sentry; the sentry reaches {allowed(js)} host "
                       "system calls through its filter, runsc's " +
                       ", ".join(f"{role} {allowed(s)}" for role, s in rs.items() if "allowed" in s) +
                       (f", QEMU's deny-list lets {allowed(al['microvm']['qemu'])} through" if "microvm" in al and "allowed" in al["microvm"].get("qemu", {}) else "")
                       + ". A MicroVM's guest reaches a guest kernel and, behind it, the VMM's devices and KVM: a "
                       "smaller interface than a system call table, but with a whole VMM and the host's KVM behind it.")
    return out


def machine_info(joey):
    info = bench.machine()
    # The commit the measured binary was built from, not the checkout's.
    version = subprocess.run([joey, "--version"], capture_output=True, text=True).stdout
    info["joey_commit"] = next((l.split(":", 1)[1].strip() for l in version.splitlines() if l.startswith("commit:")), "unknown")
    qemu = subprocess.run(["qemu-system-x86_64", "--version"], capture_output=True, text=True).stdout.split("\n")[0] \
        if shutil.which("qemu-system-x86_64") else "QEMU not installed"
    return info, qemu


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--joey", default=os.path.join(ROOT, ".build/release/joey"))
    ap.add_argument("--quick", action="store_true", default=os.environ.get("COMPARE_QUICK") == "1")
    ap.add_argument("--budget-gib", type=int, default=16, help="memory budget for the largest-N estimate")
    ap.add_argument("--render", action="store_true",
                    help="write COMPARISON.md, its charts and conclusion again from docs/compare.json (a wording change; nothing is measured)")
    args = ap.parse_args()
    if args.render:
        with open(os.path.join(DOCS, "compare.json")) as fh:
            data = json.load(fh)
        data["conclusion"] = conclusion(data)
        with open(os.path.join(DOCS, "compare.json"), "w") as fh:
            json.dump(data, fh, indent=1, default=list)
        write(data)
        return
    if os.geteuid() != 0:
        sys.exit("compare: run as root (runc, runsc and reading seccomp filters need it)")
    if not os.path.exists(args.joey):
        sys.exit(f"compare: {args.joey} does not exist; `make compare` builds it first")
    t_start = time.perf_counter()
    hello, micro, bundle = prepare(args.joey)
    vm = microvm.MicroVM()
    why = vm.probe(hello)
    if why:
        print(f"compare: no MicroVM column: {why}", file=sys.stderr)
    runners = find_runners(args.joey, vm)
    info, qemu = machine_info(args.joey)
    rounds = 5 if args.quick else 20
    data = {"machine": info, "qemu": qemu, "quick": args.quick, "rounds": rounds,
            "runners": [r.name for r in runners], "labels": {r.name: r.label for r in runners},
            "microvm": {"accel": vm.accel, "why_not_kvm": vm.why_not_kvm, "qemu_version": qemu.split("version")[-1].split()[0] if "version" in qemu else "",
                        "kernel": os.path.basename(vm.kernel or "").replace("vmlinuz-", "")}}

    def step(name, f):
        t0 = time.perf_counter()
        print(f"compare: {name} ...", file=sys.stderr)
        v = f()
        print(f"compare: {name}: {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        return v

    data["startup"] = step("start-up", lambda: startup(runners, vm, hello, rounds))
    data["micro"] = step("micro-costs", lambda: micro_costs(runners, vm, micro, args.quick))
    data["sha_mib"] = 8 if args.quick else 64
    data["workloads"] = step("workloads", lambda: workloads(runners, vm, 1 if args.quick else 3, data["sha_mib"]))
    sizes = [10] if args.quick else [10, 50, 100]
    dens = {}
    for r in runners:
        if r.name == "microvm":
            # Under TCG each boot is seconds of CPU: a handful at once says what more would.
            ns = [3] if args.quick else ([10] if vm.accel == "tcg" else sizes)
        elif r.oci:
            ns = sizes if r.name in ("joey-systrap", "runsc-ptrace", "native") else sizes[:1]
        else:
            continue
        dens[r.name] = step(f"density {r.name}", lambda: [density(r, vm, bundle, n) for n in ns])
    if not args.quick and "joey-systrap" in dens:
        sysr = next(r for r in runners if r.name == "joey-systrap")
        dens["joey-systrap"].append(step("density joey-systrap N=200", lambda: density(sysr, vm, bundle, 200)))
    data["density"] = dens
    data["container_path"] = step("joey's container path", lambda: container_path(args.joey, bundle, 10 if args.quick else 30))
    data["budget"] = args.budget_gib << 30
    # The larger of the two memory figures: MemAvailable moves with the page cache too.
    data["max_n"] = {n: int(data["budget"] / held(v[-1])) for n, v in dens.items() if v}
    data["allow_lists"] = step("seccomp allow-lists", lambda: allow_lists(runners, vm, bundle))
    data["host_calls"] = step("host calls", lambda: host_calls(runners, vm, data["sha_mib"]))
    data["guest_interface"] = guest_interface(args.joey)
    data["loc"] = lines_of_code()
    data["compat"] = step("compat", lambda: compatibility(runners, vm, args.quick))
    data["third_party"] = step("psutil's tests", lambda: third_party(runners, args.quick))
    data["cpython"] = step("CPython's test modules", lambda: cpython_modules(runners, args.quick))
    data["conclusion"] = conclusion(data)
    data["seconds"] = time.perf_counter() - t_start
    os.makedirs(DOCS, exist_ok=True)
    with open(os.path.join(DOCS, "compare.json"), "w") as fh:
        json.dump(data, fh, indent=1, default=list)
    write(data)
    shutil.rmtree(STATE, ignore_errors=True)
    print(f"compare: wrote docs/COMPARISON.md in {data['seconds']:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
