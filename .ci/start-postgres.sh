#!/usr/bin/env bash
# Make sure the local PostgreSQL 15 cluster "15 main" accepts connections on
# 127.0.0.1:5432, starting it if needed. Fast no-op when it is already up.
#
# Env overrides: PG_VERSION (15), PG_CLUSTER (main), PGHOST_CI (127.0.0.1),
# PGPORT_CI (5432), PG_START_TIMEOUT (30 seconds).
set -euo pipefail

PG_VERSION="${PG_VERSION:-15}"
PG_CLUSTER="${PG_CLUSTER:-main}"
HOST="${PGHOST_CI:-127.0.0.1}"
PORT="${PGPORT_CI:-5432}"
TIMEOUT="${PG_START_TIMEOUT:-30}"

log() { echo "[start-postgres] $*"; }
die() { echo "[start-postgres] ERROR: $*" >&2; exit 1; }

command -v pg_isready >/dev/null 2>&1 || die "pg_isready not found (is postgresql-client installed?)"

if pg_isready -q -h "$HOST" -p "$PORT"; then
    log "PostgreSQL already accepting connections on $HOST:$PORT"
    exit 0
fi

command -v pg_ctlcluster >/dev/null 2>&1 || die "pg_ctlcluster not found (is postgresql-common installed?)"

log "starting cluster $PG_VERSION/$PG_CLUSTER ..."
# A failure here may just mean "already starting"; the wait below decides.
if ! pg_ctlcluster --skip-systemctl-redirect "$PG_VERSION" "$PG_CLUSTER" start; then
    log "pg_ctlcluster start returned non-zero; waiting for the server anyway"
fi

deadline=$(( $(date +%s) + TIMEOUT ))
until pg_isready -q -h "$HOST" -p "$PORT"; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
        log "cluster status:"
        pg_lsclusters >&2 || true
        logfile="/var/log/postgresql/postgresql-${PG_VERSION}-${PG_CLUSTER}.log"
        [ -r "$logfile" ] && tail -n 20 "$logfile" >&2 || true
        die "PostgreSQL not accepting connections on $HOST:$PORT after ${TIMEOUT}s"
    fi
    sleep 0.5
done
log "PostgreSQL is accepting connections on $HOST:$PORT"
