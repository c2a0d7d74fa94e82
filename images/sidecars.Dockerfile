ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}
# git for the gate; the bottle CA store. Bases that have them skip the install.
RUN if ! command -v git >/dev/null 2>&1 || [ ! -d /etc/ssl/certs ]; then \
      apt-get update && apt-get install -y --no-install-recommends git ca-certificates openssh-client \
      && rm -rf /var/lib/apt/lists/*; \
    fi
# Each daemon runs as its own user, so a bug in one (supervise faces the
# agent) reaches no other's secrets; init starts them as root and drops.
# The gate's mirrors live in its own home, which no other daemon can read.
RUN printf '%s\n' \
      'bb-egress:x:10901:10901:bb egress:/nonexistent:/usr/sbin/nologin' \
      'bb-gate:x:10902:10902:bb git gate:/var/lib/bb-gate:/usr/sbin/nologin' \
      'bb-supervise:x:10903:10903:bb supervise:/nonexistent:/usr/sbin/nologin' >> /etc/passwd \
    && printf '%s\n' 'bb-egress:x:10901:' 'bb-gate:x:10902:' 'bb-supervise:x:10903:' >> /etc/group \
    && mkdir -p /var/lib/bb-gate && chown 10902:10902 /var/lib/bb-gate && chmod 0700 /var/lib/bb-gate
# bb copies in the bb-sidecar binary built beside it.
COPY bb-sidecar /usr/local/bin/bb-sidecar
ENTRYPOINT ["/usr/local/bin/bb-sidecar"]
CMD ["init"]
