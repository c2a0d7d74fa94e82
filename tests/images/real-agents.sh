#!/usr/bin/env bash
# Build the test image with the real Claude Code and Codex CLIs, from PyPI
# (the only place they can come from offline). The versions are pinned
# here and nowhere else. Idempotent: an existing image is kept, and the
# wheels are cached outside the repository.
#
#   tests/images/real-agents.sh     prints the image tag on its last line
#
# Needs Docker, pip, unzip, and the Debian test base (make-base.sh).
set -euo pipefail

CLAUDE_AGENT_SDK_VERSION=0.2.184   # bundles Claude Code 2.1.327
CODEX_CLI_VERSION=0.163.0          # openai-codex-cli-bin
BASE="${BB_TEST_BASE:-bb-test-base:bookworm}"
TAG="bb-test-real-agents:sdk${CLAUDE_AGENT_SDK_VERSION}-codex${CODEX_CLI_VERSION}"

if docker image inspect "$TAG" >/dev/null 2>&1; then
  echo "$TAG"
  exit 0
fi

here="$(cd "$(dirname "$0")" && pwd)"
cache="${BB_TEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/bb-test}/wheels"
mkdir -p "$cache"
fetch() { # NAME VERSION
  if ! ls "$cache"/"$(echo "$1" | tr - _)"-"$2"-*.whl >/dev/null 2>&1; then
    echo "real-agents: pip download $1==$2" >&2
    python3 -m pip download --quiet --no-deps --only-binary=:all: \
      --platform manylinux_2_17_x86_64 --python-version 3.11 \
      -d "$cache" "$1==$2" >&2
  fi
  ls "$cache"/"$(echo "$1" | tr - _)"-"$2"-*.whl | head -n 1
}
sdk="$(fetch claude-agent-sdk "$CLAUDE_AGENT_SDK_VERSION")"
codex="$(fetch openai-codex-cli-bin "$CODEX_CLI_VERSION")"

docker image inspect "$BASE" >/dev/null 2>&1 || bash "$here/make-base.sh" "$BASE" >&2

ctx="$(mktemp -d /tmp/bb-real-agents.XXXXXX)"
trap 'rm -rf "$ctx"' EXIT
unzip -q -o "$sdk" 'claude_agent_sdk/_bundled/claude' -d "$ctx/x"
unzip -q -o "$codex" 'codex_cli_bin/*' -d "$ctx/x"
mv "$ctx/x/claude_agent_sdk/_bundled/claude" "$ctx/claude"
mv "$ctx/x/codex_cli_bin" "$ctx/codex_cli_bin"
rm -rf "$ctx/x"
chmod 755 "$ctx/claude" "$ctx"/codex_cli_bin/bin/* "$ctx"/codex_cli_bin/codex-path/* "$ctx"/codex_cli_bin/codex-resources/*
cp "$here/real-agents.Dockerfile" "$ctx/Dockerfile"
echo "real-agents: building $TAG" >&2
docker build --quiet --build-arg BASE_IMAGE="$BASE" -t "$TAG" "$ctx" >&2
echo "$TAG"
