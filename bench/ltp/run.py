#!/usr/bin/env python3
"""The Linux Test Project's system call tests, natively and in sandboxes.

A third-party yardstick beside Joey's own compat suite: each test of LTP's runtest/syscalls
list runs natively, in Joey (`joey do`) and in gVisor (`runsc do`, ptrace platform), one at
a time, each under a 120 s timeout, from its own directory as LTP's runner would. A test
counts when it passes natively; the report gives each sandbox's share of those, and which
ones Joey fails, with the first line that says why.

    bench/ltp/run.py --ltp DIR [--runners native,joey,runsc] [--joey PATH] [--filter REGEX]

DIR is a built LTP tree (`make ltp` fetches and builds one in .ltp). Results go to
bench/ltp/results/<runner>.tsv (a run resumes where it stopped: delete a file to redo a
runner) and bench/ltp/RESULTS.md. Not part of `make test`: it takes an hour or more.
"""
import argparse
import collections
import os
import re
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TIMEOUT = 120


def test_list(ltp):
    """(name, command, arguments) of runtest/syscalls, first entry of each name."""
    seen, tests = set(), []
    for line in open(os.path.join(ltp, "runtest", "syscalls")):
        fields = line.split()
        if not fields or fields[0].startswith("#") or fields[0] in seen:
            continue
        seen.add(fields[0])
        tests.append((fields[0], fields[1] if len(fields) > 1 else fields[0], fields[2:]))
    return tests


# runtest/syscalls also runs a few programs from these directories.
EXTRA_DIRS = ["testcases/kernel/ipc/msgstress", "testcases/kernel/ipc/pipeio", "testcases/kernel/security/dirtyc0w",
              "testcases/kernel/security/dirtyc0w_shmem", "testcases/kernel/security/dirtypipe",
              "testcases/kernel/security/prot_hsymlinks"]


def binaries(ltp):
    """Each built test program's directory, by name (the system call tests' first)."""
    where = {}
    roots = [os.path.join(ltp, "testcases", "kernel", "syscalls")] + [os.path.join(ltp, d) for d in EXTRA_DIRS]
    for directory, _, files in (entry for root in roots for entry in os.walk(root)):
        for f in files:
            path = os.path.join(directory, f)
            if os.access(path, os.X_OK) and "." not in f:
                where.setdefault(f, directory)
    return where


def prefix(runner, joey):
    if runner == "native":
        # Each test in an IPC namespace of its own (as root), so System V objects a test
        # leaves behind go with it instead of piling up on the host.
        return ["unshare", "--ipc", "--"] if os.geteuid() == 0 and shutil.which("unshare") else []
    if runner == "joey":
        return [joey, "do", "--platform", "systrap", "--"]
    return ["runsc", "--platform=ptrace", "--network=none", "do", "--"]


def run_one(runner, joey, ltp, directory, command, args, log):
    # The test runs under a shell, so that it is not the sandbox's pid 1 (LTP's library
    # forks and waits as an ordinary process does).
    argv = prefix(runner, joey) + ["sh", "-c", '"$@"; exit $?', "sh", command] + args
    # Test files go on the host's disk in every runner, as they do natively: `joey do` puts a
    # tmpfs of its own on /tmp, where LTP skips the lease tests.
    env = dict(os.environ, TMPDIR="/var/tmp", LTPROOT=ltp, LTP_TIMEOUT_MUL="3",
               PATH=directory + ":" + os.environ.get("PATH", ""))
    start = time.monotonic()
    with open(log, "wb") as out:
        try:
            p = subprocess.run(argv, cwd=directory, env=env, stdin=subprocess.DEVNULL,
                               stdout=out, stderr=subprocess.STDOUT, timeout=TIMEOUT)
            code = p.returncode
        except subprocess.TimeoutExpired:
            code = None
    seconds = time.monotonic() - start
    # LTP's exit codes: 0 all passed, 32 TCONF (cannot run here), others failed or broke.
    result = "timeout" if code is None else "pass" if code == 0 else "conf" if code == 32 else "fail"
    return result, code, seconds


def version(runner, joey):
    def first_line(argv):
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout.strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return "unknown"
    if runner == "native":
        return "Linux " + os.uname().release
    if runner == "joey":
        commit = first_line(["git", "-C", os.path.join(HERE, "..", ".."), "rev-parse", "--short", "HEAD"])
        build = "release build" if joey.endswith(os.path.join(".build", "release", "joey")) else joey
        return f"Joey at {commit} ({build}), systrap"
    return first_line(["runsc", "--version"]) + ", ptrace platform"


def first_reason(log):
    try:
        for line in open(log, errors="replace"):
            if re.search(r"\b(TFAIL|TBROK|TCONF)\b", line):
                return line.strip()[:160]
    except OSError:
        pass
    return ""


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ltp", required=True, help="a built LTP source tree")
    ap.add_argument("--runners", default="native,joey,runsc")
    ap.add_argument("--joey", default=os.path.join(HERE, "..", "..", ".build", "release", "joey"))
    ap.add_argument("--filter", default="", help="only tests whose name matches this")
    opts = ap.parse_args()
    # Tests start with the signals at their defaults, as from a login shell: started under
    # nohup (SIGHUP ignored) or in a background job (SIGINT, SIGQUIT ignored), the ignored
    # ones would pass to every test, and kill11 waits for ever for a child SIGHUP cannot end.
    for s in (signal.SIGHUP, signal.SIGINT, signal.SIGQUIT):
        signal.signal(s, signal.SIG_DFL)
    ltp, joey = os.path.abspath(opts.ltp), os.path.abspath(opts.joey)
    runners = [r for r in opts.runners.split(",") if r]
    if "runsc" in runners and not shutil.which("runsc"):
        print("ltp: runsc is not installed (apt-get install runsc): its column is left out")
        runners.remove("runsc")
    if "joey" in runners and not os.access(joey, os.X_OK):
        sys.exit(f"ltp: no Joey at {joey}: build it (make ltp does) or pass --joey")
    tests = [t for t in test_list(ltp) if re.search(opts.filter, t[0])]
    where = binaries(ltp)
    os.makedirs(os.path.join(HERE, "results", "logs"), exist_ok=True)
    results = {}
    for runner in runners:
        path = os.path.join(HERE, "results", runner + ".tsv")
        done = {}
        if os.path.exists(path):
            for line in open(path):
                f = line.rstrip("\n").split("\t")
                if len(f) >= 2:
                    done[f[0]] = f[1]
        os.makedirs(os.path.join(HERE, "results", "logs", runner), exist_ok=True)
        # What ran, recorded when a runner's results begin (a resumed run keeps it).
        version_path = os.path.join(HERE, "results", runner + ".version")
        if not os.path.exists(version_path):
            with open(version_path, "w") as v:
                v.write(version(runner, joey) + "\n")
        with open(path, "a") as out:
            for name, command, args in tests:
                if name in done:
                    continue
                # Sandboxes run only what passes natively: the rest counts for no one.
                if runner != "native" and results.get("native", {}).get(name, "pass") != "pass":
                    continue
                if command not in where:
                    done[name] = "missing"
                    out.write(f"{name}\tmissing\t-\t0\n")
                    continue
                log = os.path.join(HERE, "results", "logs", runner, name + ".log")
                result, code, seconds = run_one(runner, joey, ltp, where[command], command, args, log)
                done[name] = result
                out.write(f"{name}\t{result}\t{code}\t{seconds:.2f}\n")
                out.flush()
                print(f"ltp: {runner} {name}: {result}", flush=True)
        results[runner] = done
    report(tests, results, runners)


def report(tests, results, runners):
    counted = [t[0] for t in tests if results.get("native", {}).get(t[0]) == "pass"]
    lines = ["# LTP system call tests: native, Joey, gVisor", "",
             "Generated by `bench/ltp/run.py` (`make ltp`); do not edit. Each test of LTP's",
             "`runtest/syscalls` runs alone under a 120 s timeout; a test counts when it passes",
             "natively on this machine (tests that need a block device or a kernel .config",
             "count only if they pass natively).", ""]
    for runner in runners:
        try:
            lines.append(f"- {runner}: " + open(os.path.join(HERE, "results", runner + ".version")).read().strip())
        except OSError:
            pass
    lines += ["", "| runner | passed | of counted |", "|---|---|---|"]
    for runner in runners:
        if runner == "native":
            c = collections.Counter(results["native"].values())
            lines.append(f"| native | {c['pass']} | (counted: {len(counted)} of {len(tests)} tests; "
                         f"{c['conf']} cannot run here, {c['fail'] + c['timeout']} fail) |")
            continue
        r = results.get(runner, {})
        passed = sum(1 for n in counted if r.get(n) == "pass")
        share = 100 * passed / len(counted) if counted else 0
        lines.append(f"| {runner} | {passed} | {share:.1f}% |")
    if "joey" in runners:
        failing = [n for n in counted if results["joey"].get(n) not in ("pass", None)]
        lines += ["", f"## Counted tests Joey does not pass ({len(failing)})", ""]
        for n in failing:
            reason = first_reason(os.path.join(HERE, "results", "logs", "joey", n + ".log"))
            lines.append(f"- `{n}` ({results['joey'][n]}): {reason.replace('|', '/')}")
    with open(os.path.join(HERE, "RESULTS.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines[:12 + len(runners)]))


if __name__ == "__main__":
    main()
