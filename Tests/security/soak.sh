#!/bin/bash
# `make soak SOAK_MINUTES=N`: trinity fuzzes the sandbox as an unprivileged guest user for N
# minutes per platform (default 30), in batches of 20,000 calls (every other one under
# --memory SOAK_MEMORY, default 1G; empty: none), each with a seed printed so
# a failure can be replayed (TRINITY_SEED=S Tests/security/security-test.sh runs one). After
# each batch the sentry must have ended normally (no crash, no call outside its allow-list).
# Before and after the whole run the host is compared: a file-tree snapshot of the host
# directories a guest sees through its root (nothing may change), and sentinel processes (one
# root, one nobody) that must survive; no sandbox process may be left behind.
set -u
JOEY=$(readlink -f "${1:-.build/debug/joey}")
MINUTES=${SOAK_MINUTES:-30}
PLATFORMS=${JOEY_TEST_PLATFORMS:-systrap ptrace}
BATCH=20000
# Every other batch runs under a memory limit, so the fuzzing also reaches the limit's path
# (the MemoryFile on a tmpfs of that size, the safe copies, the OOM killer).
MEMORY=${SOAK_MEMORY:-1G}
fails=0
command -v trinity >/dev/null || { echo "soak: FAIL: trinity is missing (make deps installs it)" >&2; exit 1; }

work=$(mktemp -d /var/tmp/joey-soak.XXXXXX)
trap 'kill $sentinels 2>/dev/null; rm -rf "$work"' EXIT
snapshot() { # the host tree a guest's root shows (joey do: the host's /), without what changes on its own
    find /etc /usr /opt /root /home /srv /boot /bin /sbin /lib /lib64 /var -xdev \
        \( -path /root/.cache -o -path /var/tmp -o -path /var/log -o -path /var/cache -o -path /var/lib/containers -o -path /var/lib/apt -o -path /var/lib/dpkg -o -path /var/lib/systemd \) -prune \
        -o -printf '%p\t%y\t%s\t%T@\t%m\t%U:%G\n' 2>/dev/null | sort
}
snapshot > "$work/before"
sleep 100000 & sentinels=$!
setpriv --reuid=65534 --regid=65534 --clear-groups sleep 100000 & sentinels="$sentinels $!"

total=0
for platform in $PLATFORMS; do
    end=$(( $(date +%s) + MINUTES * 60 ))
    batches=0
    killed=0
    while [ "$(date +%s)" -lt "$end" ]; do
        seed=$RANDOM$RANDOM
        memory=; [ $((batches % 2)) = 1 ] && [ -n "$MEMORY" ] && memory="--memory $MEMORY"
        # A root shell is the init and reports trinity's end (see security-test.sh: a trinity
        # child may kill trinity's main process, as natively; the sentry must stand).
        err=$(timeout -k 5 900 "$JOEY" do --platform="$platform" $memory -- /bin/sh -c \
            "cd /tmp && setpriv --reuid=65534 --regid=65534 --clear-groups /usr/bin/trinity -a64 -q -l off -C 2 -N $BATCH -s $seed -P INET >/dev/null 2>&1; echo \"trinity: exit \$?\" >&2" 2>&1 >/dev/null)
        rc=$?
        batches=$((batches + 1))
        echo "$err" | grep -q "^trinity: exit 0" || killed=$((killed + 1))
        if [ $rc != 0 ] || echo "$err" | grep -qE "^joey|Fatal error" || ! echo "$err" | grep -q "^trinity: exit"; then
            echo "soak: FAIL: $platform: trinity seed $seed${memory:+ ($memory)}: exit $rc; $(echo "$err" | grep -E "^joey|Fatal error" | head -3)" >&2
            fails=$((fails + 1))
        fi
    done
    echo "soak: $platform: $batches batches of $BATCH calls ($((batches * BATCH)) calls) in $MINUTES minutes; in $killed of them trinity itself did not end normally (killed by its own children, or out of memory under --memory)"
    total=$((total + batches * BATCH))
done

snapshot > "$work/after"
if diff -q "$work/before" "$work/after" >/dev/null; then
    echo "soak: ok: the host tree is unchanged ($(wc -l < "$work/before") entries compared)"
else
    echo "soak: FAIL: the host tree changed:" >&2
    diff "$work/before" "$work/after" | head -20 >&2
    fails=$((fails + 1))
fi
alive=0
for p in $sentinels; do kill -0 "$p" 2>/dev/null && alive=$((alive + 1)); done
[ $alive = 2 ] && echo "soak: ok: the host's sentinel processes (root and nobody) survived" \
    || { echo "soak: FAIL: $((2 - alive)) sentinel process(es) died" >&2; fails=$((fails + 1)); }
# Only this run's platforms: a soak of the other platform may be running beside this one.
left=$(pgrep -f -- "$JOEY do --platform=($(echo $PLATFORMS | tr ' ' '|'))( |$)" | wc -l)
[ "$left" = 0 ] && echo "soak: ok: no sandbox process is left" || { echo "soak: FAIL: $left sandbox processes left" >&2; fails=$((fails + 1)); }

[ $fails = 0 ] && echo "soak: all passed: $total trinity calls" || { echo "soak: $fails failed" >&2; exit 1; }
