#!/usr/bin/env bash
# Installs, from Debian's packages, what the image test and the alert-rule tests need when it is
# missing: podman with runc (build and run the image), debootstrap (its base), promtool (the
# prometheus package). Needs root, as CI and the developers' machines have.
set -euo pipefail
need=()
command -v podman >/dev/null || need+=(podman)
command -v runc >/dev/null || need+=(runc)
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v promtool >/dev/null || need+=(prometheus)
[ ${#need[@]} -eq 0 ] && exit 0
echo "ensure-image-tools: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${need[@]}" uidmap fuse-overlayfs >/dev/null
# The prometheus package starts a server on install where it can; the tests need only promtool.
if command -v systemctl >/dev/null 2>&1; then systemctl disable --now prometheus >/dev/null 2>&1 || true; fi
