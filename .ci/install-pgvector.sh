#!/usr/bin/env bash
# Build and install pgvector (>= 0.8.0) for the local PostgreSQL 15 server from
# Debian's *source* package of the trixie suite, then verify that
# `CREATE EXTENSION vector` works in database `test`.
#
# - The deb-src entry for trixie lives in its own file under
#   /etc/apt/sources.list.d/ (deb-src only: no binary package ever comes from
#   trixie). Its mirror URI is read at run time from the machine's existing apt
#   sources, so no mirror host name appears in this file.
# - Idempotent: if vector.control already has default_version >= 0.8.0 (and
#   vector.so is installed), only the verification step runs.
#
# Env overrides: PG_VERSION (15), PGVECTOR_MIN_VERSION (0.8.0),
# PGVECTOR_SUITE (trixie), PGVECTOR_VERIFY_DB (test), PGVECTOR_VERIFY_USER
# (postgres), PGVECTOR_FORCE=1 to rebuild even if already installed.
set -euo pipefail

START_NS=$(date +%s%N)
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

PG_VERSION="${PG_VERSION:-15}"
MIN_VERSION="${PGVECTOR_MIN_VERSION:-0.8.0}"
SRC_SUITE="${PGVECTOR_SUITE:-trixie}"
VERIFY_DB="${PGVECTOR_VERIFY_DB:-test}"
VERIFY_USER="${PGVECTOR_VERIFY_USER:-postgres}"
PG_CONFIG="/usr/lib/postgresql/${PG_VERSION}/bin/pg_config"
CONTROL="/usr/share/postgresql/${PG_VERSION}/extension/vector.control"
MODULE="/usr/lib/postgresql/${PG_VERSION}/lib/vector.so"
SRC_LIST="/etc/apt/sources.list.d/ironstore-${SRC_SUITE}-src.sources"
KEYRING="/usr/share/keyrings/debian-archive-keyring.gpg"

export DEBIAN_FRONTEND=noninteractive
APT_OPTS=(-y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)

log() { echo "[install-pgvector] $*"; }
die() { echo "[install-pgvector] ERROR: $*" >&2; exit 1; }
elapsed() { echo "$(( ($(date +%s%N) - START_NS) / 1000000 ))" | awk '{printf "%.1fs", $1/1000}'; }

# default_version from vector.control, empty if absent.
installed_version() {
    [ -f "$CONTROL" ] && [ -f "$MODULE" ] || return 0
    sed -n "s/^[[:space:]]*default_version[[:space:]]*=[[:space:]]*'\{0,1\}\([^' ]*\)'\{0,1\}.*/\1/p" "$CONTROL" | head -n1
}

version_ok() {
    local v="$1"
    [ -n "$v" ] && dpkg --compare-versions "$v" ge "$MIN_VERSION"
}

# Print the Debian mirror URI named by the machine's existing apt sources
# (the one serving the release's own suite, e.g. "bookworm"). Both deb822
# *.sources files and classic one-line *.list / sources.list are read.
detect_mirror_uri() {
    local codename="$1" f files=()
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] && [ "$f" != "$SRC_LIST" ] && files+=("$f")
    done
    if [ "${#files[@]}" -gt 0 ]; then
        # Paragraph mode; comments dropped; continuation lines joined.
        awk -v want="$codename" '
            BEGIN { RS = ""; FS = "\n" }
            {
                delete fld; key = ""
                for (i = 1; i <= NF; i++) {
                    line = $i
                    if (line ~ /^[ \t]*#/) continue
                    if (line ~ /^[ \t]/ && key != "") { fld[key] = fld[key] " " line; continue }
                    p = index(line, ":"); if (!p) continue
                    key = tolower(substr(line, 1, p - 1)); gsub(/[ \t]/, "", key)
                    fld[key] = substr(line, p + 1)
                }
                if (tolower(fld["enabled"]) ~ /no/) next
                if (fld["types"] !~ /(^|[ \t])deb([ \t]|$)/ && fld["types"] !~ /deb-src/) next
                n = split(fld["suites"], s, /[ \t]+/); hit = 0
                for (j = 1; j <= n; j++) if (s[j] == want) hit = 1
                if (!hit) next
                m = split(fld["uris"], u, /[ \t]+/)
                for (j = 1; j <= m; j++) if (u[j] != "") { print u[j]; exit }
            }' "${files[@]}" | head -n1 | grep . && return 0
    fi
    files=()
    [ -f /etc/apt/sources.list ] && files+=(/etc/apt/sources.list)
    for f in /etc/apt/sources.list.d/*.list; do [ -f "$f" ] && files+=("$f"); done
    if [ "${#files[@]}" -gt 0 ]; then
        # deb [opts] URI SUITE COMPONENTS...
        sed -e 's/#.*//' -e 's/\[[^]]*\]//' "${files[@]}" | awk -v want="$codename" '
            ($1 == "deb" || $1 == "deb-src") && $3 == want { print $2; exit }' | grep . && return 0
    fi
    return 1
}

# ---------------------------------------------------------------- fast path
current="$(installed_version)"
if [ "${PGVECTOR_FORCE:-0}" != "1" ] && version_ok "$current"; then
    log "pgvector $current already installed for PostgreSQL $PG_VERSION (>= $MIN_VERSION); skipping build"
else
    [ "$(id -u)" -eq 0 ] || die "must run as root to install packages"
    log "pgvector ${current:-not} installed; building >= $MIN_VERSION from Debian $SRC_SUITE source"

    # ------------------------------------------------ deb-src entry for trixie
    codename="$(. /etc/os-release && echo "${VERSION_CODENAME:-}")"
    [ -n "$codename" ] || die "cannot read VERSION_CODENAME from /etc/os-release"
    mirror="$(detect_mirror_uri "$codename")" \
        || die "no apt source for suite '$codename' found in /etc/apt/sources.list{,.d/*}; cannot pick a mirror"
    log "using mirror from existing apt sources for $SRC_SUITE deb-src"

    want_list="$(printf '%s\n' \
        "# Managed by ironstore .ci/install-pgvector.sh: source packages only (no binaries from $SRC_SUITE)." \
        "Types: deb-src" \
        "URIs: $mirror" \
        "Suites: $SRC_SUITE" \
        "Components: main"
        if [ -f "$KEYRING" ]; then echo "Signed-By: $KEYRING"; fi)"
    need_update=0
    if [ ! -f "$SRC_LIST" ] || [ "$(cat "$SRC_LIST")" != "$want_list" ]; then
        printf '%s\n' "$want_list" > "$SRC_LIST"
        log "wrote $SRC_LIST"
        need_update=1
    fi
    compgen -G "/var/lib/apt/lists/*_dists_${SRC_SUITE}_*Sources*" >/dev/null || need_update=1
    apt-cache policy "postgresql-server-dev-${PG_VERSION}" 2>/dev/null | grep -q 'Candidate: [0-9]' || need_update=1

    apt_update() { log "apt-get update ..."; apt-get update -q >/dev/null || die "apt-get update failed"; }
    [ "$need_update" -eq 1 ] && apt_update
    updated=$need_update

    # --------------------------------------------------- build dependencies
    deps=("postgresql-server-dev-${PG_VERSION}" dpkg-dev make gcc)
    missing=()
    for p in "${deps[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        log "installing build deps: ${missing[*]}"
        apt_log="$(mktemp /tmp/ironstore-apt.XXXXXX)"
        apt_install() { apt-get install "${APT_OPTS[@]}" --no-install-recommends "${missing[@]}" >"$apt_log" 2>&1; }
        if ! apt_install; then
            if [ "$updated" -eq 0 ]; then apt_update; updated=1; fi
            apt_install || { tail -n 30 "$apt_log" >&2; die "apt-get install ${missing[*]} failed"; }
        fi
        rm -f "$apt_log"
    fi
    [ -x "$PG_CONFIG" ] || die "$PG_CONFIG missing after installing postgresql-server-dev-${PG_VERSION}"

    # -------------------------------------------------------- fetch + build
    build_dir="$(mktemp -d /tmp/ironstore-pgvector.XXXXXX)"
    trap 'rm -rf "$build_dir"' EXIT
    fetch_source() { (cd "$build_dir" && apt-get source -q --only-source pgvector >"$build_dir/apt-source.log" 2>&1); }
    log "apt-get source pgvector ($SRC_SUITE) ..."
    if ! fetch_source; then
        if [ "$updated" -eq 0 ]; then
            log "apt-get source failed; refreshing package lists and retrying"
            apt_update; updated=1
            fetch_source || { cat "$build_dir/apt-source.log" >&2; die "apt-get source pgvector failed"; }
        else
            cat "$build_dir/apt-source.log" >&2; die "apt-get source pgvector failed"
        fi
    fi
    src_dir="$(find "$build_dir" -mindepth 1 -maxdepth 1 -type d -name 'pgvector-*' | head -n1)"
    [ -n "$src_dir" ] && [ -f "$src_dir/Makefile" ] || die "unpacked pgvector source not found in $build_dir"
    log "building $(basename "$src_dir") against $("$PG_CONFIG" --version)"
    # OPTFLAGS="": pgvector defaults to -march=native; build portable code like Debian does.
    make_args=(PG_CONFIG="$PG_CONFIG" OPTFLAGS="")
    if ! make -C "$src_dir" -j2 "${make_args[@]}" >"$build_dir/make.log" 2>&1; then
        tail -n 40 "$build_dir/make.log" >&2; die "pgvector build failed"
    fi
    if ! make -C "$src_dir" "${make_args[@]}" install >"$build_dir/install.log" 2>&1; then
        tail -n 40 "$build_dir/install.log" >&2; die "pgvector make install failed"
    fi
    current="$(installed_version)"
    version_ok "$current" || die "installed pgvector version '${current}' is below $MIN_VERSION"
    log "installed pgvector $current"
fi

# ------------------------------------------------------------------ verify
bash "$HERE/start-postgres.sh"
ext_version="$(psql -h 127.0.0.1 -p 5432 -U "$VERIFY_USER" -d "$VERIFY_DB" -X -q -At -v ON_ERROR_STOP=1 <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS vector;
ALTER EXTENSION vector UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'vector';
SQL
)" || die "CREATE EXTENSION vector failed in database '$VERIFY_DB' as '$VERIFY_USER'"
[ -n "$ext_version" ] || die "extension vector not present in '$VERIFY_DB' after CREATE EXTENSION"
log "OK: extension vector $ext_version in postgresql://$VERIFY_USER@127.0.0.1:5432/$VERIFY_DB (took $(elapsed))"
