#!/bin/sh
# gVisor for bb's tests: `on` installs runsc >= 20240729 (Debian
# bookworm-backports; older ones cannot start a container with networking
# on kernels >= 6.11) and registers it with the running Docker engine, with
# --network=host (runsc then uses the host kernel's stack inside the
# container's own namespace, so Docker's network isolation still applies);
# `off` unregisters it. The engine is reloaded (SIGHUP), never restarted.
# bb runs every bottle under runsc while it is registered. Needs root.
set -eu
case "${1:-}" in
  on)
    have=$(dpkg-query -W -f='${Version}' runsc 2>/dev/null || echo 0)
    if ! dpkg --compare-versions "$have" ge 0.0~20240729.0; then
      src=/etc/apt/sources.list.d/debian.sources
      if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list.d/; then
        uri=$(awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' "$src" 2>/dev/null)
        uri=${uri:-http://deb.debian.org/debian}
        printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$uri" \
          > /etc/apt/sources.list.d/bookworm-backports.sources
      fi
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -t bookworm-backports runsc >/dev/null
    fi
    want='{"path": "/usr/bin/runsc", "runtimeArgs": ["--network=host"]}' ;;
  off) want='' ;;
  *) echo "usage: $0 on|off" >&2; exit 2 ;;
esac
WANT="$want" python3 - <<'PY'
import json, os, signal
p = '/etc/docker/daemon.json'
d = json.load(open(p)) if os.path.exists(p) else {}
want = json.loads(os.environ['WANT']) if os.environ['WANT'] else None
runtimes = {'runsc': want} if want else {}
# An empty map unregisters on reload; removing the key alone does not.
if d.get('runtimes') != runtimes:
    d['runtimes'] = runtimes
    open(p + '.tmp', 'w').write(json.dumps(d, indent=2) + '\n')
    os.replace(p + '.tmp', p)
    os.kill(int(open('/var/run/docker.pid').read()), signal.SIGHUP)
PY
i=0
while :; do
  if docker info --format '{{json .Runtimes}}' | grep -q '"runsc"'; then registered=1; else registered=0; fi
  if { [ "$1" = on ] && [ $registered = 1 ]; } || { [ "$1" = off ] && [ $registered = 0 ]; }; then break; fi
  i=$((i+1)); [ $i -lt 40 ] || { echo "gvisor.sh: Docker did not take the change" >&2; exit 1; }
  sleep 0.5
done
echo "gvisor.sh: runsc $( [ "$1" = on ] && echo registered || echo unregistered )"
