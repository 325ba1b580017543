#!/usr/bin/env python3
"""Joey's syscall compatibility suite runner.

Compiles every compat/cases/*.c twice (dynamic and -static), runs each natively (every case
must pass there: a native failure is a broken test), then under Joey on each platform and
under `runsc --platform=ptrace` when it is installed; the socket, event and network-namespace families also
under `joey do --network=host` (guest inet sockets on the host's network). Writes compat/REPORT.md and compares
Joey's results with compat/expected/<runner>.txt: a case listed there that fails now is a
regression and fails the run. `--update` rewrites the expected files from this run. A line
`? case` marks a case whose result on that runner depends on timing (the kvm platform's
~60 us system calls on a loaded machine): it is run and reported, but neither its passing nor
its failing fails the run; `--update` keeps those lines. Any other expected case that fails is
run once more alone: its failure is printed, and fails the run only if it fails again.

A third-party suite runs beside ours (compat/psutil_suite.py: psutil's own tests), with its
own expected sets (compat/expected/psutil-<runner>.txt) and its counts in the report;
`--filter psutil` runs only it.
"""
import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys

import psutil_suite

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CASES = os.path.join(HERE, "cases")
# Outside /tmp (the sandbox mounts its own tmpfs there), even when the checkout is under /tmp.
BUILD = os.path.join("/var/tmp", "joey-compat-" + hashlib.sha256(ROOT.encode()).hexdigest()[:12])
EXPECTED = os.path.join(HERE, "expected")
LINE = re.compile(r"^(ok|FAIL) (\S+?)(?::\s*(.*))?$")


def compile_all(files):
    os.makedirs(BUILD, exist_ok=True)
    binaries = []
    for f in files:
        family = os.path.splitext(os.path.basename(f))[0]
        for link in ("dynamic", "static"):
            out = os.path.join(BUILD, f"{family}-{link}")
            cmd = ["gcc", "-O1", "-w", "-o", out, f] + (["-static"] if link == "static" else [])
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode != 0:
                sys.exit(f"compat: cannot compile {f}:\n{r.stderr}")
            binaries.append((family, link, out))
    return binaries


def parse(output):
    results = {}
    for line in output.splitlines():
        m = LINE.match(line.strip())
        if m:
            results[m.group(2)] = (m.group(1) == "ok", m.group(3) or "")
    return results


def run(prefix, binary, timeout, case=None):
    try:
        r = subprocess.run(prefix + [binary] + ([case] if case else []), capture_output=True, text=True, errors="replace", timeout=timeout,
                           stdin=subprocess.DEVNULL, cwd="/")
        return parse(r.stdout), r.stdout + r.stderr
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        return parse(out), out + "\n(timed out)"


# Families whose cases also run with --network=host: their inet cases then use host sockets.
HOST_NETWORK_FAMILIES = {"sockets", "events", "net_namespaces"}


def runners(joey, reference=True):
    """(name, command prefix, families it runs or None for all); `reference`: runsc too."""
    found = [("native", [], None)]
    if joey:
        for platform in ("systrap", "ptrace", "kvm"):
            # A platform this machine cannot run is reported, never silently skipped.
            probe = subprocess.run([joey, "do", "--platform", platform, "--", "/bin/true"],
                                   capture_output=True, text=True, timeout=60)
            if probe.returncode == 0:
                found.append(("joey-" + platform, [joey, "do", "--platform", platform, "--"], None))
                if platform == "systrap":
                    found.append(("joey-systrap-hostnet", [joey, "do", "--platform", platform, "--network", "host", "--"],
                                  HOST_NETWORK_FAMILIES))
                    # Every call trapping, as with patching off (ptrace never patches).
                    found.append(("joey-systrap-unpatched", [joey, "do", "--platform", platform, "--no-syscall-patching", "--"],
                                  None))
            else:
                print("compat: skipping joey-%s: %s" % (platform, probe.stderr.strip()))
    runsc = shutil.which("runsc") if reference else None
    if runsc:
        found.append(("runsc-ptrace", [runsc, "--platform=ptrace", "--network=none", "do", "--"], None))
    return found


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--joey", default=os.path.join(ROOT, ".build", "debug", "joey"))
    ap.add_argument("--update", action="store_true", help="rewrite compat/expected from this run")
    ap.add_argument("--filter", default="", help="only case files whose name contains this")
    ap.add_argument("--timeout", type=int, default=600)
    ap.add_argument("--no-reference", action="store_true",
                    help="skip runsc, the reference column (what `make test` does: it checks Joey's expectations; "
                         "the report is written only by a run with it)")
    args = ap.parse_args()
    args.joey = os.path.abspath(args.joey) # cases run with / as their working directory

    files = sorted(os.path.join(CASES, f) for f in os.listdir(CASES) if f.endswith(".c") and args.filter in f)
    binaries = compile_all(files)
    all_runners = runners(args.joey if os.path.exists(args.joey) else None, reference=not args.no_reference)
    # results[runner][(family, link, case)] = (passed, why)
    results = {name: {} for name, _, _ in all_runners}
    problems = []
    for family, link, binary in binaries:
        for name, prefix, families in all_runners:
            if families is not None and family not in families:
                continue
            res, raw = run(prefix, binary, args.timeout)
            if not res and name == "native":
                problems.append(f"{family}-{link}: no results natively:\n{raw}")
            for case, r in res.items():
                results[name][(family, link, case)] = r
    cases = sorted(results["native"])
    for key in cases:
        ok, why = results["native"][key]
        if not ok:
            problems.append(f"broken test (fails natively): {key[0]}/{key[2]} [{key[1]}]: {why}")

    os.makedirs(EXPECTED, exist_ok=True)
    binary_of = {(family, link): binary for family, link, binary in binaries}
    for name, prefix, _ in all_runners:
        # Only Joey's runners carry an expected set; runsc is a reference column.
        if name.startswith("joey-") and files:
            passed_alone = set() if args.update else retry_failures(
                name, prefix, results[name], binary_of, os.path.join(EXPECTED, f"{name}.txt"), args.timeout)
            passing = sorted(f"{f}/{c} [{l}]" for (f, l, c), (ok, _) in results[name].items() if ok) + sorted(passed_alone)
            problems += check_expected(os.path.join(EXPECTED, f"{name}.txt"), name, passing, args.update,
                                       args.filter or None, "Cases")

    # The third-party suite, unless the filter names only our own families.
    third = {}
    if not args.filter or args.filter == "psutil":
        why = psutil_suite.missing()
        if why:
            print(f"compat: psutil: SKIP: {why}")
        else:
            for name, prefix, _ in all_runners:
                if name in psutil_suite.RUNNERS:
                    third[name] = psutil_suite.run(prefix, args.timeout * 2)
            counted = sorted(t for t, ok in third.get("native", {}).items() if ok)
            prefixes = {name: prefix for name, prefix, _ in all_runners}
            for name in third:
                if not name.startswith("joey-"):
                    continue
                path = os.path.join(EXPECTED, f"psutil-{name}.txt")
                passing = [t for t in counted if third[name].get(t)]
                if not args.update and os.path.exists(path):
                    # Some of psutil's tests depend on timing: an expected test that fails is run
                    # again, alone, before it counts as a regression; one that passes now but
                    # did not when the set was written is only reported.
                    lines = [l.strip() for l in open(path) if l.strip()]
                    expected = {l for l in lines if l[0] not in "#?"}
                    timing = {l[1:].strip() for l in lines if l[0] == "?"}
                    again = sorted(expected.intersection(counted) - set(passing))
                    if again:
                        rerun = psutil_suite.run(prefixes[name], args.timeout, tests=again)
                        third[name].update({t: True for t in again if rerun.get(t)})
                        passing = [t for t in counted if third[name].get(t)]
                    newly = sorted(set(passing) - expected - timing)
                    if newly:
                        print(f"compat: psutil: {len(newly)} tests pass under {name} that the expected set does not list "
                              f"(`make compat-update` adds them): " + ", ".join(newly))
                    # Expected tests this machine failed natively this time are not Joey's to answer for.
                    passing = sorted((set(passing) - set(newly)) | (expected - set(counted)))
                problems += check_expected(path, name, passing, args.update, None, "psutil tests")
            print("compat: psutil: " + ", ".join(f"{n} {sum(1 for t in counted if third[n].get(t))}/{len(counted)}"
                                                  for n in third))

    # A filtered run is a partial one, and one without the reference lacks its column: the
    # report keeps describing the whole suite beside runsc.
    if not args.filter and not args.no_reference:
        write_report(all_runners, results, cases, third)
    for p in problems:
        print("compat:", p)
    totals = {name: sum(1 for r in results[name].values() if r[0]) for name, _, _ in all_runners}
    print("compat: " + ", ".join(f"{n} {totals[n]}/{of(cases, fams)}" for n, _, fams in all_runners))
    print(f"{len(cases) - len(problems)} passed, {len(problems)} failed")
    sys.exit(1 if problems else 0)


def retry_failures(name, prefix, results, binary_of, path, timeout):
    """An expected case that failed in the full run is run once more, alone, and its first
    failure is printed either way: a race it lost once is reported, and fails the run only if
    it fails again (CI once failed on one kvm case that 200 runs here could not repeat).
    Returns those that passed alone; the report keeps their first result."""
    passed_alone = set()
    if not os.path.exists(path):
        return passed_alone
    expected = {l.strip() for l in open(path) if l.strip() and l[0] not in "#?"}
    for (family, link, case), (ok, why) in sorted(results.items()):
        if ok or f"{family}/{case} [{link}]" not in expected:
            continue
        again, raw = run(prefix, binary_of[(family, link)], timeout, case)
        passed = again.get(case, (False, ""))[0]
        print(f"compat: {name}: {family}/{case} [{link}] failed ({why or 'no reason given'}); "
              f"alone again it {'passed: reported, not counted' if passed else 'failed: ' + (again.get(case, (False, raw[-300:]))[1])}")
        if passed:
            passed_alone.add(f"{family}/{case} [{link}]")
    return passed_alone


def check_expected(path, name, passing, update, family_filter, what):
    """Problems of `passing` against the expected set at `path` (rewritten with `update`).
    `family_filter`: a filtered run of our own cases, which checks and rewrites only those families."""
    problems = []
    if not update and not os.path.exists(path):
        return [f"no expected set for {name}: run `make compat-update` and commit {os.path.relpath(path)}"]
    lines = [l.strip() for l in open(path)] if os.path.exists(path) else []
    # Cases whose result here depends on timing (`? case`): reported, never a problem.
    unstable = {l[1:].strip() for l in lines if l.startswith("?")}
    if update:
        if family_filter and os.path.exists(path):
            # A filtered update replaces only the families it ran.
            kept = [l for l in lines if l and l[0] not in "#?" and family_filter not in l.split("/")[0]]
            passing = sorted(set(kept) | set(passing))
        with open(path, "w") as fh:
            fh.write(f"# {what} expected to pass under {name}; generated by `make compat-update`.\n")
            if unstable:
                fh.write("# `? case`: its result here depends on timing; kept by `make compat-update`.\n")
            fh.writelines(p + "\n" for p in passing if p not in unstable)
            fh.writelines(f"? {u}\n" for u in sorted(unstable))
        return []
    expected = [l for l in lines if l and l[0] not in "#?"]
    if family_filter:
        expected = [e for e in expected if family_filter in e.split("/")[0]]
    now, before = set(passing) - unstable, set(expected) - unstable
    for e in sorted(before - now):
        problems.append(f"regression under {name}: {e} passed before and fails now")
    for e in sorted(now - before):
        problems.append(f"stale expectations under {name}: {e} passes now; run `make compat-update` and commit")
    return problems


def of(cases, families):
    """How many cases a runner that runs `families` (None: all) is given."""
    return sum(1 for k in cases if families is None or k[0] in families)


def write_report(all_runners, results, cases, third):
    names = [n for n, _, _ in all_runners]
    runs = {n: fams for n, _, fams in all_runners}
    lines = ["# Syscall compatibility report", "",
             "Generated by `make compat` (compat/run.py); do not edit. Each case is a small C test",
             "of real Linux behaviour, built dynamic and static; it must pass natively. Columns are",
             "runners; a cell is `pass` or `FAIL`, or `-` where the runner does not run the family",
             "(joey-systrap-hostnet runs the socket, event and network-namespace families with `--network=host`;",
             "joey-systrap-unpatched runs every case with `--no-syscall-patching`).", ""]
    lines.append("| runner | passed | of |")
    lines.append("| --- | --- | --- |")
    for n in names:
        lines.append(f"| {n} | {sum(1 for r in results[n].values() if r[0])} | {of(cases, runs[n])} |")
    families = sorted({k[0] for k in cases})
    for fam in families:
        lines += ["", f"## {fam}", "", "| case | build | " + " | ".join(names) + " |",
                  "| --- | --- | " + " | ".join("---" for _ in names) + " |"]
        for key in [k for k in cases if k[0] == fam]:
            cells = []
            for n in names:
                r = results[n].get(key)
                cells.append("-" if runs[n] is not None and fam not in runs[n] else "pass" if r and r[0] else "FAIL")
            lines.append(f"| {key[2]} | {key[1]} | " + " | ".join(cells) + " |")
    if third:
        counted = sorted(t for t, ok in third["native"].items() if ok)
        lines += ["", "## Third-party suite: psutil's own tests", "",
                  "Debian's python3-psutil, modules " + ", ".join(psutil_suite.MODULES) + ", run with",
                  "`python3 -m unittest -v` (compat/psutil_suite.py). Counted: the tests that pass natively",
                  f"on this machine ({len(counted)} of {len(third['native'])}). Below the counts, every counted test",
                  "some runner fails.", "", "| runner | passed | of |", "| --- | --- | --- |"]
        for n in third:
            lines.append(f"| {n} | {sum(1 for t in counted if third[n].get(t))} | {len(counted)} |")
        differing = [t for t in counted if any(not third[n].get(t) for n in third)]
        if differing:
            lines += ["", "| test | " + " | ".join(third) + " |", "| --- | " + " | ".join("---" for _ in third) + " |"]
            for t in differing:
                lines.append(f"| {t.removeprefix('psutil.tests.')} | " + " | ".join("pass" if third[n].get(t) else "FAIL" for n in third) + " |")
    with open(os.path.join(HERE, "REPORT.md"), "w") as fh:
        fh.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
