#!/usr/bin/env python3
"""Go's standard library tests, natively and in a Joey sandbox (`make go-tests`).

Builds each package's test binary with the distribution's Go (golang-go: `go test -c`), runs
it in the package's source directory with -test.short, first natively, then under `joey do`
on each platform, and compares the tests that failed: a package passes when the sandbox's run
finishes and fails no test that passes natively, beyond the differences listed in KNOWN with
their reasons. Skips, saying what is missing, when `go` is not installed. The runtime
package's gdb tests run where gdb is installed (`make go-tests` installs it).
"""
import argparse
import os
import re
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CACHE = "/var/tmp/joey-go-tests"

# (package, extra `go test -c` flags, extra environment). Found by running them in a sandbox:
# syscall (recvmsg's MSG_CMSG_CLOEXEC), net (splice into a full socket, a large write to a
# closed peer), runtime (signal frames' fpstate, unshare(CLONE_FS) in one thread, ITIMER_PROF's
# target thread, debug registers for gdb, wait4 by tid for a killed tracee's threads).
PACKAGES = [
    ("os", [], {}), ("os/exec", [], {}), ("os/signal", [], {}), ("os/user", [], {}),
    ("syscall", [], {}), ("net", [], {}), ("net/http", [], {}), ("net/rpc", [], {}),
    ("net/textproto", [], {}), ("net/http/httputil", [], {}), ("log/syslog", [], {}),
    ("time", ["-tags", "timetzdata"], {}), ("io", [], {}), ("io/fs", [], {}), ("io/ioutil", [], {}),
    ("bufio", [], {}), ("path/filepath", [], {}), ("sync", [], {}), ("context", [], {}),
    ("internal/poll", [], {}), ("archive/tar", [], {}), ("archive/zip", [], {}),
    ("compress/gzip", [], {}), ("crypto/rand", [], {}), ("crypto/tls", [], {}),
    ("mime/multipart", [], {}), ("testing", [], {}), ("runtime/pprof", [], {}),
    ("runtime/debug", [], {}), ("runtime/trace", [], {}),
    ("runtime", [], {}),
]
SHORT = ["syscall", "os/signal", "internal/poll"]

# Tests that fail in the sandbox only, and why (syscalls/README.md lists the same limits): none
# now; net's raw IP socket tests (TestIPConn*) pass since ping and raw sockets came.
KNOWN: dict = {}


def go_root():
    p = subprocess.run(["go", "env", "GOROOT"], capture_output=True, text=True)
    return p.stdout.strip()


def build(package, flags):
    out = os.path.join(CACHE, package.replace("/", "_") + ".test")
    p = subprocess.run(["go", "test", "-c", "-o", out] + flags + [package], capture_output=True, text=True)
    if p.returncode != 0:
        return None, p.stdout + p.stderr
    return out, ""


def run(prefix, binary, cwd, env, timeout):
    cmd = prefix + [binary, "-test.short", "-test.v", f"-test.timeout={timeout}s"]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout + 60, cwd=cwd,
                           env=dict(os.environ, **env))
        return p.stdout + p.stderr
    except subprocess.TimeoutExpired as e:
        return (e.stdout or b"").decode(errors="replace") + "\nTIMEOUT"


def result(output):
    """(finished, failed tests): finished when the binary printed its closing PASS or FAIL."""
    failed = set(re.findall(r"^\s*--- FAIL: (\S+)", output, re.M))
    finished = re.search(r"^(PASS|FAIL)$", output, re.M) is not None and "panic: test timed out" not in output
    return finished, failed


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--joey", default=os.path.join(ROOT, ".build/debug/joey"))
    ap.add_argument("--short", action="store_true", help="only the quick subset")
    ap.add_argument("--platform", action="append", help="joey platform(s) (default: systrap and ptrace)")
    ap.add_argument("--timeout", type=int, default=900, help="per package and runner, in seconds")
    ap.add_argument("packages", nargs="*", help="packages to run (default: all, or the short subset)")
    args = ap.parse_args()
    args.joey = os.path.abspath(args.joey)
    if shutil.which("go") is None:
        print("go-tests: SKIP: go is not installed (apt-get install golang-go)")
        return 0
    os.makedirs(CACHE, exist_ok=True)
    src = os.path.join(go_root(), "src")
    known = {p: (f, e) for p, f, e in PACKAGES}
    wanted = args.packages or (SHORT if args.short else [p for p, _, _ in PACKAGES])
    platforms = args.platform or ["systrap", "ptrace"]
    differs = []
    for package in wanted:
        flags, env = known.get(package, ([], {}))
        binary, err = build(package, flags)
        if binary is None:
            print(f"go-tests: {package}: SKIP: the test binary does not build:\n{err}", flush=True)
            continue
        cwd = os.path.join(src, package)
        native_done, native_failed = result(run([], binary, cwd, env, args.timeout))
        line = f"go-tests: {package}: native " + (f"{len(native_failed)} failed" if native_done else "did not finish")
        expected = set(KNOWN.get(package, {}))
        for plat in platforms:
            done, failed = result(run([args.joey, "do", f"--platform={plat}", "--"], binary, cwd, env, args.timeout))
            extra = sorted(failed - native_failed - expected)
            same = (done or not native_done) and not extra
            line += f"; joey-{plat} " + (f"{len(failed)} failed" if done else "did not finish")
            if not same:
                differs.append(f"{package} on {plat}")
                line += " <- differs" + ("" if done else " (no closing PASS/FAIL)")
                for name in extra[:8]:
                    line += f"\n    --- FAIL: {name}"
        print(line, flush=True)
    if differs:
        print("go-tests: differs from native: " + ", ".join(differs), file=sys.stderr)
        return 1
    print("go-tests: all as natively" + (" (known differences: see KNOWN in Tests/go/run.py)" if any(p in KNOWN for p in wanted) else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
