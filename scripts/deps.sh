#!/usr/bin/env bash
# Installs what the harness needs on a Debian machine and is missing:
# redis-server (local backend, and the docker node image is built from it),
# redis-tools (redis-cli: cross-checks and the hand-made benchmark),
# iptables and iproute2 (network faults), chromium (the report renders in a
# headless browser in the tests), openssh-server (the ssh backend's tests
# start their own sshd daemons on 127.0.102.N with keys they make). Does
# nothing when all are present.
set -euo pipefail
need=()
command -v redis-server >/dev/null || need+=(redis-server)
command -v redis-cli >/dev/null || need+=(redis-tools)
command -v iptables >/dev/null || need+=(iptables)
command -v tc >/dev/null || need+=(iproute2)
command -v chromium >/dev/null || need+=(chromium)
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "missing: ${need[*]}; install them with: sudo apt-get install ${need[*]}" >&2
  exit 1
fi
echo "installing ${need[*]}…" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# Debian's package may start a system redis on 127.0.0.1:6379 where an init
# system runs; the harness never uses that address, so it is left alone.
