#!/usr/bin/env bash
# Build the image with Debian 13's HAProxy (3.0) that tests run the modules
# against, when it is absent: the trixie base image (build-base-image.sh)
# plus the haproxy package from Debian's archive.
#
# Usage: scripts/build-haproxy-fixtures-image.sh [TAG]
#   TAG  image name:tag (default: zerodowntime/haproxy-fixtures:trixie)
set -euo pipefail

tag="${1:-zerodowntime/haproxy-fixtures:trixie}"
base="zerodowntime/debian:trixie"
here="$(cd "$(dirname "$0")" && pwd)"

if docker image inspect "$tag" >/dev/null 2>&1; then
    echo "image $tag present"
    exit 0
fi

"$here/build-base-image.sh" trixie "$base"
builder="ha-fixtures-build-$$"
trap 'docker rm -f "$builder" >/dev/null 2>&1 || true' EXIT
docker run --name "$builder" "$base" sh -c \
    'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends haproxy >/dev/null && apt-get clean' 
docker commit -c 'CMD ["/lib/systemd/systemd"]' "$builder" "$tag" >/dev/null
echo "image $tag built"
