# The Claude Code agent image. bb builds it from this file (embedded in the
# bb binary) and labels it with a hash of its content, so a changed file
# means a rebuild and an unchanged one is reused.
ARG BASE_IMAGE=node:22-slim
FROM ${BASE_IMAGE}

# Pinned: a bottle should not change under the user between launches.
ARG CLAUDE_CODE_VERSION=2.0.37

RUN apt-get update \
 && apt-get install -y --no-install-recommends git ca-certificates openssh-client curl \
 && rm -rf /var/lib/apt/lists/*
RUN npm install -g "@anthropic-ai/claude-code@${CLAUDE_CODE_VERSION}" \
 && npm cache clean --force

USER node
WORKDIR /home/node
