# The real agent CLIs for bb's end-to-end tests, on the local Debian test
# base: Claude Code as the single executable the claude-agent-sdk wheel
# bundles, Codex as the whole codex_cli_bin package tree (the bare binary
# refuses to run without it). Built by tests/images/real-agents.sh.
ARG BASE_IMAGE=bb-test-base:bookworm
FROM ${BASE_IMAGE}
COPY claude /usr/local/bin/claude
COPY codex_cli_bin /opt/codex_cli_bin
RUN ln -s /opt/codex_cli_bin/bin/codex /usr/local/bin/codex
USER node
WORKDIR /home/node
