#!/bin/bash
# Servers in a Joey sandbox (`make test-servers`, part of `make test`), on each platform this
# machine runs: python's http.server answering urllib, node's http module, nginx with two
# workers answering curl, redis with redis-cli and redis-benchmark, and postgres 15
# (initdb, pg_ctl start, psql over its unix socket and over TCP) run as the postgres user;
# sqlite3 with two writers in WAL and rollback-journal modes (file locks, a shared -shm mapping).
# With --network=host: a guest curl fetches from a host server (and cannot with the default
# --network=none), and curl on the host fetches from a server in the sandbox.
# A server that is not installed is skipped with a message (make deps installs them all).
set -u
JOEY=$(readlink -f "${1:-.build/debug/joey}")
PLATFORMS=${JOEY_TEST_PLATFORMS:-systrap ptrace}
fails=0
pass() { echo "test-servers: ok: $*"; }
fail() { echo "test-servers: FAIL: $*" >&2; fails=$((fails + 1)); }
skip() { echo "test-servers: SKIP: $*"; }

# The sandbox has its own /tmp: scripts and data for it live here.
work=$(mktemp -d /var/tmp/joey-servers.XXXXXX)
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"

cat > "$work/serve_http.py" <<'EOF'
import http.server, socketserver, threading, urllib.request
class Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args): pass
srv = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
threading.Thread(target=srv.serve_forever, daemon=True).start()
for _ in range(3):
    with urllib.request.urlopen(f"http://127.0.0.1:{srv.server_address[1]}/") as r:
        print(r.status)
srv.shutdown()
EOF

cat > "$work/http.js" <<'EOF'
const http = require('http');
const srv = http.createServer((req, res) => res.end('node says hi\n'));
srv.listen(0, '127.0.0.1', () => {
  http.get({ host: '127.0.0.1', port: srv.address().port, path: '/' }, (res) => {
    let body = '';
    res.on('data', (c) => body += c);
    res.on('end', () => { console.log(res.statusCode, body.trim()); srv.close(); });
  });
});
EOF

mkdir -p "$work/html"
echo "joey nginx" > "$work/html/index.html"
cat > "$work/nginx.conf" <<EOF
worker_processes 2;
daemon on;
pid /tmp/nginx.pid;
error_log /tmp/nginx-error.log;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path /tmp; proxy_temp_path /tmp; fastcgi_temp_path /tmp;
    uwsgi_temp_path /tmp; scgi_temp_path /tmp;
    server { listen 127.0.0.1:8088; root $work/html; }
}
EOF
cat > "$work/nginx.sh" <<EOF
/usr/sbin/nginx -c $work/nginx.conf || { cat /tmp/nginx-error.log; exit 1; }
for i in 1 2 3 4; do curl -s --max-time 10 http://127.0.0.1:8088/; done
ps_workers=\$(ls /proc | grep -c '^[0-9]')
kill \$(cat /tmp/nginx.pid)
echo "processes: \$ps_workers"
EOF

cat > "$work/redis.sh" <<'EOF'
redis-server --port 6399 --bind 127.0.0.1 --save '' --appendonly no --daemonize yes --logfile /tmp/redis.log
for i in $(seq 50); do redis-cli -p 6399 ping 2>/dev/null | grep -q PONG && break; sleep 0.1; done
redis-cli -p 6399 set greeting hello
redis-cli -p 6399 get greeting
redis-benchmark -p 6399 -q -n 500 -c 4 -t set,get | tr '\r' '\n' | grep -E '^(SET|GET): [0-9.]+ requests per second' | sed 's/:.*//'
redis-cli -p 6399 shutdown nosave
EOF

# sqlite3 with two writers at once, in WAL mode (file locks and a shared mapping of the -shm
# file) and in the default rollback-journal mode (file locks and a hot journal).
cat > "$work/sqlite.sh" <<'EOF'
cd /tmp
sqlite3 t.db 'pragma journal_mode=wal; create table t(a);' >/dev/null
sqlite3 j.db 'create table t(a);'
for db in t.db j.db; do
    for w in 1 2; do (for i in $(seq 20); do sqlite3 -cmd '.timeout 5000' $db "insert into t values($w)"; done) & done
    wait
    sqlite3 $db 'select count(*), sum(a) from t'
done
EOF

cat > "$work/postgres.sh" <<'EOF'
set -e
PG=$(ls -d /usr/lib/postgresql/*/bin | tail -1)
mkdir -p /tmp/pgdata /tmp/pgsock && chown postgres /tmp/pgdata /tmp/pgsock
as_pg() { setpriv --reuid=postgres --regid=postgres --init-groups "$@"; }
as_pg $PG/initdb -D /tmp/pgdata -A trust -U postgres > /tmp/initdb.log 2>&1 || { tail -5 /tmp/initdb.log; exit 1; }
as_pg $PG/pg_ctl -D /tmp/pgdata -o "-k /tmp/pgsock -p 5499 -c listen_addresses=127.0.0.1" -l /tmp/pg.log -w start > /dev/null || { tail -5 /tmp/pg.log; exit 1; }
psql -h /tmp/pgsock -p 5499 -U postgres -Atc 'select 40 + 2'
psql -h 127.0.0.1 -p 5499 -U postgres -Atc "select current_user || ' over tcp'"
as_pg $PG/pg_ctl -D /tmp/pgdata -w stop > /dev/null
EOF

for platform in $PLATFORMS; do
    run() { timeout 300 "$JOEY" do --platform="$platform" -- "$@" 2>&1; }

    out=$(run /usr/bin/python3 "$work/serve_http.py")
    [ "$out" = "$(printf '200\n200\n200')" ] && pass "$platform: python http.server + urllib" || fail "$platform: python http.server: $out"

    if command -v node >/dev/null; then
        out=$(run "$(command -v node)" "$work/http.js")
        [ "$out" = "200 node says hi" ] && pass "$platform: node http server" || fail "$platform: node: $out"
    else
        skip "$platform: node is not installed"
    fi

    if [ -x /usr/sbin/nginx ] && command -v curl >/dev/null; then
        out=$(run /bin/sh "$work/nginx.sh")
        [ "$(echo "$out" | grep -c '^joey nginx$')" = 4 ] && echo "$out" | grep -q "^processes: [3-9]" \
            && pass "$platform: nginx with two workers served curl" || fail "$platform: nginx: $out"
    else
        skip "$platform: nginx or curl is not installed"
    fi

    if command -v redis-server >/dev/null && command -v redis-benchmark >/dev/null; then
        out=$(run /bin/sh "$work/redis.sh")
        [ "$out" = "$(printf 'OK\nhello\nSET\nGET')" ] && pass "$platform: redis with redis-cli and redis-benchmark" || fail "$platform: redis: $out"
    else
        skip "$platform: redis is not installed"
    fi

    if command -v sqlite3 >/dev/null; then
        out=$(run /bin/sh "$work/sqlite.sh")
        [ "$out" = "$(printf '40|60\n40|60')" ] && pass "$platform: sqlite3 in WAL and rollback-journal modes, two writers each" || fail "$platform: sqlite3: $out"
    else
        skip "$platform: sqlite3 is not installed"
    fi

    if ls -d /usr/lib/postgresql/*/bin >/dev/null 2>&1 && id postgres >/dev/null 2>&1 && command -v psql >/dev/null; then
        out=$(run /bin/bash "$work/postgres.sh")
        [ "$out" = "$(printf '42\npostgres over tcp')" ] && pass "$platform: postgres as the postgres user (unix socket and TCP)" || fail "$platform: postgres: $out"
    else
        skip "$platform: postgresql is not installed"
    fi

    if command -v curl >/dev/null; then
        free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
        port=$(free_port)
        python3 -m http.server "$port" --bind 127.0.0.1 --directory "$work/html" >/dev/null 2>&1 &
        host_server=$!
        for i in $(seq 50); do curl -s "http://127.0.0.1:$port/" >/dev/null && break; sleep 0.1; done
        out=$(timeout 60 "$JOEY" do --platform="$platform" --network=host -- curl -s --max-time 10 "http://127.0.0.1:$port/" 2>&1)
        [ "$out" = "joey nginx" ] && pass "$platform: --network=host: a guest curl fetched from a host server" || fail "$platform: --network=host guest curl: $out"
        timeout 60 "$JOEY" do --platform="$platform" -- curl -s --max-time 10 "http://127.0.0.1:$port/" >/dev/null 2>&1
        rc=$?
        [ $rc = 7 ] && pass "$platform: --network=none: the host server is out of reach (curl exit 7)" || fail "$platform: --network=none reached the host (curl exit $rc)"
        kill $host_server; wait $host_server 2>/dev/null

        port=$(free_port)
        timeout 120 "$JOEY" do --platform="$platform" --network=host -- python3 -m http.server "$port" --bind 127.0.0.1 --directory "$work/html" >/dev/null 2>&1 &
        guest_server=$!
        out=""
        for i in $(seq 100); do out=$(curl -s --max-time 5 "http://127.0.0.1:$port/") && break; sleep 0.2; done
        [ "$out" = "joey nginx" ] && pass "$platform: --network=host: curl on the host fetched from a guest server" || fail "$platform: --network=host host curl: $out"
        kill $guest_server; wait $guest_server 2>/dev/null
    else
        skip "$platform: curl is not installed (--network=host)"
    fi
done

[ $fails = 0 ] && echo "test-servers: all passed" || { echo "test-servers: $fails failed" >&2; exit 1; }
