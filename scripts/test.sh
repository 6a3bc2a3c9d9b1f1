#!/usr/bin/env bash
# Runs the whole mssante test suite, after installing what it needs: the Debian packages listed in
# scripts/debian-packages.txt (when run as root, or through sudo) and the Go tools of go.mod; runs
# gofmt, go vet, staticcheck and govulncheck (tools of scripts/tools/go.mod), then the tests.
# Usage: scripts/test.sh [go test flags…]   e.g. scripts/test.sh -run TestCompose ./message/
set -euo pipefail
cd "$(dirname "$0")/.."

# The Go toolchain of the tests: 1.26.11 carries the standard library's security fixes that govulncheck
# asks for (1.26.8 has twelve called vulnerabilities). The go command takes it from the Go module proxy
# on first use (about 76 MB, cached); MSSANTE_GOTOOLCHAIN=local keeps the installed Go.
export GOTOOLCHAIN="${MSSANTE_GOTOOLCHAIN:-go1.26.11}"

log() { printf '== %s\n' "$*" >&2; }

install_packages() {
	local want=() missing=()
	mapfile -t want < <(grep -vE '^\s*(#|$)' scripts/debian-packages.txt)
	for p in "${want[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	local sudo=()
	if [ "$(id -u)" -ne 0 ]; then
		if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo=(sudo); else
			log "not root: cannot install ${missing[*]}; tests needing them will skip"
			return 0
		fi
	fi
	log "installing Debian packages: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	echo "postfix postfix/main_mailer_type select No configuration" | "${sudo[@]}" debconf-set-selections
	echo "slapd slapd/no_configuration boolean true" | "${sudo[@]}" debconf-set-selections
	"${sudo[@]}" apt-get update -qq
	"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	# Packaged daemons start themselves on install; the tests start their own private instances.
	for svc in dovecot postfix slapd postgresql; do
		"${sudo[@]}" service "$svc" stop >/dev/null 2>&1 || true
	done
}

install_packages

# PostgreSQL for the tests of internal/store and its users (storetest.Each): a private server in a
# temporary directory on 127.0.0.1, named in MSSANTE_TEST_POSTGRES, stopped and removed on exit
# whatever the tests do. An MSSANTE_TEST_POSTGRES already set is used as it is.
pg_dir="" pg_bin="" pg_as=()
stop_postgres() {
	[ -n "$pg_dir" ] || return 0
	"${pg_as[@]}" "$pg_bin/pg_ctl" -D "$pg_dir/data" -m immediate -s stop >/dev/null 2>&1 || true
	rm -rf "$pg_dir"
}
start_postgres() {
	if [ -n "${MSSANTE_TEST_POSTGRES:-}" ]; then
		log "PostgreSQL: using the server of MSSANTE_TEST_POSTGRES"
		return 0
	fi
	pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
	if [ -z "$pg_bin" ] || [ ! -x "$pg_bin/initdb" ]; then
		log "PostgreSQL not installed: its tests will skip"
		return 0
	fi
	# initdb refuses to run as root: the server then runs as the Debian package's user.
	if [ "$(id -u)" -eq 0 ]; then
		local user=postgres
		id -u "$user" >/dev/null 2>&1 || { user=mssante-test; id -u "$user" >/dev/null 2>&1 ||
			useradd -r -M -d /nonexistent -s /usr/sbin/nologin "$user"; }
		pg_as=(runuser -u "$user" --)
	fi
	pg_dir=$(mktemp -d /tmp/mssante-pg.XXXXXX)
	trap stop_postgres EXIT
	local password
	password=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
	printf '%s\n' "$password" >"$pg_dir/pwfile"
	[ ${#pg_as[@]} -eq 0 ] || chown -R "${pg_as[2]}" "$pg_dir"
	"${pg_as[@]}" "$pg_bin/initdb" -D "$pg_dir/data" -U mssante --pwfile="$pg_dir/pwfile" \
		--auth=scram-sha-256 -E UTF8 --no-sync >"$pg_dir/initdb.log" 2>&1 ||
		{ cat "$pg_dir/initdb.log" >&2; exit 1; }
	local port tries
	for tries in 1 2 3 4 5 6 7 8 9 10; do # a random port; another one if it is taken
		port=$((20000 + RANDOM % 40000))
		if "${pg_as[@]}" "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/server.log" -w -s start \
			-o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$pg_dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
			>/dev/null 2>&1; then
			break
		fi
		[ "$tries" -eq 10 ] && { cat "$pg_dir/server.log" >&2; exit 1; }
	done
	PGPASSWORD=$password "$pg_bin/createdb" -h 127.0.0.1 -p "$port" -U mssante mssante_test
	export MSSANTE_TEST_POSTGRES="postgres://mssante:$password@127.0.0.1:$port/mssante_test?sslmode=disable"
	log "PostgreSQL $("$pg_bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port ($pg_dir)"
}
start_postgres

# Go tool programs the tests run as independent peers, built once into the user's cache.
build_tools() {
	local tools
	tools="$(go env GOCACHE)/../mssante-tools"
	mkdir -p "$tools"
	if command -v gcc >/dev/null; then
		log "building Ory Hydra (OIDC provider for internal/psc/oidcinterop; cached after the first build)"
		(cd internal/psc/oidcinterop/testdata/hydra &&
			GOWORK=off CGO_ENABLED=1 go build -tags sqlite -o "$tools/hydra" github.com/ory/hydra/v2) &&
			export MSSANTE_HYDRA="$tools/hydra"
	fi
}
build_tools

log "gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt would change:" >&2; echo "$unformatted" >&2; exit 1
fi

log "go vet"
go vet ./...

# Static checks from the tool module scripts/tools/go.mod, kept apart so that their dependencies
# stay out of ours. A failure is reported at the end, after the tests have run.
failed=()
tool() { go tool -modfile=scripts/tools/go.mod "$@"; }

log "staticcheck ./..."
tool staticcheck ./... || failed+=(staticcheck)

# govulncheck reads the Go vulnerability database. vuln.go.dev may be out of reach, the Go module
# proxy is not: the module golang.org/x/vulndb carries the database as one OSV file per entry
# (data/osv/GO-YYYY-NNNN.json), which govulncheck reads as a local database (it builds the index
# itself). The download lands in the module cache; @latest follows the published database.
vulndb() {
	local tmp dir
	tmp=$(mktemp -d)
	dir=$(cd "$tmp" && go mod download -json golang.org/x/vulndb@latest |
		sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
	rm -rf "$tmp"
	[ -n "$dir" ] && [ -f "$dir/data/osv/GO-2022-0969.json" ] || return 1
	printf '%s\n' "$dir/data/osv"
}
if db=$(vulndb); then
	log "govulncheck ./... (database $(basename "$(dirname "$(dirname "$db")")"), Go $(go env GOVERSION))"
	tool govulncheck -db "file://$db" ./... || failed+=(govulncheck)
else
	log "govulncheck: cannot fetch golang.org/x/vulndb@latest from the Go module proxy ($(go env GOPROXY)); vulnerabilities NOT checked"
	failed+=(govulncheck)
fi

args=("$@")
[ ${#args[@]} -eq 0 ] && args=(./...)
log "go test -race ${args[*]}"
go test -race -shuffle=on -timeout 30m "${args[@]}"

if [ ${#failed[@]} -gt 0 ]; then
	log "the tests passed but these checks failed: ${failed[*]}"
	exit 1
fi
