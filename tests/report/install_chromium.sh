#!/usr/bin/env bash
# Install Debian's chromium for the report rendering test; does nothing when it is already there.
# Needs root (or sudo) and access to the Debian package mirror. Usage: tests/report/install_chromium.sh
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends chromium fonts-dejavu-core
/usr/bin/chromium --version
