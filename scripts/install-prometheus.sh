#!/usr/bin/env bash
# Installs Debian's `prometheus` package (which ships both `prometheus` and `promtool`) so that the
# rule unit tests and the Prometheus integration tests run against the real thing.
#
# Idempotent: does nothing when both binaries are already on PATH. Meant for root on Debian bookworm
# (CI and developer machines); elsewhere it says what to do instead of guessing.
#
# The Debian package's postinst asks invoke-rc.d / deb-systemd-invoke to start a `prometheus` service
# listening on :9090. Our tests start their own Prometheus on a free port with a temp data dir and never
# talk to a system one, but a stray daemon scraping localhost:9090 and writing /var/lib/prometheus is
# not something a test setup should leave behind. So the install runs under a policy-rc.d that denies
# service starts (exit 101, the documented "action forbidden" code, see
# /usr/share/doc/init-system-helpers/README.policy-rc.d.gz), and afterwards a running unit, if systemd
# started one anyway, is stopped.
set -euo pipefail

log() { printf 'install-prometheus: %s\n' "$*" >&2; }

if command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; then
  log "prometheus and promtool already on PATH ($(command -v prometheus), $(command -v promtool)); nothing to do"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  log "apt-get not found: install Prometheus 2.x (prometheus and promtool) by hand and put both on PATH"
  exit 1
fi

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
  else
    log "must run as root (or with sudo available) to apt-get install prometheus"
    exit 1
  fi
fi

export DEBIAN_FRONTEND=noninteractive

# One update, then confirm the package exists before installing: a clearer error than apt's.
"${SUDO[@]}" apt-get update -qq
candidate="$(apt-cache policy prometheus | awk '/Candidate:/ {print $2}')"
if [ -z "$candidate" ] || [ "$candidate" = "(none)" ]; then
  log "no installable 'prometheus' package in this machine's apt sources (apt-cache policy prometheus shows no candidate)"
  exit 1
fi
log "installing prometheus $candidate"

POLICY=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$POLICY" ]; then
  # Temporary: removed again on exit so the machine's own service policy is untouched.
  printf '#!/bin/sh\n# temporary, from inferwatt scripts/install-prometheus.sh\nexit 101\n' | "${SUDO[@]}" tee "$POLICY" >/dev/null
  "${SUDO[@]}" chmod 0755 "$POLICY"
  created_policy=1
fi
cleanup() {
  if [ "$created_policy" = 1 ]; then "${SUDO[@]}" rm -f "$POLICY"; fi
}
trap cleanup EXIT

"${SUDO[@]}" apt-get install -y -qq --no-install-recommends prometheus >/dev/null

# Belt and braces: if systemd is the init and started the unit despite the policy, stop it.
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
  if systemctl is-active --quiet prometheus 2>/dev/null; then
    log "stopping the prometheus service the package started (tests run their own instance)"
    "${SUDO[@]}" systemctl stop prometheus || true
  fi
elif [ -x /etc/init.d/prometheus ]; then
  "${SUDO[@]}" /etc/init.d/prometheus stop >/dev/null 2>&1 || true
fi

for bin in prometheus promtool; do
  if ! command -v "$bin" >/dev/null 2>&1; then
    log "$bin still not on PATH after install"
    exit 1
  fi
done
log "installed: $(prometheus --version 2>&1 | head -n1)"
