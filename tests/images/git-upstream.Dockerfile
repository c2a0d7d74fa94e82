# A git server over SSH for bb's Docker tests: the "real upstream" a
# bottle's git gate pushes to. Host keys are made at build time so tests
# can pin them.
ARG BASE_IMAGE=bb-test-base:bookworm
FROM ${BASE_IMAGE}
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssh-server >/dev/null \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /run/sshd \
 && useradd --create-home --shell /bin/bash git \
 && ssh-keygen -A
# PUBKEY (the gate's key) may log in as git; the repository starts with one commit.
CMD mkdir -p /home/git/.ssh \
 && echo "$PUBKEY" > /home/git/.ssh/authorized_keys \
 && chown -R git:git /home/git/.ssh && chmod 700 /home/git/.ssh && chmod 600 /home/git/.ssh/authorized_keys \
 && su git -c 'git init --quiet --bare -b main /home/git/app.git \
      && git init --quiet -b main /tmp/seed && cd /tmp/seed \
      && git -c user.name=seed -c user.email=seed@upstream commit --quiet --allow-empty -m seed \
      && git push --quiet /home/git/app.git main' \
 && exec /usr/sbin/sshd -D -e
