#!/usr/bin/env python3
"""Joey's benchmarks: microbenchmarks and workloads, native vs Joey (each platform) vs runsc.

Runs every benchmark ROUNDS times, interleaving the runners (A B C A B C ...) so drift on
the machine hits all of them alike, and writes bench/RESULTS.md (medians, min/max, ratios to
native and to runsc, the machine), bench/results.json (every sample) and bench/ratios.svg.
Timing lives here only; no test asserts on it.

Microbenchmarks time themselves inside the sandbox (bench/micro.c prints ns per operation);
workloads are timed from outside, so they include starting the sandbox.
"""
import argparse
import datetime
import json
import os
import platform
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
WORK = "/var/tmp/joey-bench"  # not /tmp: that is each sandbox's own tmpfs

# name, iterations (sized so the slowest runner takes a second or two per sample)
MICRO = [
    ("getpid", 20000),
    ("getpid-syscall", 20000),
    ("clock_gettime", 200000),
    ("open-read-close", 3000),
    ("pipe-pingpong", 2000),
    ("pipe-pingpong-1000-blocked", 2000),
    ("open-read-close-1-cpu", 3000),
    ("open-read-close-2-processes", 3000),
    ("getpid-2-processes", 20000),
    ("getpid-beside-disk-reader", 1),
    ("getpid-beside-large-writes", 1),
    ("getpid-beside-mprotect-loop", 2000),
    ("fork-exit-wait", 100),
    ("fork-8MiB-touched-exit-wait", 50),
    ("execve", 50),
    ("mmap-touch-munmap-1MiB", 200),
    ("thread-create-join", 100),
    ("futex-pingpong", 2000),
    ("unix-socket-pingpong", 2000),
    ("tcp-loopback-pingpong", 2000),
    ("tcp-loopback-64KiB-write", 2000),
]

# The same microbenchmark in two sandboxes started at once (two native processes for native):
# what one sandbox costs another on a shared host, the density case. Iterations are sized so
# the runs overlap far longer than a sandbox takes to start.
SIDE_BY_SIDE = [
    ("open-read-close, 2 sandboxes at once", "open-read-close", 30000),
    ("getpid-syscall, 2 sandboxes at once", "getpid-syscall", 100000),
]

# Servers under load, client and server in the same sandbox on its loopback network: each
# script prints the load generator's requests per second; the report shows time per request.
SERVERS = [
    ("redis-benchmark SET (10 clients)", "redis", "SET"),
    ("redis-benchmark GET (10 clients)", "redis", "GET"),
    ("nginx, ab -c 8 (2 workers)", "nginx", None),
]

# The same servers in a sandbox of their own (`--network=host`: the guest's sockets are the
# sentry's host sockets) and the load generator on the host, as a sandboxed server is used:
# only the server pays for the sandbox. runsc has no row: a redis-server under
# `runsc --network=host do` said it was listening, and the host's 127.0.0.1 was refused.
HOST_CLIENT_SERVERS = [
    ("redis-benchmark SET (10 clients on the host)", "redis", "SET"),
    ("redis-benchmark GET (10 clients on the host)", "redis", "GET"),
    ("nginx, ab -c 8 on the host (2 workers)", "nginx", None),
]
HOST_CLIENT_PORTS = {"redis": 6394, "nginx": 8094}


def nginx_conf(name, port, daemon):
    """Writes an nginx configuration (2 workers serving WORK/html on 127.0.0.1:port) into WORK."""
    conf = os.path.join(WORK, name)
    with open(conf, "w") as fh:
        fh.write(f"worker_processes 2; daemon {'on' if daemon else 'off'}; pid /tmp/{name}.pid; error_log /dev/null;\n"
                 "events { worker_connections 256; }\n"
                 "http { access_log off; client_body_temp_path /tmp; proxy_temp_path /tmp; fastcgi_temp_path /tmp;\n"
                 "  uwsgi_temp_path /tmp; scgi_temp_path /tmp;\n"
                 f"  server {{ listen 127.0.0.1:{port}; root {os.path.join(WORK, 'html')}; }} }}\n")
    return conf


def server_scripts():
    """Writes the server load scripts into WORK; returns name -> path."""
    html = os.path.join(WORK, "html")
    os.makedirs(html, exist_ok=True)
    with open(os.path.join(html, "index.html"), "w") as fh:
        fh.write("<html><body>" + "joey " * 100 + "</body></html>\n")
    conf = nginx_conf("nginx.conf", 8089, daemon=True)
    scripts = {
        "redis": "redis-server --port 6390 --bind 127.0.0.1 --save '' --appendonly no --daemonize yes --logfile /tmp/redis.log\n"
                 "for i in $(seq 100); do redis-cli -p 6390 ping 2>/dev/null | grep -q PONG && break; sleep 0.1; done\n"
                 "redis-benchmark -p 6390 -q -n 20000 -c 10 -t set,get | tr '\\r' '\\n' | grep 'requests per second'\n"
                 "redis-cli -p 6390 shutdown nosave\n",
        "nginx": f"/usr/sbin/nginx -c {conf}\n"
                 "ab -q -n 5000 -c 8 http://127.0.0.1:8089/ | grep 'Requests per second'\n"
                 "kill $(cat /tmp/nginx.conf.pid)\n",
    }
    paths = {}
    for name, text in scripts.items():
        paths[name] = os.path.join(WORK, f"server-{name}.sh")
        with open(paths[name], "w") as fh:
            fh.write(text)
    return paths


def run_server(prefix, script, which):
    """Nanoseconds per request from the load generator's requests per second."""
    out = sh(prefix + ["/bin/sh", script], cwd="/", timeout=900)
    for line in out.splitlines():
        if "requests per second" in line.lower() and (which is None or line.startswith(which + ":")):
            rps = float(line.split(":")[1].split()[0])
            return 1e9 / rps
    raise RuntimeError(f"no requests per second in {out!r}")


def run_host_client_server(prefix, kind, which):
    """Nanoseconds per request of a server in the runner's sandbox (host network) under a load
    generator on the host."""
    port = HOST_CLIENT_PORTS[kind]
    if prefix and prefix[-1] == "--":
        prefix = prefix[:-1] + ["--network=host", "--"]
    if kind == "redis":
        server = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                  "--logfile", "/dev/null"]
        client = ["redis-benchmark", "-p", str(port), "-q", "-n", "20000", "-c", "10", "-t", "set,get"]
    else:
        server = ["/usr/sbin/nginx", "-c", nginx_conf("nginx-host-client.conf", port, daemon=False)]
        client = ["ab", "-q", "-n", "5000", "-c", "8", f"http://127.0.0.1:{port}/"]
    proc = subprocess.Popen(prefix + server, cwd="/", stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{' '.join(server)}: not listening on {port}: {proc.stderr.read()}")
                time.sleep(0.05)
        out = sh(client, timeout=600).replace("\r", "\n")
    finally:
        if kind == "redis":
            subprocess.run(["redis-cli", "-p", str(port), "shutdown", "nosave"], capture_output=True)
        else:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for line in out.splitlines():
        if "requests per second" in line.lower() and (which is None or line.startswith(which + ":")):
            return 1e9 / float(line.split(":")[1].split()[0])
    raise RuntimeError(f"no requests per second in {out!r}")


def workloads():
    tree = os.path.join(WORK, "tree")
    big = os.path.join(WORK, "200M.bin")
    proj = os.path.join(WORK, "project")
    sources = " ".join(os.path.join(proj, f) for f in sorted(os.listdir(proj)) if f.endswith(".c"))
    return [
        # Start-up: the whole sandbox around a program that does nothing (natively: its exec).
        ("start-up: /bin/true", ["/bin/true"]),
        ("busybox tar + gzip, 50 MB tree",
         ["/bin/busybox", "sh", "-c", f"/bin/busybox tar -cf - -C {tree} . | /bin/busybox gzip -1 > /dev/null"]),
        ("python3 -c pass", ["/usr/bin/python3", "-c", "pass"]),
        ("gcc: small project", ["/bin/sh", "-c", f"gcc -O1 -o /tmp/joey-bench-prog {sources}"]),
        # The same project by make, a unit per gcc (what a second CPU gives a build).
        ("make -j1: small project", ["/bin/sh", "-c", f"rm -rf /tmp/joey-bench-make && make -s -j1 -C {proj}"]),
        ("make -j2: small project", ["/bin/sh", "-c", f"rm -rf /tmp/joey-bench-make && make -s -j2 -C {proj}"]),
        ("sha256sum 200 MB", ["/usr/bin/sha256sum", big]),
    ]


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw).stdout


def prepare():
    """Builds the microbenchmark and the workloads' inputs (once; they are reused)."""
    os.makedirs(WORK, exist_ok=True)
    micro = os.path.join(WORK, "micro")
    sh(["gcc", "-O2", "-static", "-pthread", "-o", micro, os.path.join(HERE, "micro.c")])
    small_file()
    rng = random.Random(42)
    tree = os.path.join(WORK, "tree")
    if not os.path.exists(os.path.join(tree, ".done")):
        shutil.rmtree(tree, ignore_errors=True)
        words = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 9))) for _ in range(5000)]
        for d in range(10):
            os.makedirs(os.path.join(tree, f"d{d}"))
            for f in range(50):
                # ~100 KB of text with some repetition, so gzip has real work.
                text = " ".join(rng.choice(words) for _ in range(17000)) + "\n"
                with open(os.path.join(tree, f"d{d}", f"f{f}.txt"), "w") as fh:
                    fh.write(text[:100_000])
        open(os.path.join(tree, ".done"), "w").close()
    big = os.path.join(WORK, "200M.bin")
    if not os.path.exists(big) or os.path.getsize(big) != 200 << 20:
        with open(big, "wb") as fh:
            for _ in range(200):
                fh.write(os.urandom(1 << 20))
    proj = os.path.join(WORK, "project")
    os.makedirs(proj, exist_ok=True)
    for i in range(4):
        with open(os.path.join(proj, f"unit{i}.c"), "w") as fh:
            fh.write("#include <stdio.h>\n#include <string.h>\n#include <stdlib.h>\n")
            for j in range(40):
                fh.write(f"int f{i}_{j}(int x) {{ char b[64]; snprintf(b, sizeof b, \"%d\", x * {j}); return (int)strlen(b) + atoi(b); }}\n")
            if i == 0:
                fh.write("int main(void) { printf(\"%d\\n\", f0_1(3)); return 0; }\n")
    with open(os.path.join(proj, "Makefile"), "w") as fh:
        fh.write("OUT := /tmp/joey-bench-make\n"
                 "OBJS := $(patsubst %.c,$(OUT)/%.o,$(wildcard *.c))\n"
                 "$(OUT)/prog: $(OBJS)\n\tgcc -o $@ $^\n"
                 "$(OUT)/%.o: %.c | $(OUT)\n\tgcc -O1 -c -o $@ $<\n"
                 "$(OUT):\n\tmkdir -p $@\n")
    return micro


def runners(joey):
    found = [("native", [])]
    for plat in ("systrap", "ptrace", "kvm"):
        probe = subprocess.run([joey, "do", "--platform", plat, "--", "/bin/true"], capture_output=True, text=True)
        if probe.returncode == 0:
            found.append((f"joey-{plat}", [joey, "do", "--platform", plat, "--"]))
        else:
            print(f"bench: skipping joey-{plat}: {probe.stderr.strip()}", file=sys.stderr)
    runsc = shutil.which("runsc")
    if runsc:
        found.append(("runsc-ptrace", [runsc, "--platform=ptrace", "--network=none", "do", "--"]))
    else:
        print("bench: runsc is not installed (apt-get install runsc); no runsc column", file=sys.stderr)
    return found


def evict(path):
    """Drops a file's pages from the host's page cache, so reading it waits for the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def small_file():
    """The small file the micro-benchmarks open and read (made here: compare/ runs them
    without the rest of prepare())."""
    path = os.path.join(WORK, "small.txt")
    if not os.path.exists(path):
        os.makedirs(WORK, exist_ok=True)
        with open(path, "w") as fh:
            fh.write("joey benchmark\n")
    return path


def run_micro(prefix, micro, name, n):
    data = small_file()
    if name == "getpid-beside-disk-reader":
        data = os.path.join(WORK, "200M.bin")
        evict(data)
    out = sh(prefix + [micro, name, str(n), data], cwd="/", timeout=600)
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == name:
            return float(parts[1])
    raise RuntimeError(f"{name}: no result in {out!r}")


def run_micro_side_by_side(prefix, micro, name, n):
    """Each sandbox's time per operation while the other runs, averaged."""
    cmd = prefix + [micro, name, str(n), small_file()]
    procs = [subprocess.Popen(cmd, cwd="/", stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    values = []
    for p in procs:
        out, err = p.communicate(timeout=600)
        if p.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)}: exit {p.returncode}: {err.strip()}")
        values += [float(line.split()[1]) for line in out.splitlines() if line.split()[:1] == [name]]
    if len(values) != 2:
        raise RuntimeError(f"{name} side by side: results {values}")
    return statistics.mean(values)


def run_workload(prefix, cmd):
    t0 = time.perf_counter()
    subprocess.run(prefix + cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd="/", timeout=900)
    return (time.perf_counter() - t0) * 1e9


def machine():
    cpu = "unknown"
    with open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = 0
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemTotal"):
                mem = int(line.split()[1]) // 1024
    runsc = shutil.which("runsc")
    rv = sh([runsc, "--version"]).splitlines()[0] if runsc else "not installed"
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    # Which KVM the kvm column ran on: kvm_pvm is software nested virtualization.
    kvm = next((name for name in ("kvm_pvm", "kvm_intel", "kvm_amd") if os.path.isdir(f"/sys/module/{name}")), "none")
    return {
        "cpu": cpu, "cores": os.cpu_count(), "memory_mib": mem, "kernel": platform.release(),
        "runsc": rv, "joey_commit": commit or "unknown", "kvm": kvm,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def fmt_ns(ns):
    if ns >= 1e9:
        return f"{ns / 1e9:.2f} s"
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.2f} µs"
    return f"{ns:.0f} ns"


def write_report(data):
    names = data["runners"]
    lines = ["# Joey benchmark results", "",
             "Generated by `make bench` (bench/run.py); do not edit. Each cell is the median of "
             f"{data['rounds']} interleaved rounds with (min–max). Microbenchmarks are per operation, timed "
             "inside the sandbox; workloads are whole commands timed from outside, sandbox start-up included. "
             "Ratios are medians divided by the native median (×native) and by runsc's (×runsc); "
             "below 1 ×runsc means faster than runsc.", "",
             "## Machine", ""]
    m = data["machine"]
    lines += [f"- CPU: {m['cpu']}, {m['cores']} cores; memory {m['memory_mib']} MiB; kernel {m['kernel']}",
              f"- runsc: {m['runsc']} (`--platform=ptrace --network=none do`)",
              f"- Joey commit {m['joey_commit']}, release build; run {m['date']}"]
    if "joey-kvm" in names:
        how = ("software nested virtualization: every system call and fault is a VM exit and an "
               "iretq back, tens of µs each here, where hardware KVM takes about 1 µs"
               if m.get("kvm") == "kvm_pvm" else "hardware virtualization")
        lines.append(f"- joey-kvm: /dev/kvm is {m.get('kvm', 'unknown')} ({how})")
    lines.append("")
    getpid = next((b for b in data["results"] if b["name"] == "getpid"), None)
    if getpid and "joey-systrap" in getpid["median"]:
        st = getpid["median"]["joey-systrap"]
        line = f"**getpid round trip on systrap (libc's wrapper, a patched site): {fmt_ns(st)} median**"
        if "runsc-ptrace" in getpid["median"]:
            line += f", {getpid['median']['runsc-ptrace'] / st:.1f}× faster than runsc --platform=ptrace in the same run"
        lines += [line + ".", ""]
    titles = {"micro": "Microbenchmarks",
              "side-by-side": "Two sandboxes at once (each one's time per operation while the other runs: "
                              "what a sandbox costs its neighbours on a shared host)",
              "workload": "Workloads",
              "server": "Servers (time per request under load; 1/×native is the share of native requests per second)",
              "host-client": "Servers with their clients on the host (the server alone in a sandbox, `--network=host`; "
                             "the load generator runs natively; runsc: see bench/run.py)"}
    for section in ("micro", "side-by-side", "workload", "server", "host-client"):
        if not any(b["kind"] == section for b in data["results"]):
            continue
        lines += ["## " + titles[section], ""]
        lines.append("| benchmark | " + " | ".join(names) + " |")
        lines.append("|---|" + "---|" * len(names))
        for bench in [b for b in data["results"] if b["kind"] == section]:
            cells = []
            native = bench["median"].get("native")
            runsc = bench["median"].get("runsc-ptrace")
            for n in names:
                if n not in bench["median"]:
                    cells.append("—")
                    continue
                med = bench["median"][n]
                lo, hi = min(bench["samples"][n]), max(bench["samples"][n])
                cell = f"{fmt_ns(med)} ({fmt_ns(lo)}–{fmt_ns(hi)})"
                extra = []
                if native and n != "native":
                    extra.append(f"{med / native:.1f}×native")
                if runsc and n.startswith("joey"):
                    extra.append(f"{med / runsc:.2f}×runsc")
                if extra:
                    cell += "<br>" + ", ".join(extra)
                cells.append(cell)
            lines.append(f"| {bench['name']} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += ["## Chart", "", "Median time relative to native (log scale): [ratios.svg](ratios.svg)", "",
              "![ratios to native](ratios.svg)", ""]
    with open(os.path.join(HERE, "RESULTS.md"), "w") as fh:
        fh.write("\n".join(lines))


def write_chart(data):
    """A grouped horizontal bar chart of each runner's median / native median, log scale."""
    import math
    runners = [n for n in data["runners"] if n != "native"]
    colors = {"joey-systrap": "#2a7ab0", "joey-ptrace": "#8fbbd9", "joey-kvm": "#3a9a5b", "runsc-ptrace": "#d9822b"}
    benches = [b for b in data["results"] if b["median"].get("native")]
    bar, gap, left, width = 12, 10, 230, 560
    max_ratio = max([b["median"][r] / b["median"]["native"] for b in benches for r in runners if r in b["median"]] + [10])
    decades = max(1, math.ceil(math.log10(max_ratio)))
    height = 60 + len(benches) * (len(runners) * bar + gap) + 40
    x = lambda ratio: left + width * (math.log10(max(ratio, 1.0)) / decades)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 40}" height="{height}" font-family="sans-serif" font-size="11">',
           '<text x="10" y="20" font-size="14">Median time relative to native (log scale, 1 = native speed)</text>']
    for d in range(decades + 1):
        gx = left + width * d / decades
        out.append(f'<line x1="{gx:.1f}" y1="40" x2="{gx:.1f}" y2="{height - 40}" stroke="#ccc"/>')
        out.append(f'<text x="{gx:.1f}" y="{height - 25}" text-anchor="middle">{10 ** d}×</text>')
    y = 45
    for b in benches:
        out.append(f'<text x="{left - 6}" y="{y + len(runners) * bar / 2 + 4:.1f}" text-anchor="end">{b["name"]}</text>')
        for r in runners:
            if r in b["median"]:
                ratio = b["median"][r] / b["median"]["native"]
                out.append(f'<rect x="{left}" y="{y}" width="{x(ratio) - left:.1f}" height="{bar - 2}" fill="{colors.get(r, "#999")}"/>')
                out.append(f'<text x="{x(ratio) + 3:.1f}" y="{y + bar - 3}" font-size="9">{ratio:.1f}</text>')
            y += bar
        y += gap
    lx = left
    for r in runners:
        out.append(f'<rect x="{lx}" y="{height - 15}" width="10" height="10" fill="{colors.get(r, "#999")}"/>')
        out.append(f'<text x="{lx + 14}" y="{height - 6}">{r}</text>')
        lx += 120
    out.append("</svg>")
    with open(os.path.join(HERE, "ratios.svg"), "w") as fh:
        fh.write("\n".join(out) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--joey", default=os.path.join(ROOT, ".build/release/joey"))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--only", help="run only benchmarks whose name contains this")
    ap.add_argument("--report-only", action="store_true", help="regenerate RESULTS.md and the chart from results.json")
    args = ap.parse_args()
    if args.report_only:
        with open(os.path.join(HERE, "results.json")) as fh:
            data = json.load(fh)
        write_report(data)
        write_chart(data)
        return
    if not os.path.exists(args.joey):
        sys.exit(f"bench: {args.joey} does not exist; build it with `make bench`, which builds it first")
    micro = prepare()
    all_runners = runners(args.joey)
    benches = [("micro", name, n) for name, n in MICRO]
    benches += [("side-by-side", title, (name, n)) for title, name, n in SIDE_BY_SIDE]
    benches += [("workload", name, cmd) for name, cmd in workloads()]
    if shutil.which("redis-server") and shutil.which("redis-benchmark") and os.path.exists("/usr/sbin/nginx") and shutil.which("ab"):
        scripts = server_scripts()
        benches += [("server", name, (scripts[kind], which)) for name, kind, which in SERVERS]
        benches += [("host-client", name, (kind, which)) for name, kind, which in HOST_CLIENT_SERVERS]
    else:
        print("bench: redis, nginx or ab (apache2-utils) missing: no server rows (make deps installs them)", file=sys.stderr)
    if args.only:
        benches = [b for b in benches if args.only in b[1]]
    results = []
    for kind, name, what in benches:
        bench_runners = [(r, p) for r, p in all_runners if kind != "host-client" or not r.startswith("runsc")]
        samples = {r: [] for r, _ in bench_runners}
        for rnd in range(args.rounds):
            for r, prefix in bench_runners:
                if kind == "micro":
                    v = run_micro(prefix, micro, name, what)
                elif kind == "side-by-side":
                    v = run_micro_side_by_side(prefix, micro, *what)
                elif kind == "server":
                    v = run_server(prefix, *what)
                elif kind == "host-client":
                    v = run_host_client_server(prefix, *what)
                else:
                    v = run_workload(prefix, what)
                samples[r].append(v)
            print(f"bench: {name} round {rnd + 1}/{args.rounds}: " +
                  ", ".join(f"{r} {fmt_ns(samples[r][-1])}" for r, _ in bench_runners), file=sys.stderr)
        results.append({"kind": kind, "name": name, "samples": samples,
                        "median": {r: statistics.median(v) for r, v in samples.items()}})
    data = {"machine": machine(), "rounds": args.rounds, "runners": [r for r, _ in all_runners], "results": results}
    if args.only:
        print("bench: --only: partial run, RESULTS.md left as it was", file=sys.stderr)
        return
    with open(os.path.join(HERE, "results.json"), "w") as fh:
        json.dump(data, fh, indent=1)
    write_report(data)
    write_chart(data)
    print("bench: wrote bench/RESULTS.md, bench/results.json and bench/ratios.svg", file=sys.stderr)


if __name__ == "__main__":
    main()
