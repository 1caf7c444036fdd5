#!/usr/bin/env bash
# Installs the Debian tools the integration tier drives for real: promtool/prometheus, amtool/alertmanager,
# the distribution registry, podman and runc; openssl for the cluster tier's PKI; chromium for the timeline page test;
# haproxy (the blue/green switch) and docker-compose (runs the single-host bundle through podman's Docker API). Idempotent; needs root (or sudo) and Debian's apt.
# python3-yaml: PyYAML, the YAML 1.1 reader of Ansible and Python linters, reads every synthesized file.
set -euo pipefail
pkgs=(prometheus prometheus-alertmanager docker-registry podman runc openssl chromium haproxy docker-compose python3-yaml)
missing=()
for p in "${pkgs[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-test-tools: all present (${pkgs[*]})"
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "install-test-tools: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian's packages start system services on install where an init system runs; the tests start their own
# instances on free ports in temp dirs and never use these.
for svc in prometheus prometheus-alertmanager docker-registry; do
  $SUDO systemctl stop "$svc" >/dev/null 2>&1 || true
done
echo "install-test-tools: done"
