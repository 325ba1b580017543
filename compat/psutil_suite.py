"""A third-party suite beside our own: psutil's own tests (Debian's python3-psutil).

psutil reads nearly all of /proc (per process: stat, statm, status, fd, fdinfo, task, io,
maps; system-wide: stat, meminfo, vmstat, net) and calls the process, socket and resource
syscalls behind it, then checks its answers against ps, free, vmstat and the kernel's own
calls. Its tests were written against Linux, not against Joey. Each module runs under
`python3 -m unittest -v`, natively and under each runner; a test counts when it passes
natively (tests this machine fails natively are left out, not counted as Joey's).
"""
import os
import re
import subprocess

PYTHON = "/usr/bin/python3"
MODULES = ["test_linux", "test_system", "test_process", "test_posix", "test_misc", "test_connections",
           "test_contracts", "test_unicode", "test_testutils"]
# The runners it runs under (the host-network and unpatched variants add nothing here).
RUNNERS = {"native", "joey-systrap", "joey-ptrace", "runsc-ptrace"}
# psutil's test cases name themselves by their whole id: "psutil.tests.test_x.Class.test_y ... ok".
RESULT = re.compile(r"^(psutil\.tests\.\S+) \.\.\. (ok|FAIL|ERROR|skipped.*|expected failure|unexpected success)$", re.M)


def missing():
    """Why the suite cannot run here, or None."""
    if not os.path.exists(PYTHON):
        return f"{PYTHON} is missing"
    r = subprocess.run([PYTHON, "-c", "import psutil.tests"], capture_output=True, text=True)
    return "python3-psutil is not installed (apt-get install python3-psutil)" if r.returncode else None


def parse(output):
    """{test id: passed} from unittest's verbose lines."""
    return {m.group(1): m.group(2) == "ok" for m in RESULT.finditer(output)}


# The tests run under a small init that reaps orphans, as `docker run --init` gives: in a
# sandbox the first process is pid 1, and orphaned grandchildren would become the test
# runner's own children (children() and wait() of non-children tests count on them not being).
INIT = """import os, sys
child = os.fork()
if child == 0:
    os.execv(sys.argv[1], sys.argv[1:])
while True:
    pid, status = os.wait()
    if pid == child:
        sys.exit(os.waitstatus_to_exitcode(status))
"""


def run(prefix, timeout, tests=None):
    """{test id: passed} for one runner (all of MODULES, or only `tests`); a run cut off by the
    timeout keeps what it reported."""
    cmd = prefix + [PYTHON, "-c", INIT, PYTHON, "-m", "unittest", "-v"] + (tests or [f"psutil.tests.{m}" for m in MODULES])
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, errors="replace", timeout=timeout,
                           stdin=subprocess.DEVNULL, cwd="/tmp")
        return parse(p.stdout + p.stderr)
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"") + (e.stderr or b"")
        return parse(out.decode(errors="replace") if isinstance(out, bytes) else out)
