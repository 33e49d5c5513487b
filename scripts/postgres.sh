# Sourced by scripts/test after debian-packages.sh: a throwaway PostgreSQL server on
# loopback. Starts a fresh cluster on a free port, exports FEEDSVC_TEST_DATABASE_URL, and
# stops and removes it on exit.

pg_bin() {
    local dir
    dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    [ -n "$dir" ] && [ -x "$dir/initdb" ] && echo "$dir"
}

PG_BIN=$(pg_bin) || { echo "no PostgreSQL server binaries found" >&2; exit 1; }

PG_DIR=$(mktemp -d /tmp/feedsvc-pg.XXXXXX)
PG_PORT=$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# PostgreSQL refuses to run as root: the cluster belongs to the package's postgres user.
PG_USER=$(id -un)
if [ "$(id -u)" = 0 ]; then PG_USER=postgres; chown "$PG_USER" "$PG_DIR"; fi
run_pg() { if [ "$(id -un)" = "$PG_USER" ]; then "$@"; else su "$PG_USER" -s /bin/sh -c "$(printf '%q ' "$@")"; fi; }

run_pg "$PG_BIN/initdb" -D "$PG_DIR/data" -A trust -U postgres -E UTF8 >/dev/null
run_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w \
    -o "-p $PG_PORT -k $PG_DIR -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null
stop_postgres() {
    run_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$PG_DIR"
}
trap stop_postgres EXIT
export FEEDSVC_TEST_DATABASE_URL="postgresql+psycopg://postgres@127.0.0.1:$PG_PORT/postgres"
echo "== PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PG_PORT"
