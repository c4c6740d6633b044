#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages named as arguments when they are missing: with apt-get when running
# as root (or with password-less sudo); otherwise prints the exact command to run and fails.
set -euo pipefail

if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "ensure-packages: not a Debian/Ubuntu system; make sure these are installed: $*" >&2
    exit 0
fi

missing=()
for package in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$package")
    fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

command="apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$(id -u)" -eq 0 ]; then
    echo "ensure-packages: installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $command
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    echo "ensure-packages: installing ${missing[*]} with sudo"
    sudo DEBIAN_FRONTEND=noninteractive apt-get update -qq
    sudo DEBIAN_FRONTEND=noninteractive $command
else
    echo "ensure-packages: missing ${missing[*]}; run:" >&2
    echo "    sudo apt-get update && sudo $command" >&2
    exit 1
fi
