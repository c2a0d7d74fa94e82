ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}
# git for the gate; the bottle CA store. Bases that have them skip the install.
RUN if ! command -v git >/dev/null 2>&1 || [ ! -d /etc/ssl/certs ]; then \
      apt-get update && apt-get install -y --no-install-recommends git ca-certificates openssh-client \
      && rm -rf /var/lib/apt/lists/*; \
    fi
# The bundle runs as the host user's uid (it writes into the user's state
# dir); ssh needs a passwd entry for it, which init adds at start.
RUN chmod a+w /etc/passwd
# bb copies in the bb-sidecar binary built beside it.
COPY bb-sidecar /usr/local/bin/bb-sidecar
ENTRYPOINT ["/usr/local/bin/bb-sidecar"]
CMD ["init"]
