#!/usr/bin/python3
"""Which host system calls do a running thread's seccomp filters let through?

The classic-BPF programs are read from the kernel with
PTRACE_SECCOMP_GET_FILTER (needs root and CONFIG_CHECKPOINT_RESTORE), then
each x86-64 system call number is run through them with the architecture and
number known and the instruction pointer and arguments unknown: every branch
that depends on an unknown value is explored, so a call is reported with the
set of actions some argument values can lead to.

Usage: python3 compare/seccomp_filters.py PID [--json]
"""

import argparse
import collections
import ctypes
import errno
import json
import os
import struct
import sys
import time

AUDIT_ARCH_X86_64 = 0xC000003E
NAMES_TSV = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                         "..", "syscalls", "linux_amd64.tsv")

PTRACE_GETREGS = 12
PTRACE_SETREGS = 13
PTRACE_DETACH = 17
PTRACE_SEIZE = 0x4206
PTRACE_INTERRUPT = 0x4207
PTRACE_SECCOMP_GET_FILTER = 0x420C
WALL = 0x40000000  # __WALL: the target is a thread, maybe not a group leader
NR_RESTART_SYSCALL = 219
ERESTARTNOINTR = 513
ERESTART_RESTARTBLOCK = 516
REG_RAX, REG_ORIG_RAX, N_REGS = 10, 15, 27  # struct user_regs_struct on x86-64

# SECCOMP_RET_* actions (ret & SECCOMP_RET_ACTION_FULL).
ACTION_NAMES = {
    0x80000000: "KILL_PROCESS",
    0x00000000: "KILL_THREAD",
    0x00030000: "TRAP",
    0x00050000: "ERRNO",
    0x7FC00000: "USER_NOTIF",
    0x7FF00000: "TRACE",
    0x7FFC0000: "LOG",
    0x7FFF0000: "ALLOW",
}
RET_ALLOW = 0x7FFF0000
RET_LOG = 0x7FFC0000
ACTION_FULL = 0xFFFF0000
PASSES = (RET_ALLOW, RET_LOG)  # actions under which the call runs on its own

MAX_STATES = 100_000  # per program and number; beyond it the result is "incomplete"
U32 = 0xFFFFFFFF
SECCOMP_DATA_SIZE = 64


def _action_name(action):
    # The kernel kills the process on any action value it does not know.
    return ACTION_NAMES.get(action, "INVALID_%#010x" % action)


def _precedence(action):
    """kernel/seccomp.c ACTION_ONLY(): the action as an s32; the lowest wins."""
    return action - (1 << 32) if action & 0x80000000 else action


# ---------------------------------------------------------------- reading

_libc = ctypes.CDLL(None, use_errno=True)
_libc.ptrace.argtypes = (ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p)
_libc.ptrace.restype = ctypes.c_long


def _ptrace(request, tid, addr=None, data=None):
    ret = _libc.ptrace(request, tid, addr, data)
    if ret == -1:
        err = ctypes.get_errno()
        raise OSError(err, "ptrace(%#x) on thread %d: %s" % (request, tid, os.strerror(err)))
    return ret


def _seccomp_mode(tid):
    with open("/proc/%d/status" % tid) as f:
        for line in f:
            if line.startswith("Seccomp:"):
                return int(line.split()[1])
    raise OSError(errno.ENOSYS, "no Seccomp line in /proc/%d/status" % tid)


def _keep_restart_off_restart_syscall(tid):
    """The stop interrupts a blocking system call. Calls with a restart block
    (nanosleep, clock_nanosleep, futex and poll with a timeout) would then
    resume through restart_syscall, which a filter may kill; have the kernel
    issue the interrupted call again instead (it was let through before, and
    its number and arguments are unchanged). A relative timeout starts over."""
    regs = (ctypes.c_ulonglong * N_REGS)()
    _ptrace(PTRACE_GETREGS, tid, None, ctypes.addressof(regs))
    if regs[REG_ORIG_RAX] < 1 << 63 and regs[REG_RAX] == (-ERESTART_RESTARTBLOCK) & (2**64 - 1):
        regs[REG_RAX] = (-ERESTARTNOINTR) & (2**64 - 1)
        _ptrace(PTRACE_SETREGS, tid, None, ctypes.addressof(regs))


def read_filters(tid):
    """The classic-BPF programs installed on thread `tid`, most recent first.

    Each program is a list of (code, jt, jf, k). The thread is stopped only
    for as long as the reads take (PTRACE_SEIZE + PTRACE_INTERRUPT, then
    PTRACE_DETACH), and only that thread, not its whole process. If the
    filters do not always allow restart_syscall, an interrupted call is
    restarted as itself (see _keep_restart_off_restart_syscall).
    """
    mode = _seccomp_mode(tid)
    if mode == 0:
        return []
    if mode != 2:
        raise OSError(errno.EINVAL, "thread %d is in seccomp mode %d (strict), which has no filters" % (tid, mode))
    try:
        _ptrace(PTRACE_SEIZE, tid)
    except OSError as e:
        raise OSError(e.errno, "cannot attach to thread %d (already traced? not root?): %s"
                      % (tid, os.strerror(e.errno))) from None
    resume_signal = 0
    try:
        _ptrace(PTRACE_INTERRUPT, tid)
        _, status = os.waitpid(tid, WALL)
        if not os.WIFSTOPPED(status):
            raise OSError(errno.ESRCH, "thread %d exited while being read" % tid)
        if status >> 16 == 0:
            # A signal-delivery stop came before ours: hand the signal back on detach.
            resume_signal = os.WSTOPSIG(status)
        programs = []
        while True:
            try:
                count = _ptrace(PTRACE_SECCOMP_GET_FILTER, tid, len(programs))
            except OSError as e:
                if e.errno == errno.ENOENT:  # past the oldest filter
                    break
                if e.errno == errno.EMEDIUMTYPE:
                    raise OSError(e.errno, "filter %d of thread %d is not classic BPF" % (len(programs), tid)) from None
                if e.errno == errno.EACCES:
                    raise OSError(e.errno, "PTRACE_SECCOMP_GET_FILTER needs CAP_SYS_ADMIN and a caller without seccomp") from None
                raise
            buf = ctypes.create_string_buffer(count * 8)
            _ptrace(PTRACE_SECCOMP_GET_FILTER, tid, len(programs), ctypes.addressof(buf))
            programs.append(list(struct.iter_unpack("<HBBI", buf.raw)))
        # With a signal to deliver, the kernel's own restart rules must stand.
        if resume_signal == 0 and not evaluate(programs, NR_RESTART_SYSCALL)["always_allow"]:
            _keep_restart_off_restart_syscall(tid)
        return programs
    finally:
        _ptrace(PTRACE_DETACH, tid, None, resume_signal)


# ---------------------------------------------------------------- evaluating
#
# A register or scratch word holds an int (known), ("f", offset) (a word of
# seccomp_data that is unknown, not yet transformed) or None (unknown).
# Comparisons of an ("f", offset) word with a constant narrow what the word
# may be on each branch (an interval and excluded values), so that branches a
# path has already ruled out (e.g. a second test of the same argument) are
# not explored. Nothing else is tracked: that over-approximates the paths.

_FULL = (0, U32, frozenset())


def _constraint(cons, off):
    for o, lo, hi, excl in cons:
        if o == off:
            return lo, hi, excl
    return _FULL


def _narrow(cons, off, lo, hi, excl=frozenset()):
    """cons with word `off` further restricted; None if that is impossible."""
    olo, ohi, oexcl = _constraint(cons, off)
    lo, hi = max(lo, olo), min(hi, ohi)
    excl = frozenset(v for v in (excl | oexcl) if lo <= v <= hi)
    if lo > hi or (hi - lo + 1 <= len(excl) and all(v in excl for v in range(lo, hi + 1))):
        return None
    rest = tuple(c for c in cons if c[0] != off)
    return tuple(sorted(rest + ((off, lo, hi, excl),)))


def _resolve(v, cons):
    """A symbolic word whose constraints pin it to one value is that value."""
    if isinstance(v, tuple):
        lo, hi, _ = _constraint(cons, v[1])
        if lo == hi:
            return lo
    return v


def _branch(op, a, b, cons):
    """[(taken, cons)] for the feasible outcomes of jump `op` on A=a, operand b."""
    a, b = _resolve(a, cons), _resolve(b, cons)
    if isinstance(a, int) and isinstance(b, int):
        taken = {0x10: a == b, 0x20: a > b, 0x30: a >= b, 0x40: bool(a & b)}[op]
        return [(taken, cons)]
    if op == 0x40 or a is None or b is None:  # JSET, or a value we don't follow
        return [(True, cons), (False, cons)]
    if isinstance(a, tuple) and isinstance(b, tuple):
        if a != b:
            return [(True, cons), (False, cons)]
        return [({0x10: True, 0x20: False, 0x30: True}[op], cons)]
    if op == 0x10:
        off, c = (a[1], b) if isinstance(a, tuple) else (b[1], a)
        outcomes = [(True, _narrow(cons, off, c, c)),
                    (False, _narrow(cons, off, 0, U32, frozenset((c,))))]
    elif isinstance(a, tuple):  # word > c / word >= c
        off, c = a[1], b
        k = c + 1 if op == 0x20 else c
        outcomes = [(True, _narrow(cons, off, k, U32)), (False, _narrow(cons, off, 0, k - 1))]
    else:  # c > word / c >= word
        off, c = b[1], a
        k = c - 1 if op == 0x20 else c
        outcomes = [(True, _narrow(cons, off, 0, k)), (False, _narrow(cons, off, k + 1, U32))]
    return [(t, c) for t, c in outcomes if c is not None]


def _alu(op, a, b):
    """A op b on u32 words; None when an operand is unknown. Division by zero
    is handled by the caller (the kernel ends the program with 0)."""
    if not (isinstance(a, int) and isinstance(b, int)):
        return None
    if op == 0x00:
        return (a + b) & U32
    if op == 0x10:
        return (a - b) & U32
    if op == 0x20:
        return (a * b) & U32
    if op == 0x30:
        return a // b
    if op == 0x40:
        return a | b
    if op == 0x50:
        return a & b
    if op in (0x60, 0x70):
        if b >= 32:
            return None  # not defined by classic BPF
        return (a << b) & U32 if op == 0x60 else a >> b
    if op == 0x80:
        return -a & U32
    if op == 0xA0:
        return a ^ b
    raise ValueError("ALU op %#x is not accepted by seccomp" % op)


def _run(prog, nr, arch):
    """Set of return values (None for an unknown one) reachable in one program,
    and whether the exploration stopped early."""
    data = {0: nr & U32, 4: arch}
    start = (0, 0, 0, (0,) * 16, ())
    seen = {start}
    work = [start]
    rets = set()
    while work:
        if len(seen) > MAX_STATES:
            return rets, True
        pc, A, X, M, cons = work.pop()
        successors = []
        while not successors:
            if pc >= len(prog):
                raise ValueError("program runs off its end at %d" % pc)
            code, jt, jf, k = prog[pc]
            cls = code & 0x07
            pc += 1
            if cls in (0x00, 0x01):  # LD, LDX
                mode = code & 0xE0
                if mode == 0x20 and code & 0x18 == 0:  # W ABS: a seccomp_data word
                    if k >= SECCOMP_DATA_SIZE or k & 3:
                        raise ValueError("load of seccomp_data offset %d" % k)
                    v = data[k] if k in data else _resolve(("f", k), cons)
                elif mode == 0x00:  # IMM
                    v = k
                elif mode == 0x60:  # MEM
                    v = M[k]
                elif mode == 0x80:  # W LEN: the kernel makes it sizeof(seccomp_data)
                    v = SECCOMP_DATA_SIZE
                else:
                    raise ValueError("load %#x is not accepted by seccomp" % code)
                if cls == 0x00:
                    A = v
                else:
                    X = v
            elif cls in (0x02, 0x03):  # ST, STX
                M = M[:k] + (A if cls == 0x02 else X,) + M[k + 1:]
            elif cls == 0x04:  # ALU
                op = code & 0xF0
                b = 0 if op == 0x80 else _resolve(X, cons) if code & 0x08 else k
                if op == 0x30 and b == 0:  # division by zero ends the program with 0
                    rets.add(0)
                    break
                if op == 0x30 and not isinstance(b, int):
                    rets.add(0)  # the divisor may be zero
                A = _alu(op, _resolve(A, cons), b)
            elif cls == 0x05:  # JMP
                op = code & 0xF0
                if op == 0x00:
                    pc += k
                    continue
                b = X if code & 0x08 else k
                successors = [(pc + (jt if taken else jf), c) for taken, c in _branch(op, A, b, cons)]
            elif cls == 0x06:  # RET
                v = {0x00: k, 0x08: X, 0x10: A}.get(code & 0x18)
                v = _resolve(v, cons)
                rets.add(v if isinstance(v, int) else None)
                break
            else:  # MISC
                if code & 0xF8 == 0x00:
                    X = A
                elif code & 0xF8 == 0x80:
                    A = X
                else:
                    raise ValueError("misc op %#x" % code)
        for npc, ncons in successors:
            state = (npc, A, X, M, ncons)
            if state not in seen:
                seen.add(state)
                work.append(state)
    return rets, False


def evaluate(filters, nr, arch=AUDIT_ARCH_X86_64):
    """What the filters (most recent first) do with system call `nr` of `arch`.

    Returns {"actions": names of the actions some arguments lead to,
    "always_allow", "ever_allow", "incomplete"}. LOG counts as allowing.
    The kernel runs every filter and keeps the action with the lowest
    ACTION_ONLY() (an s32, so KILL_PROCESS wins over everything).

    Arguments are treated independently per filter: the actions of one filter
    are combined with those of every other as if they could come from
    different argument values. With more than one filter that can only add
    combinations (an over-approximation of "actions" and "ever_allow", an
    under-approximation of "always_allow"). Within a program, branches on
    transformed arguments (masks, arithmetic) are both taken, which
    over-approximates in the same way. "incomplete" means a program's
    exploration hit MAX_STATES or returned an unknown value, so actions may
    be missing.
    """
    combined = {RET_ALLOW}  # seccomp_run_filters() starts from ALLOW
    incomplete = False
    for prog in filters:
        rets, capped = _run(prog, nr, arch)
        incomplete |= capped or None in rets
        actions = {r & ACTION_FULL for r in rets if r is not None}
        combined = {min(c, a, key=_precedence) for c in combined for a in actions}
    return {
        "actions": {_action_name(a) for a in combined},
        "always_allow": bool(combined) and combined <= set(PASSES),
        "ever_allow": any(a in PASSES for a in combined),
        "incomplete": incomplete,
    }


# ---------------------------------------------------------------- summary

def load_names(path=NAMES_TSV):
    """nr -> name from the project's table of x86-64 system calls
    (tab-separated, "#" comment header, columns number and name first)."""
    names = {}
    with open(path) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            number, name = line.split("\t")[:2]
            names[int(number)] = name
    return names


def _name(names, nr):
    return names.get(nr) or "syscall_%d" % nr


def _thread_filter_counts(tid):
    """{filter count: threads} over the threads of tid's process, from
    /proc/*/status, to show whether the thread read is representative."""
    counts = collections.Counter()
    task_dir = "/proc/%d/task" % tid
    for t in os.listdir(task_dir):
        try:
            with open(os.path.join(task_dir, t, "status")) as f:
                for line in f:
                    if line.startswith("Seccomp_filters:"):
                        counts[int(line.split()[1])] += 1
        except FileNotFoundError:  # the thread ended meanwhile
            pass
    return dict(sorted(counts.items()))


def summarize(tid, names):
    """Read the filters of thread `tid` and evaluate x86-64 numbers
    0..max(names). Numbers absent from `names` are named syscall_<nr>
    (with the project's table: 336..423, which x86-64 leaves unassigned, so
    the kernel answers ENOSYS); "unnamed_allowed" counts those allowed."""
    t0 = time.monotonic()
    filters = read_filters(tid)
    t1 = time.monotonic()
    unconditional, conditional, incomplete = [], [], []
    refusals = collections.Counter()
    unnamed_allowed = 0
    for nr in range(max(names) + 1):
        r = evaluate(filters, nr)
        name = _name(names, nr)
        if r["always_allow"]:
            unconditional.append(name)
        elif r["ever_allow"]:
            conditional.append(name)
        if r["ever_allow"] and nr not in names:
            unnamed_allowed += 1
        if r["incomplete"]:
            incomplete.append(name)
        refusals.update(a for a in r["actions"] if a not in ("ALLOW", "LOG"))
    t2 = time.monotonic()
    return {
        "tid": tid,
        "filters": len(filters),
        "instructions": sum(len(p) for p in filters),
        "numbers": max(names) + 1,
        "allowed": sorted(unconditional + conditional),
        "unconditional": sorted(unconditional),
        "conditional": sorted(conditional),
        "unnamed_allowed": unnamed_allowed,
        "incomplete": sorted(incomplete),
        "default": refusals.most_common(1)[0][0] if refusals else None,
        "thread_filter_counts": _thread_filter_counts(tid),
        "read_seconds": round(t1 - t0, 3),
        "eval_seconds": round(t2 - t1, 3),
    }


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("pid", type=int, help="process (or thread) id whose filters to read")
    ap.add_argument("--json", action="store_true", help="print the summary as JSON")
    ap.add_argument("--names", default=NAMES_TSV, help="table of x86-64 system calls (default: %(default)s)")
    args = ap.parse_args(argv)
    names = load_names(args.names)
    try:
        s = summarize(args.pid, names)
    except OSError as e:
        sys.exit("seccomp_filters: %s" % e)
    if args.json:
        print(json.dumps(s, indent=1))
        return
    with open("/proc/%d/comm" % args.pid) as f:
        comm = f.read().strip()
    allowed = set(s["allowed"])
    never = sorted(name for name in names.values() if name not in allowed)
    print("thread %d (%s): %d filters, %d instructions; threads by filter count: %s"
          % (s["tid"], comm, s["filters"], s["instructions"], s["thread_filter_counts"]))
    print("x86-64 numbers 0..%d: %d allowed (%d unconditionally, %d for some arguments; "
          "%d of them unassigned numbers), default action %s"
          % (s["numbers"] - 1, len(s["allowed"]), len(s["unconditional"]), len(s["conditional"]),
             s["unnamed_allowed"], s["default"]))
    print("unconditional:", " ".join(s["unconditional"]))
    print("conditional:", " ".join(s["conditional"]))
    print("never allowed (named):", " ".join(never))
    if s["incomplete"]:
        print("INCOMPLETE (exploration capped or unknown return value):", " ".join(s["incomplete"]))
    print("read %.3f s, evaluation %.3f s" % (s["read_seconds"], s["eval_seconds"]))


if __name__ == "__main__":
    main(sys.argv[1:])
