# The Codex agent image. Built and reused like agent-claude.Dockerfile.
ARG BASE_IMAGE=node:22-slim
FROM ${BASE_IMAGE}

ARG CODEX_VERSION=0.58.0

RUN apt-get update \
 && apt-get install -y --no-install-recommends git ca-certificates openssh-client curl \
 && rm -rf /var/lib/apt/lists/*
RUN npm install -g "@openai/codex@${CODEX_VERSION}" \
 && npm cache clean --force

USER node
WORKDIR /home/node
