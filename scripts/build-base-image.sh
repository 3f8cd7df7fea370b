#!/usr/bin/env bash
# Build the Debian base image that the lab's hosts run, when it is absent.
# There is no image registry on these machines: debootstrap a minimal Debian
# root file system and `docker import` it. systemd is PID 1 in the container,
# as on a real host.
#
# Usage: scripts/build-base-image.sh [SUITE] [TAG]
#   SUITE  Debian suite to bootstrap (default: bookworm)
#   TAG    image name:tag (default: zerodowntime/debian:SUITE)
set -euo pipefail

suite="${1:-bookworm}"
tag="${2:-zerodowntime/debian:${suite}}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"

if docker image inspect "$tag" >/dev/null 2>&1; then
    echo "image $tag present"
    exit 0
fi

rootfs="$(mktemp -d /tmp/zerodowntime-rootfs.XXXXXX)"
trap 'rm -rf "$rootfs"' EXIT

# The packages every lab host needs before Ansible can manage it: Python for
# modules, systemd as init, and python3-venv because each release gets its
# own virtualenv. Service packages (haproxy, postgresql) are installed by the
# roles, as they would be on a real host.
packages=python3,python3-venv,python3-packaging,python3-apt,ca-certificates,systemd,systemd-sysv,dbus,iproute2,procps,sudo,curl,acl
echo "bootstrapping $suite into $rootfs"
debootstrap --variant=minbase --include="$packages" "$suite" "$rootfs" "$mirror" >/dev/null
# Keep the package lists so that apt in the roles can skip a cold update.
chroot "$rootfs" apt-get clean
tar -C "$rootfs" -c . | docker import \
    -c 'CMD ["/lib/systemd/systemd"]' \
    -c 'ENV container=docker' \
    - "$tag" >/dev/null
echo "image $tag built"
