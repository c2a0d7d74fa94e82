#!/usr/bin/env bash
# Make the image of a second Docker host for the engine tests: Debian with
# dockerd, the docker CLI (ssh:// engines run `docker system dial-stdio`
# there) and sshd. No registry reaches this machine, so it is debootstrapped
# and imported like the base image. Idempotent: an existing image is kept.
#
#   tests/images/engine-host.sh [TAG]   (default bb-test-engine-host:bookworm)
#
# A container of it is a Docker host of its own (tests/support/engines.rs
# runs it): its entrypoint puts $AUTHORIZED_KEY in root's authorized_keys,
# starts sshd, then dockerd on vfs (no overlay inside a container here).
# With TLS=1 dockerd also listens on tcp://:2376 with --tlsverify, once the
# test has written the server's ca.pem, cert.pem and key.pem (made for the
# container's address) into /etc/docker/tls.
set -euo pipefail

TAG="${1:-bb-test-engine-host:bookworm}"
MIRROR="${MIRROR:-http://deb.debian.org/debian}"
INCLUDE="docker.io,openssh-server,iptables,ca-certificates,procps"

# An image made by another version of this script is made again.
VERSION="$(sha256sum "$0" | cut -c1-16)"
if [ "$(docker image inspect -f '{{index .Config.Labels "bb.script"}}' "$TAG" 2>/dev/null)" = "$VERSION" ]; then
  echo "engine-host: $TAG already exists"
  exit 0
fi
command -v debootstrap >/dev/null 2>&1 || {
  echo "engine-host: debootstrap is missing (apt-get install debootstrap)" >&2
  exit 1
}

root="$(mktemp -d /tmp/bb-engine-host.XXXXXX)"
trap 'rm -rf "$root"' EXIT
# mktemp makes it 0700, and the image's / would be too: under the vfs
# driver (a second engine here) no user but root could run anything.
chmod 755 "$root"
echo "engine-host: debootstrap bookworm with $INCLUDE"
debootstrap --variant=minbase --include="$INCLUDE" bookworm "$root" "$MIRROR" >/tmp/bb-engine-host.log 2>&1 || {
  echo "engine-host: debootstrap failed; the end of its log:" >&2
  tail -n 30 /tmp/bb-engine-host.log >&2
  exit 1
}
cat >"$root/usr/local/bin/engine-host" <<'SCRIPT'
#!/bin/sh
set -e
mkdir -p /root/.ssh /run/sshd
printf '%s\n' "$AUTHORIZED_KEY" >/root/.ssh/authorized_keys
chmod 700 /root/.ssh && chmod 600 /root/.ssh/authorized_keys
/usr/sbin/sshd -o PermitRootLogin=prohibit-password
if [ "${TLS:-}" = 1 ]; then
  tls=/etc/docker/tls
  while [ ! -s "$tls/key.pem" ]; do sleep 0.1; done
  exec dockerd --storage-driver=vfs -H unix:///var/run/docker.sock -H tcp://0.0.0.0:2376 \
    --tlsverify --tlscacert="$tls/ca.pem" --tlscert="$tls/cert.pem" --tlskey="$tls/key.pem" \
    >/var/log/dockerd.log 2>&1
fi
exec dockerd --storage-driver=vfs >/var/log/dockerd.log 2>&1
SCRIPT
chmod 755 "$root/usr/local/bin/engine-host"
rm -f "$root"/etc/ssh/ssh_host_*
chroot "$root" ssh-keygen -A >/dev/null
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
echo "engine-host: importing as $TAG"
tar -C "$root" -c . | docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["/usr/local/bin/engine-host"]' \
  --change "LABEL bb.script=$VERSION" \
  - "$TAG" >/dev/null
echo "engine-host: $TAG ready"
