#!/usr/bin/env python3
"""Which host system calls the confined sentry really makes, measured with strace.

Runs workloads in `joey do` (systrap; strace cannot trace the ptrace platform's stubs, which
trace themselves) under `strace -f`, follows the sentry's threads from the moment it installs
its seccomp filter, and compares the calls they made with the allow-list `joey debug seccomp`
prints. Prints one line per call with its count (as `strace -c` would), then a summary line;
exits 1 when a call outside the list was seen or a workload failed.

usage: syscall-audit.py JOEY [--network none|host] [--keep LOG]
"""
import argparse
import collections
import os
import re
import subprocess
import sys
import tempfile

WORKLOADS = [
    # (label, joey do arguments after the options)
    ("busybox sh pipeline", ["/bin/sh", "-c", "ls -l /usr/bin | sort | head -3 >/dev/null; cat /etc/passwd | wc -l; echo x > /tmp/a; cat /tmp/a"]),
    ("python3 threads, subprocess, files", ["/usr/bin/python3", "-c",
        "import threading, subprocess, os, time, socket\n"
        "t = [threading.Thread(target=time.sleep, args=(0.05,)) for _ in range(4)]\n"
        "[x.start() for x in t]; [x.join() for x in t]\n"
        "print(subprocess.run(['/bin/echo', 'sub'], capture_output=True).stdout.decode().strip())\n"
        "a, b = socket.socketpair(); a.send(b'hi'); print(b.recv(2))\n"
        "open('/tmp/f', 'w').write('x' * 100000); print(len(open('/tmp/f').read()))\n"
        "print(len(os.listdir('/usr/lib')))"]),
    ("python3 TCP server and client on 127.0.0.1", ["/usr/bin/python3", "-c",
        "import socket, threading, fcntl, struct\n"
        "srv = socket.create_server(('127.0.0.1', 0)); port = srv.getsockname()[1]\n"
        "def serve():\n"
        "    c, _ = srv.accept(); c.sendall(c.recv(100).upper()); c.close()\n"
        "threading.Thread(target=serve).start()\n"
        "s = socket.create_connection(('127.0.0.1', port)); s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)\n"
        "s.sendall(b'ping'); print(s.recv(100), s.getpeername()[0])\n"
        "print(struct.unpack('i', fcntl.ioctl(s, 0x541B, b'\\0' * 4))[0])\n"
        "print(socket.if_nameindex()[:1])"]),
    ("gcc compiles and runs a program", ["/bin/sh", "-c",
        "printf 'int main(){return 7;}' > /tmp/m.c && gcc -o /tmp/m /tmp/m.c && /tmp/m; echo status $?"]),
]

LINE = re.compile(r"^(\d+)\s+(?:<\.\.\. )?([a-z0-9_]+)(?:\(| resumed>)")
KILLED = re.compile(r"^(\d+)\s+\+\+\+ killed by")


def allow_list(joey, network):
    """The calls the filter lets through, and those it fails with an errno by rule."""
    out = subprocess.run([joey, "debug", "seccomp", "--platform", "systrap", "--network", network],
                         capture_output=True, text=True, check=True).stdout
    allowed, refused = set(), set()
    for line in out.splitlines():
        if line.startswith("# capabilities"):
            break  # the system calls come first
        if line.startswith("#") or not line.strip():
            continue
        (refused if "fails with errno" in line else allowed).add(line.split()[0])
    return allowed, refused


ARGUMENT = re.compile(r"^\d+\s+[a-z0-9_]+\([^,]*, ([A-Za-z_0-9]+)")
RESULT = re.compile(r"= (\d+)(?: /\* (\d+) in strace's PID NS \*/)?$")


def clone_result(line):
    """The new task's pid as strace sees it (the sentry's own pid namespace is translated)."""
    r = RESULT.search(line.strip())
    return int(r.group(2) or r.group(1)) if r else None


def audit(log_path):
    """Counts of calls by the sentry's threads after its filter went on."""
    sentry, threads, confined = None, set(), False
    counts, detail = collections.Counter(), collections.Counter()
    first = None
    pending = {}  # tid -> the start line of its unfinished clone
    # A call shown at its entry is counted once it returns. One that never does because the
    # task was killed at that stop (the sentry dies by SIGKILL with its relay, which exits as
    # soon as the guest is done) never reached the filter: strace reports the entry before
    # seccomp runs, and with whatever number the registers held.
    unfinished = {}

    def count(name, line):
        counts[name] += 1
        a = ARGUMENT.match(line)
        if name in ("fcntl", "ioctl") and a:
            detail[f"{name} {a.group(1)}"] += 1

    with open(log_path, errors="replace") as f:
        for line in f:
            k = KILLED.match(line)
            if k:
                unfinished.pop(int(k.group(1)), None)
                continue
            m = LINE.match(line)
            if not m:
                continue
            tid, name = int(m.group(1)), m.group(2)
            if " resumed>" in line and tid in unfinished:
                count(*unfinished.pop(tid))
            if first is None:
                first = tid  # the `joey do` process: the relay
            resumed = " resumed>" in line
            if name in ("clone", "clone3", "fork"):
                if "<unfinished" in line:
                    pending[tid] = line
                    if tid in threads and confined:
                        counts[name] += 1
                    continue
                start = pending.pop(tid, "") if resumed else line
                child = clone_result(line)
                if child is not None:
                    # The relay forks the sentry; the sentry's CLONE_THREAD clones are its threads.
                    if tid == first and sentry is None and "CLONE_THREAD" not in start:
                        sentry = child
                        threads.add(child)
                    elif tid in threads and "CLONE_THREAD" in start:
                        threads.add(child)
                if resumed or tid not in threads:
                    continue
            elif resumed or tid not in threads:
                continue
            if name == "seccomp" and "SECCOMP_SET_MODE_FILTER" in line and "{len=" in line and line.rstrip().endswith("= 0"):
                confined = True
                continue
            if confined:
                if "<unfinished" in line:
                    unfinished[tid] = (name, line)
                else:
                    count(name, line)
    for name, line in unfinished.values():
        count(name, line)  # still running when the log ended: it was made
    return sentry, confined, counts, detail


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("joey")
    ap.add_argument("--network", default="none", choices=["none", "host"])
    ap.add_argument("--keep", help="keep the strace logs with this prefix")
    a = ap.parse_args()
    joey = os.path.abspath(a.joey)
    allowed, refused = allow_list(joey, a.network)
    total, details = collections.Counter(), collections.Counter()
    failed = False
    with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp:
        for i, (label, argv) in enumerate(WORKLOADS):
            log = a.keep + f".{i}" if a.keep else os.path.join(tmp, f"strace.{i}")
            cmd = ["strace", "-f", "-qq", "--decode-pids=pidns", "-o", log, joey, "do", "--platform=systrap", f"--network={a.network}", "--"] + argv
            for attempt in range(1, 6):
                p = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
                lost = re.search(r"^strace: ptrace\(PTRACE_\w+.*$", p.stderr, re.M) if p.returncode != 0 else None
                if not lost:
                    break
                # strace 6.1 loses a race with a tracee: a stub thread takes a signal (its
                # SIGILL at the ready point, a SIGSYS) while the sentry SIGKILLs its process;
                # strace's PTRACE_GETSIGINFO fails, it takes the stop for a group stop, its
                # PTRACE_LISTEN gives EIO and it quits with 1, the workload untraced. Seen here
                # in 1 of 11-30 runs of the gcc workload, in CI twice in a row. That says
                # nothing of the sentry: measure again and say so.
                print(f"syscall-audit: note: {label}: strace failed ({lost.group(0)[:160]}), attempt {attempt}; run again")
            if p.returncode != 0:
                print(f"syscall-audit: FAIL: {label}: exit {p.returncode}: {p.stderr.strip()[-300:]}")
                failed = True
                continue
            sentry, confined, counts, detail = audit(log)
            if not confined:
                print(f"syscall-audit: FAIL: {label}: the sentry's seccomp call was not seen (sentry {sentry})")
                failed = True
                continue
            total.update(counts)
            details.update(detail)
    outside = sorted(n for n in total if n not in allowed and n not in refused)
    width = max((len(n) for n in list(total) + list(details)), default=10)
    for name, n in sorted(total.items(), key=lambda x: -x[1]):
        note = "   OUTSIDE THE ALLOW-LIST" if name in outside else "   (refused by rule)" if name in refused else ""
        print(f"  {name:<{width}} {n:>9}{note}")
    for name, n in sorted(details.items()):
        print(f"  {name:<{width}} {n:>9}")
    unused = sorted(allowed - set(total))
    print(f"syscall-audit: {len(total)} distinct host calls by the confined sentry over {len(WORKLOADS)} workloads "
          f"(systrap, --network={a.network}); the allow-list has {len(allowed)}; outside it: {', '.join(outside) or 'none'}")
    print(f"syscall-audit: allowed but not seen here: {', '.join(unused) or 'none'}")
    sys.exit(1 if failed or outside else 0)


if __name__ == "__main__":
    main()
