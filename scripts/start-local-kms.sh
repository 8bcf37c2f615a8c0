#!/usr/bin/env bash
# start-local-kms.sh starts local-kms (github.com/nsmithuk/local-kms), a
# local server that speaks AWS KMS's JSON protocol, for kms/awskms's tests.
#
# Usage: scripts/start-local-kms.sh [PORT]
#   PORT defaults to $COLCRYPT_LOCAL_KMS_PORT, else 4599.
#
# It installs local-kms into $(go env GOPATH)/bin (or GOBIN) when it is absent
# (pinned version below; `go install` needs the Go module proxy), starts it in
# the background with a fresh temporary data directory and no seed file, and
# waits until it answers a ListKeys call. When something on PORT already
# answers like KMS, it is reused. Safe to run twice.
#
# stdout gets exactly one line, the endpoint for the tests:
#
#	export COLCRYPT_TEST_AWSKMS_ENDPOINT=$(bash scripts/start-local-kms.sh)
#
# Everything else goes to stderr. The server's pid is written to
# ${TMPDIR:-/tmp}/colcrypt-local-kms-PORT.pid; stop it with
# kill "$(cat ${TMPDIR:-/tmp}/colcrypt-local-kms-PORT.pid)".
#
# local-kms listens on every interface (it has no bind-address option) and
# keeps its keys unprotected in its data directory: run it only on a test
# machine, with test keys.
set -euo pipefail

LOCAL_KMS_MODULE=github.com/nsmithuk/local-kms
LOCAL_KMS_VERSION=v0.0.0-20260228092603-2a5e92d09ab6

port=${1:-${COLCRYPT_LOCAL_KMS_PORT:-4599}}
endpoint="http://127.0.0.1:$port"

log() { printf 'start-local-kms: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[[ "$port" =~ ^[0-9]+$ ]] && ((port > 0 && port < 65536)) || die "PORT must be 1..65535, got '$port'"
command -v go >/dev/null || die "go is not on PATH"
command -v curl >/dev/null || die "curl is not on PATH"

# answers succeeds when the server on $endpoint answers ListKeys with JSON
# holding a Keys list, as AWS KMS (and local-kms) does.
answers() {
	curl -fsS --max-time 2 -X POST "$endpoint/" \
		-H 'Content-Type: application/x-amz-json-1.1' \
		-H 'X-Amz-Target: TrentService.ListKeys' \
		-d '{}' 2>/dev/null | grep -q '"Keys"'
}

if answers; then
	log "a KMS already answers on $endpoint; reusing it"
	echo "$endpoint"
	exit 0
fi

# Where `go install` puts binaries: GOBIN, else the first GOPATH entry's bin.
bindir=$(go env GOBIN)
if [[ -z "$bindir" ]]; then
	gopath=$(go env GOPATH)
	bindir="${gopath%%:*}/bin"
fi
bin="$bindir/local-kms"
if [[ ! -x "$bin" ]]; then
	log "installing $LOCAL_KMS_MODULE@$LOCAL_KMS_VERSION into $bindir"
	GOFLAGS= go install "$LOCAL_KMS_MODULE@$LOCAL_KMS_VERSION" >&2 ||
		die "go install $LOCAL_KMS_MODULE@$LOCAL_KMS_VERSION failed"
fi

data=$(mktemp -d "${TMPDIR:-/tmp}/colcrypt-local-kms.XXXXXX")
logfile="$data.log"
pidfile="${TMPDIR:-/tmp}/colcrypt-local-kms-$port.pid"
log "starting $bin on port $port (data: $data, log: $logfile)"
# KMS_SEED_PATH names a file that does not exist, so that local-kms skips
# seeding instead of reading its default /init/seed.yaml: the tests create
# their own keys. setsid detaches it from this shell's process group, so it
# outlives the script.
PORT=$port KMS_DATA_PATH="$data/db" KMS_SEED_PATH="$data/no-seed.yaml" \
	setsid "$bin" </dev/null >"$logfile" 2>&1 &
pid=$!
echo "$pid" >"$pidfile"

for _ in $(seq 1 100); do
	if answers; then
		log "up (pid $pid)"
		echo "$endpoint"
		exit 0
	fi
	if ! kill -0 "$pid" 2>/dev/null; then
		log "local-kms exited (is port $port taken?); its log ends with:"
		tail -n 15 "$logfile" | sed 's/^/    /' >&2
		rm -rf "$pidfile" "$data"
		exit 1
	fi
	sleep 0.2
done
log "local-kms did not answer on $endpoint; its log ends with:"
tail -n 15 "$logfile" | sed 's/^/    /' >&2
kill "$pid" 2>/dev/null || true
rm -rf "$pidfile" "$data"
exit 1
