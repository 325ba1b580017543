#!/usr/bin/env python3
"""Generates Joey's syscall sources and docs from syscalls/linux_amd64.tsv.

The table is the one place a syscall is described: number, name, arguments with their
kinds, return kind, Joey's support status, the Swift handler expression, and a note.
Outputs (checked in; `--check` fails when any is stale, so CI catches a table edit
without regeneration):
  Sources/JoeyABI/SyscallTable.swift                          names, signatures, status (strace, docs)
  Sources/JoeyKernel/Syscalls/SyscallDispatch+Generated.swift number -> handler
  syscalls/README.md                                           the compatibility matrix
"""
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TABLE = os.path.join(HERE, "linux_amd64.tsv")
OUT_TABLE = os.path.join(ROOT, "Sources", "JoeyABI", "SyscallTable.swift")
OUT_DISPATCH = os.path.join(ROOT, "Sources", "JoeyKernel", "Syscalls", "SyscallDispatch+Generated.swift")
OUT_README = os.path.join(HERE, "README.md")
STATUSES = ("supported", "partial", "unsupported")
SIMPLE = {"fd", "dirfd", "path", "str", "int", "uint", "long", "ulong", "size", "off", "hex", "ptr", "mode",
          "signal", "pid", "uid", "gid", "argv", "envp"}
RETURNS = {"int", "fd", "pid", "hex", "size", "none", "uid", "gid", "mode"}


class Row:
    def __init__(self, fields, lineno):
        if len(fields) != 7:
            sys.exit(f"linux_amd64.tsv:{lineno}: expected 7 columns, got {len(fields)}")
        self.number = int(fields[0])
        self.name, self.args, self.ret, self.status, self.handler, self.note = fields[1:]
        if self.status not in STATUSES:
            sys.exit(f"linux_amd64.tsv:{lineno}: unknown status {self.status}")
        if self.ret not in RETURNS:
            sys.exit(f"linux_amd64.tsv:{lineno}: unknown return kind {self.ret}")
        if (self.handler == "-") != (self.status == "unsupported"):
            sys.exit(f"linux_amd64.tsv:{lineno}: {self.name}: a handler goes with supported/partial status only")
        if self.status != "supported" and self.note in ("", "-"):
            sys.exit(f"linux_amd64.tsv:{lineno}: {self.name}: partial and unsupported syscalls need a note")
        self.parsed = [] if self.args == "-" else [parse_arg(a, lineno) for a in self.args.split(",")]


def parse_arg(text, lineno):
    name, _, kind = text.partition(":")
    if kind in SIMPLE:
        return name, "." + {"ptr": "ptr"}.get(kind, kind)
    m = re.fullmatch(r"(buf_in|buf_out):(\d)", kind)
    if m:
        return name, f".{'bufIn' if m.group(1) == 'buf_in' else 'bufOut'}({m.group(2)})"
    m = re.fullmatch(r"(flags|enum):(\w+)", kind)
    if m:
        return name, f".{'flags' if m.group(1) == 'flags' else 'enumeration'}(\"{m.group(2)}\")"
    m = re.fullmatch(r"sigset:(\d|-)", kind)
    if m:
        return name, f".sigset({'nil' if m.group(1) == '-' else m.group(1)})"
    m = re.fullmatch(r"(in|out|inout):(\w+)(?::(\d|-))?", kind)
    if m:
        case = {"in": "input", "out": "output", "inout": "inputOutput"}[m.group(1)]
        count = "nil" if m.group(3) in (None, "-") else m.group(3)
        return name, f".{case}(\"{m.group(2)}\", {count})"
    sys.exit(f"linux_amd64.tsv:{lineno}: unknown argument kind {kind!r}")


def rows():
    out = []
    for i, line in enumerate(open(TABLE), 1):
        if line.startswith("#") or not line.strip():
            continue
        out.append(Row(line.rstrip("\n").split("\t"), i))
    numbers = [r.number for r in out]
    if len(numbers) != len(set(numbers)):
        sys.exit("linux_amd64.tsv: duplicate syscall numbers")
    return out


def swift_string(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_table(rs):
    size = max(r.number for r in rs) + 1
    out = ["// Generated from syscalls/linux_amd64.tsv by syscalls/generate.py; do not edit.", "",
           "public enum SyscallTable {",
           f"    /// Indexed by x86-64 syscall number; nil where Linux defines no syscall.",
           f"    public static let entries: [SyscallInfo?] = {{",
           f"        var t = [SyscallInfo?](repeating: nil, count: {size})"]
    for r in rs:
        args = ", ".join(f"({swift_string(n)}, {k})" for n, k in r.parsed)
        note = "" if r.note == "-" else r.note
        out.append(f"        t[{r.number}] = SyscallInfo({r.number}, {swift_string(r.name)}, [{args}], .{r.ret}, .{r.status}, {swift_string(note)})")
    out += ["        return t", "    }()", "",
            "    public static func info(_ number: Int) -> SyscallInfo? {",
            "        number >= 0 && number < entries.count ? entries[number] : nil",
            "    }", "",
            "    public static func name(_ number: Int) -> String { info(number)?.name ?? \"syscall_\\(number)\" }",
            "}", ""]
    return "\n".join(out)


def render_dispatch(rs):
    out = ["// Generated from syscalls/linux_amd64.tsv by syscalls/generate.py; do not edit.",
           "// A syscall reaches a handler only through this switch, so nothing is dispatched that",
           "// the table does not also decode (strace) and document (syscalls/README.md).",
           "import Glibc", "import JoeyABI", "",
           "extension GuestThread {",
           "    func dispatch(_ nr: Int) throws(LinuxErrno) -> UInt64 {",
           "        switch nr {"]
    for r in rs:
        if r.handler != "-":
            out.append(f"        case {r.number}: return try {r.handler}")
    out += ["        default:", "            kernel.reportUnimplemented(nr)", "            throw .ENOSYS",
            "        }", "    }", "}", ""]
    return "\n".join(out)


def render_readme(rs):
    counts = {s: sum(1 for r in rs if r.status == s) for s in STATUSES}
    out = ["# Joey's x86-64 syscall table", "",
           "Generated from `linux_amd64.tsv` by `generate.py`; do not edit. The table drives the",
           "sentry's dispatch, strace mode's decoding and this page. A syscall Joey does not",
           "implement returns `ENOSYS` and is reported once in the `--debug` log.", "",
           "| status | count |", "| --- | --- |"]
    for s in STATUSES:
        out.append(f"| {s} | {counts[s]} |")
    out.append(f"| total | {len(rs)} |")
    out += ["", "| # | name | status | note |", "| --- | --- | --- | --- |"]
    for r in rs:
        out.append(f"| {r.number} | {r.name} | {r.status} | {'' if r.note == '-' else r.note} |")
    return "\n".join(out) + "\n"


def main():
    rs = rows()
    outputs = {OUT_TABLE: render_table(rs), OUT_DISPATCH: render_dispatch(rs), OUT_README: render_readme(rs)}
    if "--check" in sys.argv:
        stale = [p for p, text in outputs.items() if not os.path.exists(p) or open(p).read() != text]
        if stale:
            sys.exit("syscalls: stale generated files (run python3 syscalls/generate.py): " + ", ".join(os.path.relpath(p, ROOT) for p in stale))
        print("syscalls: generated files are fresh")
        return
    for p, text in outputs.items():
        with open(p, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
