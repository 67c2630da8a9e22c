#!/usr/bin/env bash
# Installs vigil on a Debian/Ubuntu machine: the system packages it needs (compiler and libbpf
# for its eBPF sensor, runc and busybox for the demo), then the Python package into ./.venv.
#   scripts/install.sh          the agent
#   scripts/install.sh --dev    the agent plus test and lint tools
set -euo pipefail
cd "$(dirname "$0")/.."

extras=""
[ "${1:-}" = "--dev" ] && extras="[dev]"

if [ "$(id -u)" -ne 0 ]; then
    echo "install.sh: needs root to install system packages; run it with sudo" >&2
    exit 1
fi

packages=(clang llvm libbpf-dev runc busybox-static python3 python3-venv python3-pip iproute2 util-linux)
# Tests only: a PostgreSQL server (each test run starts its own throwaway cluster) and Debian's
# Chromium for the browser tests (Playwright drives it; it never downloads a browser).
# The e2e tests of identity also run real container engines (never pulling an image: they
# import a busybox rootfs): containerd, the Docker engine, Podman, and crun as a second runtime.
if [ -n "$extras" ]; then packages+=(postgresql chromium containerd docker.io podman crun); fi
missing=()
for pkg in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
command -v bpftool >/dev/null 2>&1 || missing+=(bpftool)

if [ ${#missing[@]} -gt 0 ]; then
    echo "==> installing system packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
        # Ubuntu ships bpftool inside linux-tools rather than as a package of its own.
        missing=("${missing[@]/bpftool/}")
        apt-get install -y -qq --no-install-recommends "${missing[@]}" linux-tools-common \
            "linux-tools-$(uname -r)" >/dev/null
    fi
fi

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    echo "==> creating .venv with $($python --version)"
    "$python" -m venv .venv
fi
echo "==> installing vigil${extras} into .venv"
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".${extras}"
echo "==> done: $(.venv/bin/vigil version) at $(pwd)/.venv/bin/vigil"
