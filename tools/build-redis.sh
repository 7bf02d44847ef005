#!/usr/bin/env bash
# Builds a newer redis-server than Debian bookworm's 7.0 from Debian's own source (the upstream
# tarball of trixie's redis package, checked against its SHA-256), so that the parts of the suite
# whose behaviour depends on the server version also run against Redis 8: since 7.4, hash fields
# have their own expiry (HPEXPIRE, the `listpackex` encoding), CLIENT TRACKING registers every key
# a script's read commands read (7.0: only its declared keys), and a replica's full sync may use a
# second connection. About a minute on 2 cores; kept in .cache/ and reused.
#
#   tools/build-redis.sh       prints the directory holding redis-server and redis-cli
#   npm run test:redis8        builds it if needed, then runs those tests against it
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=8.0.2
SHA256=caf3c0069f06fc84c5153bd2a348b204c578de80490c73857bee01d9b5d7401f
URL="http://deb.debian.org/debian/pool/main/r/redis/redis_${VERSION}.orig.tar.gz"
DIR=".cache/redis-${VERSION}"

if [ ! -x "$DIR/src/redis-server" ]; then
  mkdir -p .cache
  tarball="$(mktemp)"
  trap 'rm -f "$tarball"' EXIT
  curl -fsSL "$URL" -o "$tarball"
  echo "$SHA256  $tarball" | sha256sum -c --quiet
  rm -rf "$DIR"
  mkdir -p "$DIR"
  tar xzf "$tarball" -C "$DIR" --strip-components=1
  if ! make -C "$DIR" -j"$(nproc)" BUILD_TLS=no >"$DIR/build.log" 2>&1; then
    tail -30 "$DIR/build.log" >&2
    exit 1
  fi
fi
"$DIR/src/redis-server" --version >&2
echo "$PWD/$DIR/src"
