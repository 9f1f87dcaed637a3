#!/usr/bin/env bash
# Start a throwaway PostgreSQL server on loopback for the store's tests.
#
#   eval "$(bash .ci/postgres.sh)"        # start; exports PERPDESK_TEST_PG_URL and PERPDESK_TEST_PG_DIR
#   bash .ci/postgres.sh --stop "$DIR"    # stop the server started in DIR and delete DIR
#
# stdout carries only `export NAME=value` lines (so `eval` is safe); progress
# and errors go to stderr. Installs Debian's `postgresql` package when no
# server binaries are found and we are root. PostgreSQL refuses to run as
# root, so as root the server runs as the `postgres` user (runuser).
#
# The server is for tests only: trust authentication, listening on 127.0.0.1
# only, and fsync off (set PERPDESK_PG_FSYNC=on to keep it).
set -euo pipefail

log() { echo "postgres.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }

find_bindir() {
    local d
    if command -v pg_config >/dev/null 2>&1; then
        d="$(pg_config --bindir 2>/dev/null || true)"
        if [ -n "$d" ] && [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then echo "$d"; return 0; fi
    fi
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then echo "$d"; return 0; fi
    done
    for d in /usr/local/pgsql/bin /usr/pgsql-*/bin; do
        if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then echo "$d"; return 0; fi
    done
    return 1
}

# run a command as the server's owner: `postgres` when we are root, else ourselves
as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

if [ "${1:-}" = "--stop" ]; then
    dir="${2:-${PERPDESK_TEST_PG_DIR:-}}"
    [ -n "$dir" ] && [ -d "$dir/data" ] || die "usage: $0 --stop DIR (the PERPDESK_TEST_PG_DIR printed at start)"
    bindir="$(find_bindir)" || die "no PostgreSQL binaries found"
    as_owner "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >&2 || log "pg_ctl stop failed (already stopped?)"
    rm -rf "$dir"
    exit 0
fi

if ! bindir="$(find_bindir)"; then
    if [ "$(id -u)" -ne 0 ]; then
        die "no PostgreSQL server binaries (initdb, pg_ctl) found, and not root to install them: apt-get install postgresql"
    fi
    log "installing Debian's postgresql package"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq postgresql >&2
    bindir="$(find_bindir)" || die "postgresql was installed but initdb/pg_ctl are still missing"
fi

if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
    log "creating the postgres system user"
    useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
fi

dir="$(mktemp -d "${TMPDIR:-/tmp}/perpdesk-pg.XXXXXX")"
chmod 0755 "$dir"
if [ "$(id -u)" -eq 0 ]; then chown postgres: "$dir"; fi

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
user=perpdesk
db=perpdesk
fsync="${PERPDESK_PG_FSYNC:-off}"

log "initdb in $dir/data ($bindir)"
as_owner "$bindir/initdb" -D "$dir/data" -U "$user" --auth=trust --encoding=UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
    || as_owner "$bindir/initdb" -D "$dir/data" -U "$user" --auth=trust --encoding=UTF8 --no-locale >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; die "initdb failed"; }

log "starting the server on 127.0.0.1:$port"
opts="-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=$fsync -c max_connections=100"
if ! as_owner "$bindir/pg_ctl" -D "$dir/data" -o "$opts" -l "$dir/server.log" -w -t 60 start >&2; then
    cat "$dir/server.log" >&2 || true
    die "the server did not start"
fi

as_owner "$bindir/createdb" -h 127.0.0.1 -p "$port" -U "$user" "$db" >&2 || die "createdb failed"

log "ready; stop it with: bash .ci/postgres.sh --stop $dir"
echo "export PERPDESK_TEST_PG_URL=postgresql+psycopg://$user@127.0.0.1:$port/$db"
echo "export PERPDESK_TEST_PG_DIR=$dir"
