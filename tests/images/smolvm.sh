#!/usr/bin/env bash
# Print the path of the real smolvm CLI (the `smol-vmm` the `smolmachines`
# PyPI wheel ships with its VMM libraries), fetching the pinned wheel into
# the test cache once. The smolmachines contract tests run it as BB_SMOLVM:
#   export BB_SMOLVM="$(bash tests/images/smolvm.sh)"
set -euo pipefail
SMOLMACHINES_VERSION=1.32.2
cache="${BB_TEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/bb-test}"
dest="$cache/smolvm/$SMOLMACHINES_VERSION"
if [ ! -x "$dest/smol/smol-vmm" ]; then
  mkdir -p "$cache/wheels" "$dest"
  if ! ls "$cache"/wheels/smolmachines-"$SMOLMACHINES_VERSION"-*.whl >/dev/null 2>&1; then
    echo "smolvm: pip download smolmachines==$SMOLMACHINES_VERSION" >&2
    python3 -m pip download --quiet --no-deps --only-binary=:all: \
      -d "$cache/wheels" "smolmachines==$SMOLMACHINES_VERSION" >&2
  fi
  wheel="$(ls "$cache"/wheels/smolmachines-"$SMOLMACHINES_VERSION"-*.whl | head -n 1)"
  unzip -q -o "$wheel" 'smol/smol-vmm' 'smol/*.so*' 'smol/*.zst' -d "$dest" >&2
  chmod +x "$dest/smol/smol-vmm"
fi
"$dest/smol/smol-vmm" --version >/dev/null 2>&1 || {
  echo "smolvm: $dest/smol/smol-vmm does not run" >&2
  exit 1
}
echo "$dest/smol/smol-vmm"
