#!/bin/bash
# The sandbox holds, checked from the host (`make test-security`, part of `make test`), on
# each platform: the running sentry is confined (seccomp filter mode, no_new_privs, only the
# capabilities its policy keeps, namespaces of its own, an empty root) and its stubs hold no
# capability; a process confined with the
# same policy dies on a call outside the allow-list and may make one inside it; the allow-list
# stays within its budget; strace -f of the sentry over real workloads sees no call outside it
# (syscall-audit.py); --unconfined really is unconfined; a guest's kill(-1, SIGKILL)
# reaches no host process; a hostile guest (hostile.c) climbs out of no root, makes no host
# call through another ABI (int 0x80, sysenter, x32) nor has those taken for 64-bit calls,
# finds the vsyscall page as Linux has it, makes guest calls from a page it wrote (JIT),
# jumps into the stub page at every byte of its code, and stops at the pids limit with fork
# and thread bombs: confined, and again --unconfined (the platform alone between it and the
# host's root), never making a host directory; under --memory 64M anonymous-memory and /tmp
# hogs stop near the limit with the sentry's own memory bounded; compat's four
# use-after-unmap cases (pipes.c: read, readv, eventfd read, write on a buffer unmapped while
# the call blocks, reused by another process) pass; and trinity, fuzzing as an unprivileged
# guest, crashes nothing.
set -u
JOEY=$(readlink -f "${1:-.build/debug/joey}")
PLATFORMS=${JOEY_TEST_PLATFORMS:-systrap ptrace}
fails=0
pass() { echo "test-security: ok: $*"; }
fail() { echo "test-security: FAIL: $*" >&2; fails=$((fails + 1)); }

field() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"; }

# The sentry of a `joey do` running `sleep`: pid 1 of its own pid namespace, under the
# `joey do` process that relays to it. With --unconfined (second argument "any") it is the
# one joey process.
sentry_of() { # marker [any]
    for p in $(pgrep -x joey); do
        { tr '\0' ' ' < "/proc/$p/cmdline"; } 2>/dev/null | grep -q -- "$1" || continue
        [ "${2:-}" = any ] || [ "$(awk '$1 == "NSpid:" { print $NF }' "/proc/$p/status" 2>/dev/null)" = 1 ] && { echo "$p"; return; }
    done
}

# A hostile guest (hostile.c) in a root of its own; a secret sits on the host outside it.
sec=$(mktemp -d /var/tmp/sec.XXXXXX)
trap 'rm -rf "$sec"' EXIT
mkdir "$sec/root"
secret="host-secret-$RANDOM$RANDOM"
echo "$secret" > "$sec/marker"
gcc -static -O1 -w -o "$sec/root/hostile" "$(dirname "$0")/hostile.c" || fail "cannot build hostile.c"
# What hostile.c tried to make on the host: $sec/escaped and $sec/escaped-* (one per attack).
escaped() { ls -d "$sec"/escaped* 2>/dev/null | tr '\n' ' '; }
# The highest VmHWM (kB) of the joey processes (the `joey do` relay and its sentry) whose
# command line holds $1; stubs have no readable command line.
peak_of() {
    local best=0 p v
    for p in $(pgrep -x joey); do
        { tr '\0' ' ' < "/proc/$p/cmdline"; } 2>/dev/null | grep -q -- "$1" || continue
        v=$(field "$p" VmHWM 2>/dev/null)
        [ -n "$v" ] && [ "$v" -gt "$best" ] && best=$v
    done
    echo "$best"
}

# compat's use-after-unmap cases (compat/cases/pipes.c), built as compat/run.py builds them
# (gcc -O1 -w, dynamic and -static); a compat binary runs the one case named by its argument.
# They must pass natively first, or they prove nothing.
compat=$(dirname "$0")/../../compat/cases/pipes.c
unmap_cases="read_into_buffer_unmapped_while_blocked_is_efault_and_spares_other_memory
readv_into_buffer_unmapped_while_blocked_is_efault_and_spares_other_memory
eventfd_read_into_buffer_unmapped_while_blocked_is_efault_and_spares_other_memory
write_from_buffer_unmapped_while_blocked_stops_short_and_leaks_no_other_memory"
gcc -O1 -w -o "$sec/pipes-dynamic" "$compat" && gcc -O1 -w -o "$sec/pipes-static" "$compat" -static || fail "cannot build $compat"
for case in $unmap_cases; do
    (cd / && "$sec/pipes-static" "$case" < /dev/null) | grep -q "^ok $case$" || fail "compat case $case fails natively: a broken test"
done

for platform in $PLATFORMS; do
    # The hostile guest, confined; then --unconfined, where a host call that got past the
    # platform's stub would reach the host's root and make $sec/escaped*.
    for mode in confined unconfined; do
        flag=""; [ $mode = unconfined ] && flag=--unconfined
        out=$(timeout 300 "$JOEY" $flag do --platform="$platform" --pids-limit 64 --rootfs "$sec/root" -- /hostile "$sec/marker" "$secret" "$sec/escaped" 2>&1)
        made=$(escaped)
        echo "$out" | grep -q "^0 failed$" && [ -z "$made" ] \
            && pass "$platform ($mode): a hostile guest held in: $(echo "$out" | grep -c '^ok ') attempts (path escapes, chroot, int 0x80, sysenter, x32, vsyscall, JIT syscalls, stub-page jumps, /proc, fd, fork and thread exhaustion)" \
            || fail "$platform ($mode): hostile guest: $(echo "$out" | grep -v '^ok ' | head -5 | tr '\n' ' ')$([ -n "$made" ] && echo " and it created on the host: $made")"
        rm -rf "$sec"/escaped*
    done

    # Memory exhaustion under --memory 64M: the hogs stop near the limit, the sentry lives,
    # and its own resident size stays bounded (file data in /tmp is the sentry's memory;
    # unbounded, the hogs would take 512 MiB).
    timeout 300 "$JOEY" do --platform="$platform" --memory 64M --pids-limit 64 --rootfs "$sec/root" -- /hostile memory 64 > "$sec/memory.out" 2>&1 &
    runner=$!
    peak=0
    while kill -0 "$runner" 2>/dev/null; do
        h=$(peak_of "$sec/root -- /hostile memory"); [ "$h" -gt "$peak" ] && peak=$h
        sleep 0.05
    done
    wait "$runner"; rc=$?
    out=$(cat "$sec/memory.out")
    [ $rc = 0 ] && echo "$out" | grep -q "^0 failed$" && [ "$peak" -gt 0 ] && [ "$peak" -le $((256 * 1024)) ] \
        && pass "$platform: --memory 64M holds: anonymous-memory hogs killed after $(echo "$out" | sed -n 's/^ok anonymous.*(\([0-9]*\) MiB touched.*/\1/p' | paste -sd/) MiB, a /tmp file stopped by ENOSPC, the sentry peaked at $((peak / 1024)) MiB" \
        || fail "$platform: --memory 64M: exit $rc, sentry peak ${peak} kB (at most 256 MiB): $(echo "$out" | grep -v '^ok ' | head -5 | tr '\n' ' ')"

    # compat's use-after-unmap cases under Joey.
    bad=""
    for link in dynamic static; do
        for case in $unmap_cases; do
            o=$(cd / && timeout 120 "$JOEY" do --platform="$platform" -- "$sec/pipes-$link" "$case" < /dev/null 2>&1)
            echo "$o" | grep -q "^ok $case$" && echo "$o" | grep -q "^1 passed, 0 failed$" || bad="$bad $case [$link]: $(echo "$o" | grep -v '^ok ' | head -2 | tr '\n' ' ')"
        done
    done
    [ -z "$bad" ] && pass "$platform: a buffer unmapped while read, readv, an eventfd read or write blocks on it, and reused by another process, gives EFAULT or a short write and leaks nothing (compat/cases/pipes.c, dynamic and static)" \
        || fail "$platform: use-after-unmap:$bad"

    marker="sleep 7.$RANDOM"
    "$JOEY" do --platform="$platform" -- $marker &
    runner=$!
    sentry=""
    for _ in $(seq 50); do sentry=$(sentry_of "$marker"); [ -n "$sentry" ] && break; sleep 0.1; done
    sleep 0.5
    if [ -z "$sentry" ]; then
        fail "$platform: no sentry process found"
    else
        s=$(field "$sentry" Seccomp); n=$(field "$sentry" NoNewPrivs); c=$(field "$sentry" CapEff); b=$(field "$sentry" CapBnd)
        [ "$s" = 2 ] && [ "$n" = 1 ] && pass "$platform: the sentry runs under its seccomp filter with no_new_privs" \
            || fail "$platform: sentry Seccomp=$s NoNewPrivs=$n"
        # joey do with the default network keeps CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH only
        # (run by root; run by another user it has none to keep).
        want=0000000000000006; [ "$(id -u)" = 0 ] || want=0000000000000000
        [ "$c" = "$want" ] && { [ "$b" = "$want" ] || [ "$(id -u)" != 0 ]; } && pass "$platform: the sentry keeps 2 capabilities (CapEff $c)" \
            || fail "$platform: sentry CapEff=$c CapBnd=$b"
        # Its own network (none: it can reach no network itself), ipc, uts, mount and pid
        # namespaces; in the last it is pid 1, so no host process is in its reach.
        same=""
        for ns in net ipc uts mnt pid; do [ "$(readlink /proc/$sentry/ns/$ns)" = "$(readlink /proc/self/ns/$ns)" ] && same="$same $ns"; done
        nspid=$(awk '$1 == "NSpid:" { print $NF }' "/proc/$sentry/status")
        [ -z "$same" ] && [ "$nspid" = 1 ] && pass "$platform: the sentry has its own mount, pid (it is pid 1), net, ipc and uts namespaces" \
            || fail "$platform: the sentry shares the host's$same namespace (its pid in its own: $nspid)"
        [ -z "$(ls -A /proc/$sentry/root/ 2>&1)" ] && pass "$platform: the sentry's root is an empty directory" || fail "$platform: the sentry's root holds: $(ls -A /proc/$sentry/root/ | head -5 | tr '\n' ' ')"
        # Its children: the stub factory and the stubs, each with no capability and a filter.
        children=$(pgrep -P "$sentry")
        if [ "$(echo "$children" | wc -w)" -ge 2 ]; then
            bad=""
            for c in $children; do
                [ "$(field "$c" CapEff)$(field "$c" CapPrm)" = 00000000000000000000000000000000 ] && [ "$(field "$c" Seccomp)" = 2 ] \
                    && [ "$(field "$c" NoNewPrivs)" = 1 ] || bad="$bad $c"
            done
            [ -z "$bad" ] && pass "$platform: its stub factory and $(($(echo "$children" | wc -w) - 1)) stub(s) hold no capability, under a seccomp filter with no_new_privs" \
                || fail "$platform: child process(es)$bad of the sentry hold a capability or lack a filter"
        else
            fail "$platform: no stub factory and stub under the sentry (children: $children)"
        fi
    fi
    kill "$runner" 2>/dev/null; wait "$runner" 2>/dev/null

    # kill(-1, SIGKILL) in the guest: only guest processes are signalled.
    sleep 60 &
    victim=$!
    "$JOEY" do --platform="$platform" -- /bin/sh -c 'kill -9 -1; echo survived-own-kill' >/dev/null 2>&1
    kill -0 "$victim" 2>/dev/null && pass "$platform: a guest's kill(-1, SIGKILL) reaches no host process" \
        || fail "$platform: the host's sleep was killed by the guest"
    kill "$victim" 2>/dev/null; wait "$victim" 2>/dev/null

    # Fuzzing: trinity as an unprivileged guest user (10,000 calls, a seed printed so a
    # failure can be replayed). The sentry must neither crash nor leave its allow-list.
    # The sandbox's init is a root shell that reports trinity's own end: a trinity child
    # may legitimately kill trinity's main process (same user: prlimit64(RLIMIT_CPU, 0),
    # kill), as it would natively, and that is no failure of the sentry's.
    if command -v trinity >/dev/null; then
        seed=${TRINITY_SEED:-$RANDOM}
        err=$(timeout -k 5 300 "$JOEY" do --platform="$platform" -- /bin/sh -c \
            "cd /tmp && setpriv --reuid=65534 --regid=65534 --clear-groups /usr/bin/trinity -a64 -q -l off -C 2 -N 10000 -s $seed -P INET >/dev/null 2>&1; echo \"trinity: exit \$?\" >&2" 2>&1 >/dev/null)
        rc=$?
        if [ $rc = 0 ] && ! echo "$err" | grep -qE "^joey|Fatal error" && echo "$err" | grep -q "^trinity: exit"; then
            pass "$platform: trinity (seed $seed, 10,000 calls as nobody; $(echo "$err" | grep "^trinity: exit")) left the sentry standing"
        else
            fail "$platform: trinity seed $seed: exit $rc; $(echo "$err" | grep -E "^joey|Fatal error" | head -3)"
        fi
    else
        fail "$platform: trinity is missing (make deps installs it)"
    fi
done

out=$("$JOEY" debug seccomp --probe getpid 2>&1); rc=$?
[ $rc = 0 ] && echo "$out" | grep -q "getpid: allowed" && pass "an allowed call (getpid) goes through the filter" || fail "probe getpid: rc=$rc $out"
out=$("$JOEY" debug seccomp --probe uname 2>&1); rc=$?
[ $rc = 70 ] && echo "$out" | grep -q "host system call 63" && pass "a call outside the list (uname) ends the process, reported" || fail "probe uname: rc=$rc $out"
# mmap and mprotect never PROT_EXEC (7 = READ|WRITE|EXEC; 0x22 = PRIVATE|ANONYMOUS).
out=$("$JOEY" debug seccomp --probe mmap --probe-arguments 0,4096,3,0x22,-1,0 2>&1); rc=$?
[ $rc = 0 ] && echo "$out" | grep -q "mmap: allowed" && pass "the sentry may map memory read-write" || fail "probe mmap rw: rc=$rc $out"
for call in "mmap 0,4096,7,0x22,-1,0" "mprotect 0x10000,4096,4"; do
    out=$("$JOEY" debug seccomp --probe ${call% *} --probe-arguments ${call#* } 2>&1); rc=$?
    [ $rc = 70 ] && pass "the sentry may not ${call% *} PROT_EXEC memory" || fail "probe ${call% *} PROT_EXEC: rc=$rc $out"
done
out=$("$JOEY" debug seccomp --probe ptrace 2>&1); rc=$?
[ $rc = 70 ] && pass "ptrace is outside the systrap allow-list" || fail "probe ptrace under systrap: rc=$rc $out"

count=$("$JOEY" debug seccomp --platform systrap --network none | sed -n 's/^# \([0-9]*\) system calls allowed.*/\1/p')
[ -n "$count" ] && [ "$count" -le 60 ] && pass "the systrap --network=none allow-list has $count calls (budget 60)" || fail "allow-list size: '$count'"

# What the confined sentry really calls over real workloads, measured with strace -f (on
# systrap: the ptrace platform's stubs trace themselves, so strace cannot follow them).
if command -v strace >/dev/null; then
    for net in none host; do
        out=$(python3 "$(dirname "$0")/syscall-audit.py" "$JOEY" --network $net 2>&1); rc=$?
        retried=$(echo "$out" | grep -c 'strace failed')
        [ "$retried" = 0 ] && retried="" || retried=" (strace lost a race with a dying stub $retried time(s): run again)"
        [ $rc = 0 ] && pass "strace -f: $(echo "$out" | sed -n 's/^syscall-audit: \([0-9]\)/\1/p')$retried" \
            || fail "strace -f audit (--network=$net): $(echo "$out" | grep -E 'FAIL|OUTSIDE|outside it' | head -5 | tr '\n' ' ')$retried"
    done
else
    fail "strace is missing (make deps installs it)"
fi

# Run by an unprivileged user, the sentry confines itself inside a user namespace of its own.
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null && setpriv --reuid=65534 --regid=65534 --clear-groups test -x "$JOEY"; then
    marker="sleep 5.$RANDOM"
    setpriv --reuid=65534 --regid=65534 --clear-groups "$JOEY" do -- $marker &
    runner=$!
    sentry=""
    for _ in $(seq 50); do sentry=$(sentry_of "$marker"); [ -n "$sentry" ] && break; sleep 0.1; done
    sleep 0.5
    if [ -n "$sentry" ] && [ "$(field "$sentry" Seccomp)" = 2 ] && [ "$(field "$sentry" NoNewPrivs)" = 1 ] \
        && [ "$(readlink /proc/$sentry/ns/user)" != "$(readlink /proc/self/ns/user)" ] && [ -z "$(ls -A /proc/$sentry/root/ 2>/dev/null)" ]; then
        pass "run by nobody, the sentry is confined in a user namespace of its own"
    else
        fail "run by nobody: sentry=$sentry Seccomp=$([ -n "$sentry" ] && field "$sentry" Seccomp)"
    fi
    kill "$runner" 2>/dev/null; wait "$runner" 2>/dev/null
else
    echo "test-security: SKIP: the unprivileged-user check needs root, setpriv, and a joey binary nobody can run"
fi

marker="sleep 6.$RANDOM"
"$JOEY" --unconfined do -- $marker &
runner=$!
sentry=""
for _ in $(seq 50); do sentry=$(sentry_of "$marker" any); [ -n "$sentry" ] && break; sleep 0.1; done
[ -n "$sentry" ] && [ "$(field "$sentry" Seccomp)" = 0 ] && pass "--unconfined runs the sentry without a filter" || fail "--unconfined: Seccomp=$( [ -n "$sentry" ] && field "$sentry" Seccomp)"
kill "$runner" 2>/dev/null; wait "$runner" 2>/dev/null

[ $fails = 0 ] && echo "test-security: all passed" || { echo "test-security: $fails failed" >&2; exit 1; }
