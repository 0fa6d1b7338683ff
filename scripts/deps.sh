#!/bin/sh
# Install the Debian packages tlbsim needs, only those missing.
# Used by `make run`, `make test` and .ci/run; safe to run repeatedly.
set -eu
PKGS="build-essential pkg-config libsdl2-dev libcjson-dev libcriterion-dev gnuplot-nox
      zlib1g-dev liblzma-dev libzstd-dev valgrind"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "tlbsim: installing missing packages:$missing" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
if ! command -v apt-get >/dev/null 2>&1; then
    echo "tlbsim: apt-get not found; install these packages yourself:$missing" >&2
    exit 1
fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
