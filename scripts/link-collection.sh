#!/usr/bin/env bash
# Make this checkout importable as the collection zerodowntime.deploy:
# build/collections/ansible_collections/zerodowntime/deploy -> the checkout.
# ansible.cfg points collections_path at build/collections, so playbooks,
# molecule and the tests all load the code from the work tree.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
ns="$root/build/collections/ansible_collections/zerodowntime"
mkdir -p "$ns"
ln -sfn "$root" "$ns/deploy"
