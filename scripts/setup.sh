#!/usr/bin/env bash
# Installs the Debian 12 packages Clearway needs, and only those that are missing.
# Idempotent: `make demo`, `make test` and `make bench` call it every time.
set -euo pipefail

packages=(build-essential pkg-config dpdk dpdk-dev libdpdk-dev libhiredis-dev redis-server
	libbpf-dev check clang llvm libclang-rt-14-dev libpcap-dev iproute2 gnuplot-nox
	valgrind python3)

missing=()
for p in "${packages[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "setup: installing ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
# The Debian redis-server package starts a system instance; the project starts its own.
