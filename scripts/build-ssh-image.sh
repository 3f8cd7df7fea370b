#!/usr/bin/env bash
# The lab's SSH flavour (issue 13): the base image plus sshd and an
# unprivileged user with sudo, so that Ansible reaches the lab as users reach
# their VMs, over SSH with a key. Also writes, under build/lab-ssh/:
#   id_ed25519, id_ed25519.pub  the key the lab user logs in with (made once);
#   authorized_keys             mounted read-only into each container;
#   known_hosts                 the image's host key for every lab port
#                               ([127.0.0.1]:*), so host keys are checked.
# The image is built only when absent; the files are rewritten every run.
#
# Usage: scripts/build-ssh-image.sh [SUITE] [USER]
#   SUITE  Debian suite of the base image (default: bookworm)
#   USER   the login user (default: deploy)
set -euo pipefail
cd "$(dirname "$0")/.."

suite="${1:-bookworm}"
user="${2:-deploy}"
base="zerodowntime/debian:${suite}"
tag="zerodowntime/debian-ssh:${suite}"
keys="build/lab-ssh"

scripts/build-base-image.sh "$suite"

if ! docker image inspect "$tag" >/dev/null 2>&1; then
    echo "building $tag from $base"
    name="zerodowntime-ssh-build-$$"
    trap 'docker rm -f "$name" >/dev/null 2>&1 || true' EXIT
    # No systemd needed to install a package: run a shell, then commit.
    docker run --name "$name" "$base" /bin/sh -ec "
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends openssh-server >/dev/null
        apt-get clean
        useradd --create-home --shell /bin/bash '$user'
        echo '$user ALL=(ALL) NOPASSWD: ALL' >/etc/sudoers.d/'$user'
        chmod 0440 /etc/sudoers.d/'$user'
        cat >/etc/ssh/sshd_config.d/zerodowntime-lab.conf <<EOF
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
AuthorizedKeysFile .ssh/authorized_keys /etc/ssh/lab_authorized_keys/%u
EOF
        mkdir -p /etc/ssh/lab_authorized_keys
        systemctl enable ssh >/dev/null 2>&1
    "
    docker commit \
        -c 'CMD ["/lib/systemd/systemd"]' \
        -c 'ENV container=docker' \
        "$name" "$tag" >/dev/null
    echo "image $tag built"
else
    echo "image $tag present"
fi

mkdir -p "$keys/authorized_keys.d"
if [ ! -f "$keys/id_ed25519" ]; then
    ssh-keygen -q -t ed25519 -N '' -C "zerodowntime-lab" -f "$keys/id_ed25519"
fi
# One file per login user, named as sshd's %u expects; the directory is
# mounted at /etc/ssh/lab_authorized_keys.
install -m 0644 "$keys/id_ed25519.pub" "$keys/authorized_keys.d/$user"
hostkey="$(docker run --rm --entrypoint /bin/cat "$tag" /etc/ssh/ssh_host_ed25519_key.pub | cut -d' ' -f1,2)"
printf '[127.0.0.1]:* %s\n' "$hostkey" >"$keys/known_hosts"
