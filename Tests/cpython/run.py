#!/usr/bin/env python3
"""CPython's own test modules, natively and in a Joey sandbox (`make cpython-tests`).

Runs each module with the distribution's /usr/bin/python3 and its test package
(libpython3.11-testsuite), first natively, then under `joey do` on each platform, and
compares the summaries: a module passes when Joey's run ends as the native one does (OK with
the same number of tests run). `--short` is the subset `make test` runs. Skips, saying what is
missing, when the interpreter or its test package is not installed.
"""
import argparse
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PYTHON = "/usr/bin/python3"

# The modules issue work is measured by; VSOCK tests hang natively on these machines.
MODULES = [
    ("test_selectors", []), ("test_epoll", []), ("test_socket", ["-i", "*VSOCK*"]),
    ("test_asyncio.test_events", []), ("test_logging", []), ("test_httpservers", []),
    ("test_urllib2_localnet", []), ("test_signal", []), ("test_unittest", []),
    ("test_multiprocessing_forkserver", []), ("test_multiprocessing_fork", []), ("test_mmap", []),
    ("test_pty", []), ("test_openpty", []), ("test_ssl", []), ("test_fcntl", []),
    # The compatibility issue's list (test_sqlite3 is not in Debian's libpython3.11-testsuite).
    ("test_os", []), ("test_posix", []), ("test_time", []), ("test_resource", []), ("test_pathlib", []),
    ("test_shutil", []), ("test_tempfile", []), ("test_subprocess", []), ("test_threading", []),
    ("test_sqlite3", []),
    # Found by running the whole suite in a sandbox: TCP urgent data, readiness after a
    # reset, SHUT_RD, SO_RCVBUF (the rest of the suite ends as natively).
    ("test_asyncore", []), ("test_asyncio.test_sendfile", []), ("test_imaplib", []),
]
SHORT = ["test_epoll", "test_httpservers", "test_urllib2_localnet", "test_pty", "test_fcntl", "test_mmap",
         "test_asyncore", "test_asyncio.test_sendfile"]


def summary(output):
    """(tests run, 'OK'/'FAILED ...', skipped) from unittest's closing lines."""
    ran = re.findall(r"^Ran (\d+) tests?", output, re.M)
    verdict = re.findall(r"^(OK.*|FAILED.*)$", output, re.M)
    return (int(ran[-1]) if ran else None, verdict[-1] if verdict else "no result")


def run(prefix, module, extra, timeout):
    cmd = prefix + [PYTHON, "-m", "test", "-v", "--timeout", str(timeout)] + extra + [module]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout + 60, cwd="/")
        return p.stdout + p.stderr
    except subprocess.TimeoutExpired as e:
        return (e.stdout or b"").decode(errors="replace") + "\nTIMEOUT"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--joey", default=os.path.join(ROOT, ".build/debug/joey"))
    ap.add_argument("--short", action="store_true", help="only the quick subset make test runs")
    ap.add_argument("--platform", action="append", help="joey platform(s) (default: systrap and ptrace)")
    ap.add_argument("--timeout", type=int, default=900, help="per module and runner, in seconds")
    ap.add_argument("modules", nargs="*", help="modules to run (default: all, or the short subset)")
    args = ap.parse_args()
    args.joey = os.path.abspath(args.joey)
    if not os.path.exists(PYTHON) or subprocess.run([PYTHON, "-c", "import test.support"], capture_output=True).returncode:
        print("cpython-tests: SKIP: /usr/bin/python3 with its test package is missing (apt-get install libpython3.11-testsuite)")
        return 0
    wanted = args.modules or (SHORT if args.short else [m for m, _ in MODULES])
    extras = dict(MODULES)
    platforms = args.platform or ["systrap", "ptrace"]
    failed = []
    for module in wanted:
        extra = extras.get(module, [])
        native_out = run([], module, extra, args.timeout)
        native = summary(native_out)
        if native[0] is None and re.search(r"No module named|ModuleNotFoundError|test_\w+ skipped -- No module", native_out):
            print(f"cpython-tests: {module}: SKIP: not installed with this Python's test package", flush=True)
            continue
        line = f"cpython-tests: {module}: native {native[0]} run, {native[1]}"
        for plat in platforms:
            out = run([args.joey, "do", f"--platform={plat}", "--"], module, extra, args.timeout)
            got = summary(out)
            same = got[0] == native[0] and got[1].startswith("OK") == native[1].startswith("OK")
            line += f"; joey-{plat} {got[0]} run, {got[1]}" + ("" if same else " <- differs")
            if not same:
                failed.append(f"{module} on {plat}")
                bad = re.findall(r"^(?:FAIL|ERROR): .*$", out, re.M)[:5]
                for b in bad:
                    line += "\n    " + b
        print(line, flush=True)
    if failed:
        print("cpython-tests: differs from native: " + ", ".join(failed), file=sys.stderr)
        return 1
    print("cpython-tests: all as natively")
    return 0


if __name__ == "__main__":
    sys.exit(main())
