#!/usr/bin/env bash
# build-postgres-image.sh builds a small Postgres Docker image from the
# PostgreSQL server that Debian installed on this machine, without pulling
# anything from an image registry.
#
# Why: colcrypt's tests start Postgres with testcontainers-go. CI machines here
# reach Debian's package mirror but no image registry, so `postgres:16-alpine`
# cannot be pulled. The server binaries are already on the machine; this script
# copies them, the shared libraries they load and a static busybox into a root
# filesystem and imports it with `docker import`. The entrypoint behaves like
# the official image's for what testcontainers' postgres module relies on:
# POSTGRES_USER / POSTGRES_PASSWORD / POSTGRES_DB, a temporary server for setup
# (so "database system is ready to accept connections" is logged twice), then
# `exec postgres`.
#
# Usage: scripts/build-postgres-image.sh [--force] [IMAGE]
#   IMAGE defaults to $COLCRYPT_TEST_POSTGRES_IMAGE, else colcrypt/postgres-local:<major>.
#   The build is skipped when IMAGE exists and was built by this same recipe
#   (the script's own hash is stored in the image); --force rebuilds anyway.
#   PG_MAJOR picks the installed server version (default: the newest one).
set -euo pipefail

force=0
if [[ "${1:-}" == "--force" ]]; then
	force=1
	shift
fi

log() { printf 'build-postgres-image: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

if [[ -z "${PG_MAJOR:-}" ]]; then
	PG_MAJOR=$(find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' 2>/dev/null | sort -V | tail -n 1 || true)
fi
[[ -n "$PG_MAJOR" ]] || die "no PostgreSQL server under /usr/lib/postgresql (apt-get install postgresql)"
pgbin=/usr/lib/postgresql/$PG_MAJOR/bin
pglib=/usr/lib/postgresql/$PG_MAJOR/lib
pgshare=/usr/share/postgresql/$PG_MAJOR
[[ -x "$pgbin/postgres" && -x "$pgbin/initdb" && -d "$pgshare" ]] ||
	die "PostgreSQL $PG_MAJOR server is incomplete (need $pgbin/postgres, $pgbin/initdb, $pgshare)"

image=${1:-${COLCRYPT_TEST_POSTGRES_IMAGE:-colcrypt/postgres-local:$PG_MAJOR}}

command -v docker >/dev/null || die "docker CLI not found"
docker info >/dev/null 2>&1 || die "docker daemon not reachable (is dockerd running?)"

# The recipe id: this script plus the server version. A changed script or an
# upgraded Debian package gives a new id, and the image is rebuilt.
server_version=$("$pgbin/postgres" --version)
recipe=$( { cat "$0"; echo "$server_version"; } | sha256sum | cut -c1-16)

if [[ $force -eq 0 ]] && docker image inspect "$image" >/dev/null 2>&1; then
	have=$(docker image inspect --format '{{range .Config.Env}}{{println .}}{{end}}' "$image" |
		sed -n 's/^COLCRYPT_IMAGE_RECIPE=//p')
	if [[ "$have" == "$recipe" ]]; then
		log "$image already built from this recipe ($recipe); skipping"
		exit 0
	fi
	log "$image exists but from another recipe (${have:-none}, want $recipe); rebuilding"
	old_id=$(docker image inspect --format '{{.Id}}' "$image")
fi

if [[ ! -x /bin/busybox ]] || ! /bin/busybox --list 2>/dev/null | grep -qx sh; then
	log "installing busybox-static (the image's shell and tools)"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq busybox-static >/dev/null ||
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq busybox-static >/dev/null; } ||
		die "cannot install busybox-static"
fi
if ldd /bin/busybox >/dev/null 2>&1; then die "/bin/busybox is dynamically linked; install busybox-static"; fi

work=$(mktemp -d /tmp/colcrypt-pgimage.XXXXXX)
trap 'rm -rf "$work"' EXIT
root=$work/rootfs
log "building $image from $server_version in $root"

# Merged-/usr layout, like Debian 12 itself: /bin, /lib, /lib64, /sbin point into /usr.
mkdir -p "$root"/usr/{bin,sbin,lib,lib64} "$root"/{etc,tmp,root,var/lib/postgresql,var/run/postgresql}
for d in bin sbin lib lib64; do ln -s "usr/$d" "$root/$d"; done
chmod 1777 "$root/tmp"

# copy_file SRC copies SRC (dereferenced) to the same path in the root,
# with its directory resolved, so /lib/x/libc.so.6 lands in /usr/lib/x/.
copy_file() {
	local src=$1 dir
	dir=$(readlink -f "$(dirname "$src")")
	mkdir -p "$root$dir"
	[[ -e "$root$dir/$(basename "$src")" ]] || cp -L "$src" "$root$dir/$(basename "$src")"
}

# The server: every client and server program (pg_dump, psql and pg_isready are
# handy in a test container), the loadable modules except the LLVM JIT (it
# pulls in ~100 MB of libLLVM; the server runs without JIT when it is absent),
# and the share directory (catalog bootstrap, extensions, timezone sets).
mkdir -p "$root/usr/lib/postgresql/$PG_MAJOR" "$root/usr/share/postgresql"
cp -a "$pgbin" "$root/usr/lib/postgresql/$PG_MAJOR/bin"
mkdir -p "$root$pglib"
find "$pglib" -maxdepth 1 -name '*.so' ! -name 'llvmjit*' -exec cp -a {} "$root$pglib/" \;
cp -a "$pgshare" "$root/usr/share/postgresql/$PG_MAJOR"
cp -a /usr/share/zoneinfo "$root/usr/share/zoneinfo"
# glibc's C.UTF-8 locale (shipped by libc-bin), and a `locale -a` that lists
# it: initdb imports system collations by running `locale -a`.
if [[ -d /usr/lib/locale/C.utf8 ]]; then
	mkdir -p "$root/usr/lib/locale"
	cp -a /usr/lib/locale/C.utf8 "$root/usr/lib/locale/C.utf8"
fi

# Shared libraries of every binary and module copied, and the dynamic loader.
deps=$(
	for f in "$root/usr/lib/postgresql/$PG_MAJOR/bin/"* "$root$pglib/"*.so; do
		[[ -L "$f" ]] && continue
		ldd "${f#"$root"}" 2>/dev/null || true
	done
)
missing=$(grep 'not found' <<<"$deps" | sort -u || true)
[[ -z "$missing" ]] || die "libraries missing on the host: $missing"
libs=$(awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' <<<"$deps" | sort -u)
[[ -n "$libs" ]] || die "ldd found no libraries"
while read -r lib; do
	copy_file "$lib"
done <<<"$libs"

# A static shell and the usual tools, as busybox applets.
cp /bin/busybox "$root/usr/bin/busybox"
for applet in $(/bin/busybox --list); do
	[[ -e "$root/usr/bin/$applet" ]] || ln -s busybox "$root/usr/bin/$applet"
done

cat >"$root/usr/bin/locale" <<'LOCALE'
#!/bin/sh
# A stand-in for glibc's locale(1): the image has only C, C.utf8 and POSIX.
if [ "${1:-}" = -a ]; then
	printf 'C\n'
	[ -d /usr/lib/locale/C.utf8 ] && printf 'C.utf8\n'
	printf 'POSIX\n'
	exit 0
fi
echo "locale: only 'locale -a' is supported in this image" >&2
exit 1
LOCALE
chmod 755 "$root/usr/bin/locale"

# Users: a non-root postgres (uid/gid 999, as in the official image).
cat >"$root/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
postgres:x:999:999:PostgreSQL administrator:/var/lib/postgresql:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
PASSWD
cat >"$root/etc/group" <<'GROUP'
root:x:0:
postgres:x:999:
nogroup:x:65534:
GROUP
printf 'passwd: files\ngroup: files\nshadow: files\nhosts: files\n' >"$root/etc/nsswitch.conf"
printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"
printf '/bin/sh\n' >"$root/etc/shells"
ln -s /usr/share/zoneinfo/Etc/UTC "$root/etc/localtime"
printf 'Etc/UTC\n' >"$root/etc/timezone"

chown -R 999:999 "$root/var/lib/postgresql" "$root/var/run/postgresql"
chmod 3777 "$root/var/run/postgresql"
mkdir -p "$root/docker-entrypoint-initdb.d"

cat >"$root/docker-entrypoint.sh" <<'ENTRYPOINT'
#!/bin/sh
# Entrypoint of colcrypt's registry-free Postgres image: the part of the
# official postgres image's docker-entrypoint.sh that tests rely on.
#
#   POSTGRES_PASSWORD           superuser password; required unless
#                               POSTGRES_HOST_AUTH_METHOD=trust
#   POSTGRES_USER               superuser name (default postgres)
#   POSTGRES_DB                 database created at first start (default $POSTGRES_USER)
#   POSTGRES_HOST_AUTH_METHOD   pg_hba method for host connections
#                               (default scram-sha-256 with a password, else trust)
#   POSTGRES_INITDB_ARGS        extra initdb arguments
#   /docker-entrypoint-initdb.d/*.sh, *.sql, *.sql.gz run once after initdb
set -eu

: "${PGDATA:=/var/lib/postgresql/data}"
export PGDATA

# `docker run IMAGE -c fsync=off` means `postgres -c fsync=off`.
if [ "${1#-}" != "$1" ]; then
	set -- postgres "$@"
fi

if [ "$1" = postgres ] && [ "$(id -u)" = 0 ]; then
	mkdir -p "$PGDATA" /var/run/postgresql
	chown -R postgres:postgres "$PGDATA" /var/run/postgresql
	chmod 700 "$PGDATA"
	# shellcheck disable=SC2016 # expanded by the shell su starts
	exec su -p postgres -s /bin/sh -c 'exec "$0" "$@"' "$0" "$@"
fi

if [ "$1" = postgres ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
	: "${POSTGRES_USER:=postgres}"
	: "${POSTGRES_DB:=$POSTGRES_USER}"
	: "${POSTGRES_PASSWORD:=}"
	if [ -z "$POSTGRES_PASSWORD" ] && [ "${POSTGRES_HOST_AUTH_METHOD:-}" != trust ]; then
		echo "error: POSTGRES_PASSWORD is not set; set it, or POSTGRES_HOST_AUTH_METHOD=trust" >&2
		exit 1
	fi
	auth=${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}

	mkdir -p "$PGDATA"
	chmod 700 "$PGDATA"
	pwfile=$(mktemp)
	printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
	# shellcheck disable=SC2086 # POSTGRES_INITDB_ARGS is a list of words
	initdb --username="$POSTGRES_USER" --pwfile="$pwfile" --locale=C --encoding=UTF8 \
		--no-sync ${POSTGRES_INITDB_ARGS:-}
	rm -f "$pwfile"
	printf '\nhost all all all %s\n' "$auth" >>"$PGDATA/pg_hba.conf"
	# jit: the image leaves out the LLVM JIT provider (its libLLVM is larger
	# than the rest of the image); say so rather than have the server find out.
	printf "\nlisten_addresses = '*'\njit = off\n" >>"$PGDATA/postgresql.conf"

	# A temporary server on the socket only, for setup, as the official image
	# does, with the same server options as the final one (-c fsync=off ...).
	shift
	opts=
	for a in "$@"; do
		opts="$opts '$(printf '%s' "$a" | sed "s/'/'\\\\''/g")'"
	done
	pg_ctl -D "$PGDATA" -w -o "$opts -c listen_addresses=''" start
	psql_do() {
		psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" --no-password "$@"
	}
	if [ "$POSTGRES_DB" != postgres ]; then
		psql_do --dbname postgres --set db="$POSTGRES_DB" <<-'SQL'
			SELECT 'CREATE DATABASE ' || quote_ident(:'db')
			WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db')\gexec
		SQL
	fi
	for f in /docker-entrypoint-initdb.d/*; do
		[ -e "$f" ] || continue
		# shellcheck disable=SC1090 # *.sh are sourced, as the official image does
		case "$f" in
		*.sh) echo "running $f"; . "$f" ;;
		*.sql) echo "running $f"; psql_do --dbname "$POSTGRES_DB" -f "$f" ;;
		*.sql.gz) echo "running $f"; gunzip -c "$f" | psql_do --dbname "$POSTGRES_DB" ;;
		*) echo "ignoring $f" ;;
		esac
	done
	pg_ctl -D "$PGDATA" -w -m fast stop
	echo "PostgreSQL init process complete; ready for start up."
	set -- postgres "$@"
fi

exec "$@"
ENTRYPOINT
chmod 755 "$root/docker-entrypoint.sh"

log "rootfs is $(du -sh "$root" | cut -f1); importing"
tar --numeric-owner -C "$root" -c . | docker import \
	--change "ENV PATH=/usr/lib/postgresql/$PG_MAJOR/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
	--change 'ENV PGDATA=/var/lib/postgresql/data' \
	--change 'ENV TZ=Etc/UTC' \
	--change "ENV COLCRYPT_IMAGE_RECIPE=$recipe" \
	--change 'USER postgres' \
	--change 'WORKDIR /var/lib/postgresql' \
	--change 'ENTRYPOINT ["/docker-entrypoint.sh"]' \
	--change 'CMD ["postgres"]' \
	--change 'EXPOSE 5432' \
	--message "colcrypt: $server_version from Debian packages, recipe $recipe" \
	- "$image" >/dev/null
# The image this one replaces is now untagged; drop it unless a container uses it.
if [[ -n "${old_id:-}" ]]; then docker image rm "$old_id" >/dev/null 2>&1 || true; fi
log "built $image ($(docker image inspect --format '{{.Size}}' "$image" | awk '{printf "%.0f MB", $1/1e6}'))"
