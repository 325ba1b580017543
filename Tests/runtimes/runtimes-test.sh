#!/bin/bash
# Docker and containerd run containers on Joey (`make test-runtimes`, part of `make test`): a
# private dockerd (its own data and exec roots, vfs storage, a bridge of its own, no iptables)
# with Joey added as a runtime, an image imported from a busybox-static rootfs; then docker run
# (output, status, 127/126 for a missing or non-executable program, --read-only, -v, -e, -w,
# --tmpfs), the bridge network both ways (-p included), run -d + logs + exec + pause/unpause + top + update + stop, exec -it on a
# terminal (tmux), and ctr on the same containerd with --runc-binary: run, run -d, task exec
# (also -t on a terminal), pause/resume, metrics (the container's cgroup), kill; and a second
# containerd loading README's CRI runtime entry for Joey. Skips, saying why, only when dockerd
# is missing or cannot start here.
set -u
JOEY=$(readlink -f "${1:-.build/debug/joey}")
fails=0
pass() { echo "test-runtimes: ok: $*"; }
fail() { echo "test-runtimes: FAIL: $*" >&2; fails=$((fails + 1)); }

command -v dockerd >/dev/null && command -v ctr >/dev/null \
    || { echo "test-runtimes: SKIP: dockerd or ctr is not installed (make deps installs docker.io)"; exit 0; }
work=$(mktemp -d /var/tmp/joey-runtimes.XXXXXX)
sock=$work/docker.sock
# dockerd's bridge network on a bridge of this test's own (no iptables rules: published
# ports go through docker-proxy), or none where no bridge can be made.
bridge=joeyrt$$; net=10.$((RANDOM % 200 + 20)).$((RANDOM % 250 + 1))
if ip link add "$bridge" type bridge 2>/dev/null; then
    ip addr add "$net.1/24" dev "$bridge" && ip link set "$bridge" up || { ip link del "$bridge"; bridge=none; }
else
    bridge=none
fi
dockerd --data-root "$work/data" --exec-root "$work/exec" --pidfile "$work/dockerd.pid" -H "unix://$sock" \
    --iptables=false --ip-masq=false --bridge="$bridge" --storage-driver=vfs --add-runtime "joey=$JOEY" >"$work/dockerd.log" 2>&1 &
cleanup() {
    [ -f "$work/dockerd.pid" ] && kill "$(cat "$work/dockerd.pid")" 2>/dev/null
    for _ in $(seq 100); do [ -S "$sock" ] || break; sleep 0.1; done
    tmux -L joey-runtimes kill-server 2>/dev/null
    [ -n "${web_pid:-}" ] && kill "$web_pid" 2>/dev/null
    [ "$bridge" != none ] && ip link del "$bridge" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
DOCKER="docker -H unix://$sock"
D="timeout 120 $DOCKER"
for _ in $(seq 100); do $D info >/dev/null 2>&1 && break; sleep 0.2; done
if ! $D info >/dev/null 2>&1; then
    echo "test-runtimes: SKIP: dockerd cannot start on this machine: $(tail -1 "$work/dockerd.log")"
    exit 0
fi
R="--runtime joey --network none"

mkdir -p "$work/rootfs/bin" "$work/rootfs/etc" "$work/rootfs/tmp" "$work/rootfs/www"
cp /bin/busybox "$work/rootfs/bin/"
for a in sh ls echo cat sleep id hostname true tty pwd ip wget httpd; do ln -s busybox "$work/rootfs/bin/$a"; done
echo "root:x:0:0:root:/root:/bin/sh" > "$work/rootfs/etc/passwd"
echo served-by-the-container > "$work/rootfs/www/index.html"
tar -C "$work/rootfs" -cf "$work/rootfs.tar" .
$D import "$work/rootfs.tar" joey-test-busybox:latest >/dev/null || { echo "test-runtimes: FAIL: docker import" >&2; exit 1; }

# docker run: output, exit status, HOME from /etc/passwd.
out=$($D run --rm $R joey-test-busybox sh -c 'echo hi; echo HOME=$HOME; exit 3' 2>&1); rc=$?
[ "$rc" = 3 ] && [ "$out" = "$(printf 'hi\nHOME=/root')" ] && pass "docker run (output, exit status 3, HOME)" || fail "docker run: rc=$rc $out"
out=$($D run --rm $R joey-test-busybox nosuchcmd 2>&1); rc=$?
[ "$rc" = 127 ] && echo "$out" | grep -q 'executable file not found' && pass "docker run of a missing program: 127" || fail "missing program: rc=$rc $out"
out=$($D run --rm $R joey-test-busybox /etc/passwd 2>&1); rc=$?
[ "$rc" = 126 ] && pass "docker run of a non-executable file: 126" || fail "non-executable: rc=$rc $out"
mkdir -p "$work/vol" && echo host-file > "$work/vol/f"
out=$($D run --rm $R --read-only -v "$work/vol:/data" -e FOO=bar -w /data joey-test-busybox \
    sh -c 'cat f; echo $FOO; pwd; (echo x > /tmp/t) 2>/dev/null || echo tmp-read-only; echo w > /data/g' 2>&1)
[ "$out" = "$(printf 'host-file\nbar\n/data\ntmp-read-only')" ] && [ "$(cat "$work/vol/g" 2>/dev/null)" = w ] \
    && pass "docker run --read-only -v -e -w" || fail "--read-only -v -e -w: $out"
out=$($D run --rm $R --read-only --tmpfs /tmp joey-test-busybox sh -c 'echo x > /tmp/t && cat /tmp/t' 2>&1)
[ "$out" = x ] && pass "docker run --tmpfs /tmp" || fail "--tmpfs: $out"

# docker's bridge network: the container's sentry lives in the network namespace dockerd
# configures (veth, address, route), so the guest reaches the host and the host reaches a
# server in the guest, directly and through a published port.
if [ "$bridge" != none ]; then
    mkdir -p "$work/web" && echo served-by-the-host > "$work/web/hostfile"
    port=$((20000 + RANDOM % 20000))
    (cd "$work/web" && exec python3 -m http.server "$port" --bind "$net.1" >/dev/null 2>&1) & web_pid=$!
    for _ in $(seq 50); do curl -s -m 1 "http://$net.1:$port/hostfile" >/dev/null && break; sleep 0.1; done
    out=$($D run --rm --runtime joey joey-test-busybox sh -c "ip -4 addr show eth0; wget -q -O - http://$net.1:$port/hostfile" 2>&1)
    echo "$out" | grep -q "inet $net\." && echo "$out" | grep -qx served-by-the-host \
        && pass "docker bridge network: the guest has the veth's address and reaches the host" || fail "bridge, guest to host: $out"
    published=$((20000 + RANDOM % 20000))
    cid=$($D run -d --runtime joey -p "127.0.0.1:$published:80" joey-test-busybox httpd -f -p 80 -h /www 2>&1)
    addr=$($D inspect -f '{{.NetworkSettings.IPAddress}}' "$cid" 2>&1)
    for _ in $(seq 50); do curl -s -m 1 "http://$addr/" >/dev/null && break; sleep 0.1; done
    direct=$(curl -s -m 5 "http://$addr/"); via=$(curl -s -m 5 "http://127.0.0.1:$published/")
    [ "$direct" = served-by-the-container ] && [ "$via" = served-by-the-container ] \
        && pass "docker bridge network: a server in the guest, reached at its address and through -p" \
        || fail "bridge, host to guest: at $addr: '$direct'; through -p $published: '$via'"
    $D rm -f "$cid" >/dev/null 2>&1
    kill "$web_pid" 2>/dev/null
else
    echo "test-runtimes: SKIP: docker bridge network: cannot make a bridge here (ip link add type bridge failed)"
fi

# run -d, logs, exec, pause/unpause, top, update, stop.
cid=$($D run -d $R joey-test-busybox sh -c 'echo started; trap "echo bye; exit 0" TERM; while true; do sleep 1; done' 2>&1)
[ $? = 0 ] && pass "docker run -d" || fail "run -d: $cid"
for _ in $(seq 50); do $D logs "$cid" 2>&1 | grep -q started && break; sleep 0.1; done
out=$($D exec "$cid" sh -c 'echo in-exec; exit 4' 2>&1); rc=$?
[ "$rc" = 4 ] && [ "$out" = in-exec ] && pass "docker exec (output, exit status)" || fail "exec: rc=$rc $out"
$D pause "$cid" >/dev/null; s1=$($D inspect -f '{{.State.Status}}' "$cid")
$D unpause "$cid" >/dev/null; s2=$($D inspect -f '{{.State.Status}}' "$cid")
[ "$s1" = paused ] && [ "$s2" = running ] && pass "docker pause, unpause" || fail "pause: $s1, unpause: $s2"
out=$($D top "$cid" 2>&1); rc=$?
[ "$rc" = 0 ] && [ "$(echo "$out" | wc -l)" -ge 2 ] && pass "docker top (the host processes running the container)" || fail "top: rc=$rc $out"
out=$($D update --pids-limit 50 "$cid" 2>&1); rc=$?
# The container's cgroup follows: pids.max is the backstop for 50 guest tasks (2x50+64).
pid=$($D inspect -f '{{.State.Pid}}' "$cid"); cg=$(grep -E '^[0-9]+:pids:|^0::' "/proc/$pid/cgroup" | head -1); cg=${cg#*:*:}
max=$(cat "/sys/fs/cgroup/pids$cg/pids.max" 2>/dev/null || cat "/sys/fs/cgroup$cg/pids.max" 2>/dev/null)
[ "$rc" = 0 ] && [ "$max" = 164 ] && pass "docker update --pids-limit (the cgroup's pids.max follows: $max)" \
    || fail "update: rc=$rc $out; pids.max ${max:-unreadable} in $cg"
$D stop -t 10 "$cid" >/dev/null 2>&1
state=$($D inspect -f '{{.State.Status}} {{.State.ExitCode}}' "$cid" 2>&1)
logs=$($D logs "$cid" 2>&1)
[ "$state" = "exited 0" ] && [ "$logs" = "$(printf 'started\nbye')" ] && pass "docker stop (init's TERM trap ran), logs" || fail "stop: $state; logs: $logs"
$D rm "$cid" >/dev/null 2>&1 || fail "docker rm"

# A shell on a terminal (a tmux session $1 running command $2): it answers, knows its tty,
# and its exit status $3 comes back.
T="tmux -L joey-runtimes"
screen() { $T capture-pane -t "$1" -p; }
waitfor() { for _ in $(seq 100); do screen "$1" | grep -q "$2" && return 0; sleep 0.1; done; return 1; }
terminal_shell() {
    $T new-session -d -s "$1" -x 120 -y 30 "$2; echo session-exited-\$?; sleep 30"
    waitfor "$1" '#' && $T send-keys -t "$1" 'tty; echo answer-$((6*7))' Enter
    waitfor "$1" 'answer-42' && screen "$1" | grep -q '^/dev/pts/' && $T send-keys -t "$1" "exit $3" Enter
    waitfor "$1" "session-exited-$3"
}

# exec -it on a terminal.
if command -v tmux >/dev/null; then
    cid=$($D run -d $R joey-test-busybox sh -c 'while true; do sleep 1; done' 2>&1)
    # (docker itself, not under timeout: its child would not be the terminal's foreground job)
    terminal_shell e "$DOCKER exec -it $cid sh" 6 && pass "docker exec -it: a shell on a terminal, its exit status" || fail "exec -it: $(screen e)"
    $D rm -f "$cid" >/dev/null 2>&1
else
    fail "tmux is missing (make deps installs it)"
fi

# ctr on dockerd's containerd, Joey as the runc binary.
C="timeout 120 ctr -a $work/exec/containerd/containerd.sock -n joey-test"
$D save joey-test-busybox:latest -o "$work/image.tar" && $C image import --base-name docker.io/library/joey-test-busybox "$work/image.tar" >/dev/null 2>&1 \
    || fail "ctr image import"
IMG=docker.io/library/joey-test-busybox:latest
out=$($C run --rm --runc-binary "$JOEY" "$IMG" t1 sh -c 'echo from-ctr; exit 4' 2>&1); rc=$?
[ "$rc" = 4 ] && [ "$out" = from-ctr ] && pass "ctr run (output, exit status)" || fail "ctr run: rc=$rc $out"
$C run -d --runc-binary "$JOEY" "$IMG" t2 sh -c 'while true; do sleep 1; done' >/dev/null 2>&1 || fail "ctr run -d"
out=$($C task exec --exec-id e1 t2 sh -c 'echo exec-ok' 2>&1)
[ "$out" = exec-ok ] && pass "ctr task exec" || fail "ctr task exec: $out"
if command -v tmux >/dev/null; then
    terminal_shell c "ctr -a $work/exec/containerd/containerd.sock -n joey-test task exec -t --exec-id e2 t2 sh" 5 \
        && pass "ctr task exec -t: a shell on a terminal, its exit status" || fail "ctr task exec -t: $(screen c)"
fi
$C task pause t2 >/dev/null 2>&1; s1=$($C task ls 2>&1 | awk '$1 == "t2" { print $3 }')
$C task resume t2 >/dev/null 2>&1; s2=$($C task ls 2>&1 | awk '$1 == "t2" { print $3 }')
[ "$s1" = PAUSED ] && [ "$s2" = RUNNING ] && pass "ctr task pause, resume" || fail "ctr pause: $s1, resume: $s2"
out=$($C task metrics t2 2>&1)
echo "$out" | grep -Eq 'memory\.(usage_in_bytes|current)' && pass "ctr task metrics (the container's cgroup)" || fail "ctr task metrics: $out"
$C task kill -s KILL t2 >/dev/null 2>&1
for _ in $(seq 50); do $C task ls 2>&1 | grep -q "t2 .*STOPPED" && break; sleep 0.1; done
$C task rm t2 >/dev/null 2>&1 && $C container rm t2 >/dev/null 2>&1 && pass "ctr task kill, rm" || fail "ctr kill/rm: $($C task ls 2>&1)"

# The CRI runtime entry README gives, beside runc's: containerd loads it, its CRI plugin
# starts with Joey as that runtime's binary (no kubelet or crictl here to run a pod).
cri=$work/cri
mkdir -p "$cri"
cat > "$cri/config.toml" <<TOML
version = 2
root = "$cri/root"
state = "$cri/state"
[grpc]
  address = "$cri/containerd.sock"
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.joey]
  runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.joey.options]
    BinaryName = "$JOEY"
TOML
containerd --config "$cri/config.toml" >"$cri/log" 2>&1 &
cri_pid=$!
for _ in $(seq 100); do ctr -a "$cri/containerd.sock" plugins ls >/dev/null 2>&1 && break; sleep 0.1; done
plugin=$(ctr -a "$cri/containerd.sock" plugins ls 2>&1 | awk '$2 == "cri" { print $4 }')
kill "$cri_pid" 2>/dev/null; wait "$cri_pid" 2>/dev/null
[ "$plugin" = ok ] && grep -q "joey:{Type:io.containerd.runc.v2 .*BinaryName:$JOEY" "$cri/log" \
    && pass "containerd loads the CRI runtime entry for Joey" || fail "CRI plugin: ${plugin:-absent}; $(grep -m1 'failed to load plugin io.containerd.grpc.v1.cri' "$cri/log")"

[ "$fails" = 0 ] && echo "test-runtimes: all passed" || { echo "test-runtimes: $fails failed"; exit 1; }
