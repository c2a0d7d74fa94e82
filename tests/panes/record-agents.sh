#!/usr/bin/env bash
# Re-record claude-code.bytes: the real Claude Code CLI (from the PyPI wheel
# the real-agents tests use) answering one prompt from the mock API, run on
# the host in a 38x120 PTY. Needs the wheel cache tests/images/real-agents.sh
# fills and `cargo build -p mock-llm`.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cache="${BB_TEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/bb-test}/wheels"
wheel="$(ls "$cache"/claude_agent_sdk-*.whl | head -n 1)"
work="$(mktemp -d /tmp/bb-record.XXXXXX)"
trap 'kill "$mock" 2>/dev/null || true; rm -rf "$work"' EXIT
unzip -q "$wheel" 'claude_agent_sdk/_bundled/claude' -d "$work"
mkdir -p "$work/home" "$work/project" "$work/mock"
# Onboarding done and the project trusted, as bb's bottles have it.
cat > "$work/home/.claude.json" <<JSON
{"hasCompletedOnboarding": true, "theme": "dark", "bypassPermissionsModeAccepted": true,
 "projects": {"$work/project": {"hasTrustDialogAccepted": true}}}
JSON
"$root/target/debug/mock-llm" --dir "$work/mock" --token record-token \
  --listen 127.0.0.1:18080 --plain api.anthropic.com &
mock=$!
sleep 1
cd "$work/project"
HOME="$work/home" IS_SANDBOX=1 DISABLE_AUTOUPDATER=1 \
  ANTHROPIC_BASE_URL=http://127.0.0.1:18080 CLAUDE_CODE_OAUTH_TOKEN=record-token \
  python3 "$here/record.py" 38 120 "$here/claude-code.bytes" \
  --type 6 'Say hello' --type 7 '\r' --stop 20 -- \
  "$work/claude_agent_sdk/_bundled/claude" --dangerously-skip-permissions
echo "recorded $here/claude-code.bytes"
