#!/usr/bin/env bash
# Side-by-side benchmark of the transport (issue 9 item 5), in one run against the project's own
# Dovecot + Postfix (internal/peertest, started by bench/transportbench on 127.0.0.1 and stopped
# at the end), an applicative mailbox (STARTTLS, client certificate of the test PKI, AUTH PLAIN):
#
#   sync        full sync of MESSAGES messages (~390 MB for 10,000: mostly small, some 1–5 MB
#               attachments) into a Maildir: `mssante sync` vs mbsync (isync); both must end with
#               the messages of the corpus (count, bytes with LF line ends, digest).
#   submission  SUBMIT messages of 50 KB: `mssante send FILE…` (one session) vs Python's smtplib
#               (one session; as is, and with TCP_NODELAY, which Go sets and smtplib does not),
#               and `mssante send FILE` vs msmtp, one process per message.
#
# Wall time and peak RSS come from GNU time. A figure the current build cannot give (a command not
# merged yet) is printed as n/a. Every client verifies the server certificate against the test
# root and the name "localhost" (in the certificate).
#
# Usage: bench/transport.sh                      (as root: Dovecot and Postfix need it)
#   MESSAGES=10000 SUBMIT=1000 ROUNDS=1 bench/transport.sh
#   MSSANTE_BIN=/path/to/mssante bench/transport.sh   (measure that binary instead of this tree's)
# ROUNDS>1 repeats each sync (alternating which client goes first) and keeps the fastest wall time.
# Where mssante's time goes: MSSANTE_CPUPROFILE=FILE on any mssante command writes a CPU profile
# for `go tool pprof` (cmd/mssante/profile.go).
# As root, installs what it lacks from Debian (dovecot-imapd dovecot-lmtpd postfix isync msmtp time
# python3). Bounded: each measured command has a time limit (LIMIT seconds, default 1800), the
# servers stop after 3 h in any case.
set -euo pipefail
cd "$(dirname "$0")/.."
messages=${MESSAGES:-10000}
submit=${SUBMIT:-1000}
rounds=${ROUNDS:-1}
limit=${LIMIT:-1800}

log() { printf '== %s\n' "$*" >&2; }
die() { printf 'transport.sh: %s\n' "$*" >&2; exit 1; }

# --- dependencies: bench peers are not test dependencies, installed here when root -------------
install_deps() {
	local missing=() p
	for p in dovecot-imapd dovecot-lmtpd postfix isync msmtp time python3; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	[ "$(id -u)" -eq 0 ] || die "missing Debian packages ${missing[*]} (run as root to install them)"
	log "installing Debian packages: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	for svc in dovecot postfix; do service "$svc" stop >/dev/null 2>&1 || true; done
}
[ "$(id -u)" -eq 0 ] || die "run as root: the private Dovecot and Postfix need it"
install_deps
command -v go >/dev/null || die "Go is required"

work=$(mktemp -d /tmp/transportbench.XXXXXX)
chmod 755 "$work"
serve_pid=""
cleanup() {
	if [ -n "$serve_pid" ] && kill -0 "$serve_pid" 2>/dev/null; then
		kill -TERM "$serve_pid" 2>/dev/null || true
		wait "$serve_pid" 2>/dev/null || true
	fi
	# Postfix daemonizes: make sure it is stopped even if transportbench could not do it.
	if [ -n "${PEERS_DIR:-}" ] && [ -d "$PEERS_DIR/pf/etc" ] && postfix -c "$PEERS_DIR/pf/etc" status >/dev/null 2>&1; then
		postfix -c "$PEERS_DIR/pf/etc" stop >/dev/null 2>&1 || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); $(mbsync --version 2>&1 | head -1), $(msmtp --version | head -1), $(python3 --version)"
go build -o "$work/transportbench" ./bench/transportbench
tb="$work/transportbench"
if [ -n "${MSSANTE_BIN:-}" ]; then
	ms=$MSSANTE_BIN # e.g. a build of branches not merged yet
else
	go build -o "$work/mssante" ./cmd/mssante
	ms="$work/mssante"
fi
log "mssante: $ms"

log "peers: Dovecot + Postfix, $messages messages in the mailbox"
mkdir -p "$work/peers"
"$tb" serve -dir "$work/peers" -messages "$messages" -lifetime 3h >"$work/serve.log" 2>&1 &
serve_pid=$!
for _ in $(seq 1800); do
	[ -f "$work/peers/env.sh" ] && break
	kill -0 "$serve_pid" 2>/dev/null || { cat "$work/serve.log" >&2; die "transportbench serve stopped"; }
	sleep 0.5
done
[ -f "$work/peers/env.sh" ] || { cat "$work/serve.log" >&2; die "peers not ready after 15 min"; }
sed 's/^/   /' "$work/serve.log" >&2
# shellcheck disable=SC1091
. "$work/peers/env.sh"
imap="$PEER_HOST:$IMAP_PORT"
smtp="$PEER_HOST:$SMTP_PORT"
corpus=$(tr -d ' \n' <"$CORPUS" | sed 's/,"folders".*//; s/^{//')

# --- measurement -----------------------------------------------------------------------------
declare -A wall rss cpu note
# measure NAME CMD…: runs CMD under GNU time and the time limit; records wall s, peak RSS KiB,
# user+sys s. stdout goes to $work/NAME.out, stderr to $work/NAME.err.
measure() {
	local name=$1 rc=0
	shift
	# The previous command's dirty pages are written first: its writeback must not load this one.
	sync
	/usr/bin/time -o "$work/$name.time" -f '%e %M %U %S' timeout "$limit" "$@" >"$work/$name.out" 2>"$work/$name.err" || rc=$?
	if [ "$rc" -ne 0 ]; then
		printf '%s failed (exit %s):\n' "$name" "$rc" >&2
		tail -5 "$work/$name.err" >&2
		note[$name]="failed (exit $rc)"
		return 1
	fi
	local w m u s
	read -r w m u s < <(tail -1 "$work/$name.time")
	if [ -z "${wall[$name]:-}" ] || awk -v a="$w" -v b="${wall[$name]}" 'BEGIN{exit !(a<b)}'; then
		wall[$name]=$w
		cpu[$name]=$(awk -v u="$u" -v s="$s" 'BEGIN{printf "%.2f", u+s}')
	fi
	if [ -z "${rss[$name]:-}" ] || [ "$m" -gt "${rss[$name]}" ]; then rss[$name]=$m; fi
	log "$name: wall ${w}s, peak RSS $((m / 1024)) MiB, cpu $(awk -v u="$u" -v s="$s" 'BEGIN{printf "%.2f", u+s}')s"
}

# same NAME MAILDIR: checks that MAILDIR holds the corpus (count, bytes, digest).
same() {
	local name=$1 got
	got=$("$tb" summary "$2" | tr -d ' \n' | sed 's/^{//; s/}$//')
	if [ "$got" = "$corpus" ]; then
		note[$name]="same messages"
	else
		note[$name]="DIFFERENT: $got vs $corpus"
		log "$name: the Maildir differs from the corpus: $got, corpus $corpus"
	fi
}

# --- sync ------------------------------------------------------------------------------------
sync_mbsync() {
	local d="$work/mbsync"
	rm -rf "$d"
	mkdir -p "$d/mail"
	cat >"$d/mbsyncrc" <<-EOF
		IMAPAccount bench
		Host $PEER_HOST
		Port $IMAP_PORT
		User $ACCOUNT
		Pass unused
		AuthMechs PLAIN
		SSLType STARTTLS
		CertificateFile $ROOT_CA
		ClientCertificate $CLIENT_CHAIN
		ClientKey $CLIENT_KEY

		IMAPStore far
		Account bench

		MaildirStore near
		Path $d/mail/
		Inbox $d/mail/INBOX
		SubFolders Verbatim

		Channel all
		Far :far:
		Near :near:
		Patterns *
		Create Near
		Sync Pull
		SyncState *
	EOF
	measure sync_mbsync mbsync -q -c "$d/mbsyncrc" -a && same sync_mbsync "$d/mail"
}

has_sync=0
"$ms" sync --help >/dev/null 2>&1 && has_sync=1
sync_mssante() {
	local d="$work/mssync"
	rm -rf "$d"
	mkdir -p "$d"
	if [ "$has_sync" -eq 0 ]; then
		note[sync_mssante]="n/a: no mssante sync in this build"
		return 0
	fi
	measure sync_mssante "$ms" sync --account "$ACCOUNT" --cert "$CLIENT_CHAIN" --key "$CLIENT_KEY" \
		--imap "$imap" --trust-root "$ROOT_CA" --data-dir "$d/data" --maildir "$d/maildir" &&
		same sync_mssante "$d/maildir"
}

for r in $(seq "$rounds"); do
	log "sync round $r of $rounds"
	if [ $((r % 2)) -eq 1 ]; then sync_mbsync || true; sync_mssante || true; else sync_mssante || true; sync_mbsync || true; fi
done

# --- submission ------------------------------------------------------------------------------
log "submission: $submit messages of 50 KB per client"
for c in python pythonnd msmtp mssante1 mssanten warmup; do
	n=$submit
	[ "$c" = warmup ] && n=2
	"$tb" submission -o "$work/sub/$c" -n "$n" -size 51200 -seed 7 -to "rcpt-$c@$DOMAIN"
done
# delivered CLIENT N NAME: waits until Postfix has delivered the N messages CLIENT submitted (so
# that the deliveries of one client do not load the next one's run) and notes the result.
delivered() {
	if "$tb" delivered -maildir "$MAIL_ROOT/rcpt-$1" -want "$2" -timeout 5m >/dev/null; then
		note[$3]="$2 delivered"
	else
		note[$3]="only $("$tb" delivered -maildir "$MAIL_ROOT/rcpt-$1" -want 0) of $2 delivered"
	fi
}
files() { find "$work/sub/$1" -name '*.eml' | sort; }

mapfile -t pyfiles < <(files python)
measure submit_python python3 bench/submit_smtplib.py "$PEER_HOST" "$SMTP_PORT" "$ROOT_CA" \
	"$CLIENT_CHAIN" "$CLIENT_KEY" "$ACCOUNT" "rcpt-python@$DOMAIN" "${pyfiles[@]}" && delivered python "$submit" submit_python
# The same with TCP_NODELAY (see bench/submit_smtplib.py): the peer without Nagle's stalls.
mapfile -t pyfiles < <(files pythonnd)
measure submit_pythonnd python3 bench/submit_smtplib.py --nodelay "$PEER_HOST" "$SMTP_PORT" "$ROOT_CA" \
	"$CLIENT_CHAIN" "$CLIENT_KEY" "$ACCOUNT" "rcpt-pythonnd@$DOMAIN" "${pyfiles[@]}" && delivered pythonnd "$submit" submit_pythonnd

cat >"$work/msmtprc" <<EOF
defaults
tls on
tls_starttls on
tls_trust_file $ROOT_CA
tls_cert_file $CLIENT_CHAIN
tls_key_file $CLIENT_KEY
account bench
host $PEER_HOST
port $SMTP_PORT
from $ACCOUNT
auth plain
user $ACCOUNT
password unused
EOF
chmod 600 "$work/msmtprc"
files msmtp >"$work/msmtp.list"
measure submit_msmtp bash -c 'set -e; while read -r f; do msmtp -C "$1" -a bench "$2" <"$f"; done <"$3"' _ \
	"$work/msmtprc" "rcpt-msmtp@$DOMAIN" "$work/msmtp.list" && delivered msmtp "$submit" submit_msmtp

sendflags=(--account "$ACCOUNT" --cert "$CLIENT_CHAIN" --key "$CLIENT_KEY" --smtp "$smtp" --trust-root "$ROOT_CA")
files mssante1 >"$work/mssante1.list"
measure submit_mssante1 bash -c 'set -e; ms=$1 list=$2; shift 2; while read -r f; do "$ms" send "$f" "$@" >/dev/null; done <"$list"' _ \
	"$ms" "$work/mssante1.list" "${sendflags[@]}" --data-dir "$work/data1" && delivered mssante1 "$submit" submit_mssante1

# `mssante send FILE…` over one session, when this build takes several files.
mapfile -t warm < <(files warmup)
if "$ms" send "${warm[@]}" "${sendflags[@]}" --data-dir "$work/datan" >/dev/null 2>"$work/warmup.err"; then
	mapfile -t nfiles < <(files mssanten)
	measure submit_mssanten "$ms" send "${nfiles[@]}" "${sendflags[@]}" --data-dir "$work/datan" &&
		delivered mssanten "$submit" submit_mssanten
else
	note[submit_mssanten]="n/a: mssante send takes one file in this build ($(head -1 "$work/warmup.err"))"
fi

# --- table -----------------------------------------------------------------------------------
mib() { [ -n "${rss[$1]:-}" ] && awk -v k="${rss[$1]}" 'BEGIN{printf "%.1f", k/1024}' || echo n/a; }
perm() { [ -n "${wall[$1]:-}" ] && awk -v w="${wall[$1]}" -v n="$2" 'BEGIN{printf "%.1f", 1000*w/n}' || echo n/a; }
rate() { [ -n "${wall[$1]:-}" ] && awk -v w="${wall[$1]}" -v n="$2" 'BEGIN{printf "%.1f", n/w}' || echo n/a; }
ratio() { # ratio A B: A/B of wall times
	[ -n "${wall[$1]:-}" ] && [ -n "${wall[$2]:-}" ] && awk -v a="${wall[$1]}" -v b="${wall[$2]}" 'BEGIN{printf "%.2f", a/b}' || echo n/a
}
verdict() { # verdict VALUE OP GOAL
	[ "$1" = n/a ] && { echo "n/a"; return; }
	awk -v v="$1" -v g="$3" -v op="$2" 'BEGIN{ok = op=="<=" ? v<=g : v>=g; print ok ? "met" : "NOT met"}'
}
row() { printf '%-42s %9s %10s %9s %10s  %s\n' "$@"; }

echo
echo "== results: $messages messages ($(awk -v b="$(sed -n 's/.*"bytes": *\([0-9]*\).*/\1/p' "$CORPUS")" 'BEGIN{printf "%.1f MB", b/1e6}')) synced, $submit x 50 KB submitted; $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
row "case" "wall s" "peak MiB" "cpu s" "ms/msg" "check"
row "sync: mbsync (isync)" "${wall[sync_mbsync]:-n/a}" "$(mib sync_mbsync)" "${cpu[sync_mbsync]:-n/a}" "$(perm sync_mbsync "$messages")" "${note[sync_mbsync]:-}"
row "sync: mssante sync" "${wall[sync_mssante]:-n/a}" "$(mib sync_mssante)" "${cpu[sync_mssante]:-n/a}" "$(perm sync_mssante "$messages")" "${note[sync_mssante]:-}"
row "submit: python3 smtplib, one session" "${wall[submit_python]:-n/a}" "$(mib submit_python)" "${cpu[submit_python]:-n/a}" "$(perm submit_python "$submit")" "${note[submit_python]:-}"
row "submit: python3 smtplib + TCP_NODELAY" "${wall[submit_pythonnd]:-n/a}" "$(mib submit_pythonnd)" "${cpu[submit_pythonnd]:-n/a}" "$(perm submit_pythonnd "$submit")" "${note[submit_pythonnd]:-}"
row "submit: mssante send FILE..., one session" "${wall[submit_mssanten]:-n/a}" "$(mib submit_mssanten)" "${cpu[submit_mssanten]:-n/a}" "$(perm submit_mssanten "$submit")" "${note[submit_mssanten]:-}"
row "submit: msmtp, one process per message" "${wall[submit_msmtp]:-n/a}" "$(mib submit_msmtp)" "${cpu[submit_msmtp]:-n/a}" "$(perm submit_msmtp "$submit")" "${note[submit_msmtp]:-}"
row "submit: mssante send, one process per msg" "${wall[submit_mssante1]:-n/a}" "$(mib submit_mssante1)" "${cpu[submit_mssante1]:-n/a}" "$(perm submit_mssante1 "$submit")" "${note[submit_mssante1]:-}"
echo
echo "== ratios and goals"
r1=$(ratio sync_mssante sync_mbsync)
m1=$(mib sync_mssante)
r2=$(ratio submit_python submit_mssanten) # speed-up = inverse ratio of wall times
r2b=$(ratio submit_pythonnd submit_mssanten)
r3=$(ratio submit_mssante1 submit_msmtp)
printf '%-58s %7s   goal %-8s %s\n' "sync wall time, mssante / mbsync" "$r1" "<= 0.80" "$(verdict "$r1" '<=' 0.80)"
printf '%-58s %7s   goal %-8s %s\n' "sync peak RSS of mssante, MiB" "$m1" "<= 32" "$(verdict "$m1" '<=' 32)"
printf '%-58s %7s   goal %-8s %s\n' "submission speed, mssante one session / python one session" "$r2" ">= 2.00" "$(verdict "$r2" '>=' 2)"
printf '%-58s %7s   goal %-8s %s\n' "  the same against python with TCP_NODELAY" "$r2b" ">= 2.00" "$(verdict "$r2b" '>=' 2)"
printf '%-58s %7s   goal %-8s %s\n' "time per message, mssante send / msmtp (process each)" "$r3" "<= 1.00" "$(verdict "$r3" '<=' 1)"
printf '%-58s %7s\n' "submission speed, python one session / msmtp per process" "$(ratio submit_msmtp submit_python)"
printf '%-58s %7s\n' "submission speed, python TCP_NODELAY / python default" "$(ratio submit_python submit_pythonnd)"
printf '%-58s %7s\n' "submission speed, mssante per process / python one session" "$(ratio submit_python submit_mssante1)"
