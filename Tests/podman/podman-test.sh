#!/bin/bash
# podman runs containers on Joey (`make test-podman`, part of `make test`): an image imported
# from a busybox-static rootfs tarball, then run --rm, run -d + exec + stop, and run -it
# driven through tmux; and an nginx image built from the host's nginx, run -d -p on podman's
# default network, answering curl on the host. Skips, saying why, only when podman itself
# cannot run here.
set -u
JOEY=$(readlink -f "${1:-.build/debug/joey}")
IMAGE=localhost/joey-test-busybox:latest
ULIMITS="--ulimit nofile=1024:1024 --ulimit nproc=1024:1024"
fails=0
pass() { echo "test-podman: ok: $*"; }
fail() { echo "test-podman: FAIL: $*" >&2; fails=$((fails + 1)); }

command -v podman >/dev/null || { echo "test-podman: SKIP: podman is not installed (make deps installs it)"; exit 0; }
if ! info=$(podman info 2>&1); then
    echo "test-podman: SKIP: podman cannot run on this machine: $(echo "$info" | tail -1)"
    exit 0
fi

work=$(mktemp -d /var/tmp/joey-podman.XXXXXX)
# A private store (vfs needs no mounts) and no systemd dependencies: the same on any machine.
P="podman --root $work/storage --runroot $work/run --storage-driver vfs --cgroup-manager cgroupfs --events-backend file --runtime $JOEY"
trap 'podman --root "$work/storage" --runroot "$work/run" --storage-driver vfs system reset -f >/dev/null 2>&1; rm -rf "$work"; tmux -L joey-podman kill-server 2>/dev/null' EXIT
mkdir -p "$work/rootfs/bin" "$work/rootfs/etc" "$work/rootfs/tmp"
cp /bin/busybox "$work/rootfs/bin/"
for a in sh ls echo cat sleep id hostname true tty; do ln -s busybox "$work/rootfs/bin/$a"; done
echo "root:x:0:0:root:/root:/bin/sh" > "$work/rootfs/etc/passwd"
tar -C "$work/rootfs" -cf "$work/rootfs.tar" .
$P import -q "$work/rootfs.tar" "$IMAGE" >/dev/null || { echo "test-podman: FAIL: podman import" >&2; exit 1; }

# 1. run --rm: output and exit status come through.
out=$(timeout 120 $P run --rm --network=none $ULIMITS "$IMAGE" sh -c 'echo hi; ls /; exit 3' 2>&1)
rc=$?
[ "$rc" = 3 ] && [ "$(echo "$out" | head -1)" = "hi" ] && echo "$out" | grep -qx bin \
    && pass "run --rm (output and exit status 3)" || fail "run --rm: rc=$rc output: $out"

# 2. run -d, exec, stop, rm.
cid=$(timeout 120 $P run -d --network=none $ULIMITS "$IMAGE" sh -c 'echo from-init > /tmp/mark; trap "exit 0" TERM; while true; do sleep 1; done' 2>&1)
[ $? = 0 ] && pass "run -d" || fail "run -d: $cid"
state=$(timeout 30 $P inspect --format '{{.State.Status}}' "$cid" 2>&1)
[ "$state" = running ] && pass "inspect: running" || fail "inspect: $state"
# The container's sentry is confined as `joey do`'s is (Tests/security checks that one): its
# seccomp filter, no_new_privs, pid 1 of its own pid namespace, namespaces and an empty root.
sentry=$(timeout 30 $P inspect --format '{{.State.Pid}}' "$cid" 2>&1)
if [ -r "/proc/$sentry/status" ]; then
    st=$(awk '$1 == "Seccomp:" || $1 == "NoNewPrivs:" { printf "%s%s ", $1, $2 } $1 == "NSpid:" { printf "NSpid:%s ", $NF }' "/proc/$sentry/status")
    same=""
    for ns in mnt pid ipc uts; do [ "$(readlink /proc/$sentry/ns/$ns)" = "$(readlink /proc/self/ns/$ns)" ] && same="$same $ns"; done
    [ "$st" = "NSpid:1 NoNewPrivs:1 Seccomp:2 " ] && [ -z "$same" ] && [ -z "$(ls -A /proc/$sentry/root/ 2>&1)" ] \
        && pass "the container's sentry is confined (seccomp, no_new_privs, pid 1 of its own namespace, own mount/ipc/uts, empty root)" \
        || fail "the container's sentry: $st; shares the host's:$same; root holds: $(ls -A /proc/$sentry/root/ 2>&1 | head -3 | tr '\n' ' ')"
else
    fail "no sentry process for the container (State.Pid '$sentry')"
fi
out=""
for _ in $(seq 50); do
    out=$(timeout 30 $P exec "$cid" sh -c 'cat /tmp/mark; echo exec-pid $$' 2>&1) && echo "$out" | grep -q from-init && break
    sleep 0.1
done
echo "$out" | grep -q from-init && echo "$out" | grep -q "exec-pid" \
    && pass "exec sees the container's files" || fail "exec: $out"
out=$(timeout 30 $P exec "$cid" sh -c 'exit 4' 2>&1); rc=$?
[ "$rc" = 4 ] && pass "exec exit status" || fail "exec exit status: rc=$rc $out"
# pause and unpause (the runtime's pause and resume): the state follows.
out=$(timeout 30 $P pause "$cid" 2>&1); rc=$?
state=$(timeout 30 $P inspect --format '{{.State.Status}}' "$cid" 2>&1)
out2=$(timeout 30 $P unpause "$cid" 2>&1); rc2=$?
state2=$(timeout 30 $P inspect --format '{{.State.Status}}' "$cid" 2>&1)
[ "$rc" = 0 ] && [ "$state" = paused ] && [ "$rc2" = 0 ] && [ "$state2" = running ] \
    && pass "pause, unpause" || fail "pause: rc=$rc $out, state $state; unpause: rc=$rc2 $out2, state $state2"
out=$(timeout 60 $P stop -t 10 "$cid" 2>&1); rc=$?
state=$(timeout 30 $P inspect --format '{{.State.Status}} {{.State.ExitCode}}' "$cid" 2>&1)
[ "$rc" = 0 ] && [ "$state" = "exited 0" ] && pass "stop (init's TERM trap ran: exit 0)" || fail "stop: rc=$rc $out; state $state"
timeout 30 $P rm "$cid" >/dev/null 2>&1 && pass "rm" || fail "rm"

# 3 and 4. run -it, then exec -it into a running container: a shell on a terminal (tmux
# provides it), ^C interrupts its foreground job, the exit status comes back.
interactive() { # label, command, exit code
    # A session of its own each time (the EXIT trap ends the tmux server).
    local label=$1 cmd=$2 code=$3 T="tmux -L joey-podman" t="s$3"
    $T new-session -d -s "$t" -x 120 -y 30 "$cmd; echo session-exited-\$?; sleep 30"
    screen() { $T capture-pane -t "$t" -p; }
    waitfor() { for _ in $(seq 100); do screen | grep -q "$1" && return 0; sleep 0.1; done; return 1; }
    waitfor '#' || fail "$label: no prompt: $(screen)"
    $T send-keys -t "$t" 'tty; echo answer-$((6*7))' Enter
    waitfor 'answer-42' && screen | grep -q '^/dev/pts/' && pass "$label: a shell on a terminal" || fail "$label: $(screen)"
    $T send-keys -t "$t" 'sleep 20; echo not-interrupted' Enter
    sleep 0.5
    $T send-keys -t "$t" C-c
    $T send-keys -t "$t" 'echo after-$((1+1))' Enter
    waitfor 'after-2' && ! screen | grep -qx 'not-interrupted *' && pass "$label: ^C interrupts the foreground job" || fail "$label ^C: $(screen)"
    $T send-keys -t "$t" "exit $code" Enter
    waitfor 'session-exited' && screen | grep -q "session-exited-$code" && pass "$label: exit status" || fail "$label exit: $(screen)"
}
if command -v tmux >/dev/null; then
    interactive "run -it" "$P run --rm -it --network=none $ULIMITS $IMAGE sh" 5
    cid=$(timeout 120 $P run -d --network=none $ULIMITS "$IMAGE" sh -c 'trap "exit 0" TERM; while true; do sleep 1; done' 2>&1)
    interactive "exec -it" "$P exec -it $cid sh" 6
    timeout 60 $P rm -f "$cid" >/dev/null 2>&1
else
    fail "tmux is missing (make deps installs it)"
fi

# 5. run -d -p HOSTPORT:80 on podman's default network: the sentry lives in the container's
# network namespace, so the port podman forwards reaches nginx inside Joey.
if [ -x /usr/sbin/nginx ] && command -v curl >/dev/null; then
    r="$work/nginx-rootfs"
    mkdir -p "$r/bin" "$r/etc" "$r/tmp" "$r/var/log/nginx" "$r/www"
    cp /usr/sbin/nginx "$r/bin/"
    for lib in $(ldd /usr/sbin/nginx | grep -o '/[^ ]*'); do mkdir -p "$r$(dirname "$lib")"; cp -L "$lib" "$r$lib"; done
    echo "root:x:0:0:root:/root:/bin/sh" > "$r/etc/passwd"
    printf 'root:x:0:\nnogroup:x:65534:\n' > "$r/etc/group"
    echo "nobody:x:65534:65534:nobody:/:/bin/false" >> "$r/etc/passwd"
    echo "nginx in joey" > "$r/www/index.html"
    cat > "$r/etc/nginx.conf" <<'EOF'
daemon off;
worker_processes 2;
pid /tmp/nginx.pid;
error_log stderr;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path /tmp; proxy_temp_path /tmp; fastcgi_temp_path /tmp;
    uwsgi_temp_path /tmp; scgi_temp_path /tmp;
    server { listen 80; root /www; }
}
EOF
    tar -C "$r" -cf "$work/nginx.tar" .
    $P import -q "$work/nginx.tar" localhost/joey-test-nginx:latest >/dev/null || fail "podman import (nginx)"
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    cid=$(timeout 120 $P run -d -p "$port:80" $ULIMITS localhost/joey-test-nginx:latest /bin/nginx -c /etc/nginx.conf 2>&1)
    if [ $? = 0 ]; then
        out=""
        for _ in $(seq 100); do out=$(curl -s --max-time 5 "http://127.0.0.1:$port/") && [ -n "$out" ] && break; sleep 0.2; done
        [ "$out" = "nginx in joey" ] && pass "run -d -p $port:80: curl on the host reached nginx in the container" \
            || fail "run -p: curl got '$out'; logs: $(timeout 30 $P logs "$cid" 2>&1 | tail -5)"
        timeout 60 $P rm -f "$cid" >/dev/null 2>&1
    else
        fail "run -d -p: $cid"
    fi
else
    fail "nginx or curl is missing (make deps installs them)"
fi

if [ "$fails" -gt 0 ]; then echo "test-podman: $fails failed" >&2; exit 1; fi
echo "test-podman: all passed"
