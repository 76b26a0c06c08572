#!/usr/bin/env bash
# Installs the Debian packages the tests run for real (redis-server, prometheus + promtool, amtool), once; a second
# run installs nothing. Arguments are BINARY:PACKAGE pairs.
set -euo pipefail
missing=()
for pkg in "$@"; do
  bin=${pkg%%:*}; deb=${pkg#*:}
  command -v "$bin" >/dev/null 2>&1 || missing+=("$deb")
done
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "installing from apt: ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
