#!/usr/bin/env bash
# Make the Debian base image bb's Docker tests build on, where no image can
# be pulled: debootstrap a minimal Debian into a folder, then `docker
# import` it. Idempotent: an existing image with the tag is kept.
#
#   tests/images/make-base.sh [TAG]     (default bb-test-base:bookworm)
#
# Needs root (debootstrap), Docker, and a Debian mirror (MIRROR to change it).
set -euo pipefail

TAG="${1:-bb-test-base:bookworm}"
SUITE="${SUITE:-bookworm}"
MIRROR="${MIRROR:-http://deb.debian.org/debian}"
# What the images built on this base need: git for the gate, a CA store
# for the bottle CA, and procps/coreutils for the fake agent.
INCLUDE="ca-certificates,git,procps,openssh-client"

if docker image inspect "$TAG" >/dev/null 2>&1; then
  echo "make-base: $TAG already exists"
  exit 0
fi

if ! command -v debootstrap >/dev/null 2>&1; then
  echo "make-base: debootstrap is missing (apt-get install debootstrap)" >&2
  exit 1
fi

root="$(mktemp -d /tmp/bb-base.XXXXXX)"
trap 'rm -rf "$root"' EXIT
# mktemp makes it 0700, and the image's / would be too: under the vfs
# driver (a second engine here) no user but root could run anything.
chmod 755 "$root"
echo "make-base: debootstrap $SUITE into $root"
debootstrap --variant=minbase --include="$INCLUDE" "$SUITE" "$root" "$MIRROR" >/tmp/bb-debootstrap.log 2>&1 || {
  echo "make-base: debootstrap failed; the end of its log:" >&2
  tail -n 30 /tmp/bb-debootstrap.log >&2
  exit 1
}
# A non-root user like the public node image's, so images built on this
# base behave as on node:22-slim.
chroot "$root" groupadd --gid 1000 node
chroot "$root" useradd --uid 1000 --gid node --shell /bin/bash --create-home node
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
echo "make-base: importing as $TAG"
tar -C "$root" -c . | docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["/bin/bash"]' \
  - "$TAG" >/dev/null
echo "make-base: $TAG ready"
