#!/bin/bash
# The sandbox holds, checked from the host (`make test-security`, part of `make test`), on
# each platform: the running sentry is confined (seccomp filter mode, no_new_privs, only the
# capabilities its policy keeps, namespaces of its own, an empty root) and its stubs hold no
# capability; a process confined with the
# same policy dies on a call outside the allow-list and may make one inside it; the allow-list
# stays within its budget; strace -f of the sentry over real workloads sees no call outside it
# (syscall-audit.py); --unconfined really is unconfined; a guest's kill(-1, SIGKILL)
# reaches no host process; a hostile guest (hostile.c) climbs out of no root and makes no
# host call through another ABI; and trinity, fuzzing as an unprivileged guest, crashes nothing.
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

for platform in $PLATFORMS; do
    out=$(timeout 300 "$JOEY" do --platform="$platform" --pids-limit 64 --rootfs "$sec/root" -- /hostile "$sec/marker" "$secret" "$sec/escaped" 2>&1)
    echo "$out" | grep -q "^0 failed$" && [ ! -e "$sec/escaped" ] \
        && pass "$platform: a hostile guest held in: $(echo "$out" | grep -c '^ok ') attempts (path escapes, chroot, int 0x80, x32, /proc, fd and fork exhaustion)" \
        || fail "$platform: hostile guest: $(echo "$out" | grep -v '^ok ' | head -5 | tr '\n' ' ')$([ -e "$sec/escaped" ] && echo ' and it created a host directory')"

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
        stub=$(pgrep -P "$sentry" | head -1)
        if [ -n "$stub" ]; then
            sc=$(field "$stub" CapEff); sp=$(field "$stub" CapPrm)
            [ "$sc" = 0000000000000000 ] && [ "$sp" = 0000000000000000 ] && pass "$platform: its stub holds no capability" \
                || fail "$platform: stub CapEff=$sc CapPrm=$sp"
        else
            fail "$platform: no stub process under the sentry"
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
    if command -v trinity >/dev/null; then
        seed=${TRINITY_SEED:-$RANDOM}
        err=$(timeout -k 5 300 "$JOEY" do --platform="$platform" -- /bin/sh -c \
            "cd /tmp && exec setpriv --reuid=65534 --regid=65534 --clear-groups /usr/bin/trinity -a64 -q -l off -C 2 -N 10000 -s $seed -P INET" 2>&1 >/dev/null)
        rc=$?
        if [ $rc = 0 ] && ! echo "$err" | grep -qE "^joey|Fatal error"; then
            pass "$platform: trinity (seed $seed, 10,000 calls as nobody) left the sentry standing"
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
out=$("$JOEY" debug seccomp --probe ptrace 2>&1); rc=$?
[ $rc = 70 ] && pass "ptrace is outside the systrap allow-list" || fail "probe ptrace under systrap: rc=$rc $out"

count=$("$JOEY" debug seccomp --platform systrap --network none | sed -n 's/^# \([0-9]*\) system calls allowed.*/\1/p')
[ -n "$count" ] && [ "$count" -le 60 ] && pass "the systrap --network=none allow-list has $count calls (budget 60)" || fail "allow-list size: '$count'"

# What the confined sentry really calls over real workloads, measured with strace -f (on
# systrap: the ptrace platform's stubs trace themselves, so strace cannot follow them).
if command -v strace >/dev/null; then
    for net in none host; do
        out=$(python3 "$(dirname "$0")/syscall-audit.py" "$JOEY" --network $net 2>&1); rc=$?
        [ $rc = 0 ] && pass "strace -f: $(echo "$out" | sed -n 's/^syscall-audit: \([0-9]\)/\1/p')" \
            || fail "strace -f audit (--network=$net): $(echo "$out" | grep -E 'FAIL|OUTSIDE|outside it' | head -5 | tr '\n' ' ')"
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
