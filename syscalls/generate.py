#!/usr/bin/env python3
"""Generates Sources/JoeyABI/SyscallNames.swift from syscalls/linux_amd64.tsv.

--check fails (exit 1) when the checked-in file is stale, so CI catches a table edit
without regeneration.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TABLE = os.path.join(HERE, "linux_amd64.tsv")
OUT = os.path.join(HERE, "..", "Sources", "JoeyABI", "SyscallNames.swift")


def rows():
    for line in open(TABLE):
        if line.startswith("#") or not line.strip():
            continue
        number, name = line.rstrip("\n").split("\t")[:2]
        yield int(number), name


def render():
    out = ["// Generated from syscalls/linux_amd64.tsv by syscalls/generate.py; do not edit.", "",
           "public enum SyscallNames {",
           "    /// x86-64 syscall number -> Linux name.",
           "    public static let byNumber: [Int: String] = ["]
    for number, name in rows():
        out.append(f'        {number}: "{name}",')
    out += ["    ]", "",
            '    public static func name(_ number: Int) -> String { byNumber[number] ?? "syscall_\\(number)" }',
            "}", ""]
    return "\n".join(out)


def main():
    text = render()
    if "--check" in sys.argv:
        current = open(OUT).read() if os.path.exists(OUT) else ""
        if current != text:
            sys.exit("syscalls: Sources/JoeyABI/SyscallNames.swift is stale; run python3 syscalls/generate.py")
        print("syscalls: generated files are fresh")
        return
    with open(OUT, "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
