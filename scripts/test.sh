#!/usr/bin/env bash
# Runs the whole mssante test suite, after installing what it needs: the Debian packages listed in
# scripts/debian-packages.txt (when run as root, or through sudo) and the Go tools of go.mod.
# Usage: scripts/test.sh [go test flags…]   e.g. scripts/test.sh -run TestCompose ./message/
set -euo pipefail
cd "$(dirname "$0")/.."

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
	for svc in dovecot postfix slapd; do
		"${sudo[@]}" service "$svc" stop >/dev/null 2>&1 || true
	done
}

install_packages

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

args=("$@")
[ ${#args[@]} -eq 0 ] && args=(./...)
log "go test -race ${args[*]}"
go test -race -shuffle=on -timeout 30m "${args[@]}"
