#!/usr/bin/env bash
# Run `ansible-test sanity` or `ansible-test integration` on the collection.
#
#   scripts/ansible-test.sh sanity                  # every sanity test that works offline
#   scripts/ansible-test.sh sanity --test pep8      # extra arguments go to ansible-test
#   scripts/ansible-test.sh integration             # tests/integration/targets, on this machine
#
# ansible-test wants the collection at .../ansible_collections/<ns>/<name>/
# inside a git work tree, and tests only what git knows. So this copies the
# checkout's files (tracked ones, plus new files not ignored by .gitignore,
# so uncommitted work is tested too) into a temporary tree and commits them
# there. The checkout itself is never written to.
#
# Each test runs in a virtualenv that ansible-test creates and fills from
# PyPI (--venv), cached under ~/.ansible/test/venv. ansible-test bootstraps
# pip in those virtualenvs with a get-pip script it downloads from a host
# CI cannot reach; a stand-in that installs pip from a wheel fetched from
# PyPI is put in its cache when missing.
#
# The integration targets start their own HAProxy (setup_haproxy) from
# /usr/sbin/haproxy on 127.0.0.1; ansible-test runs them on this machine.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
venv_bin="${VENV_BIN:-$root/.venv/bin}"
python_version="${SANITY_PYTHON:-3.11}"
export PATH="$venv_bin:$PATH"
# The Makefile exports ANSIBLE_CONFIG (the checkout's ansible.cfg, whose
# collections_path is the checkout's link): test the copy, not the checkout.
unset ANSIBLE_CONFIG ANSIBLE_COLLECTIONS_PATH ANSIBLE_COLLECTIONS_PATHS

# Tests that need something this machine does not have: pslint needs
# PowerShell; the others only apply to ansible-core itself.
skip_tests=(pslint)

log() { printf '== %s: %s\n' "$(date +%T)" "$*" >&2; }

bootstrap_pip() {
    local cache="$HOME/.ansible/test/cache" version requirements
    requirements="$("$venv_bin/python" -c 'import ansible_test, os; print(os.path.dirname(ansible_test.__file__))')/_internal/python_requirements.py"
    version="$(sed -n "s/^ *pip='\([0-9.]*\)',*$/\1/p" "$requirements" | head -n 1)"
    [[ -n "$version" ]] || { log "cannot find ansible-test's pip version in $requirements"; exit 1; }
    local script="$cache/get_pip_${version//./_}.py" wheel="$cache/pip-$version-py3-none-any.whl"
    mkdir -p "$cache"
    if [[ ! -f "$wheel" ]]; then
        log "downloading pip $version from PyPI for ansible-test's bootstrap"
        "$venv_bin/python" -m pip download --quiet --disable-pip-version-check --no-deps \
            --only-binary=:all: --dest "$cache" "pip==$version"
    fi
    # ansible-test before 2.17 also pins setuptools and wheel in the bootstrap
    # (later ones set them to False): the stand-in installs them from the
    # cache too.
    local package pinned
    for package in setuptools wheel; do
        pinned="$(sed -n "s/^ *$package='\([0-9.]*\)',*$/\1/p" "$requirements" | head -n 1)"
        if [[ -n "$pinned" ]] && ! compgen -G "$cache/$package-$pinned-*.whl" >/dev/null; then
            log "downloading $package $pinned from PyPI for ansible-test's bootstrap"
            "$venv_bin/python" -m pip download --quiet --disable-pip-version-check --no-deps \
                --only-binary=:all: --dest "$cache" "$package==$pinned"
        fi
    done
    if [[ ! -f "$script" ]]; then
        log "writing the get-pip stand-in $script"
        cat >"$script" <<EOF
# Offline stand-in for https://ci-files.testing.ansible.com/ansible-test/get-pip-$version.py
# written by scripts/ansible-test.sh: installs pip $version from the wheel next to it.
import os
import subprocess
import sys

CACHE = os.path.dirname(os.path.abspath(__file__))
WHEEL = os.path.join(CACHE, "pip-$version-py3-none-any.whl")
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
sys.exit(subprocess.call([sys.executable, os.path.join(WHEEL, "pip"), "install", "--no-index",
                          "--find-links", CACHE] + args))
EOF
    fi
}

copy_tree() {
    local dest="$1"
    mkdir -p "$dest"
    # Files git tracks or would track; a tracked file deleted in the work tree
    # is left out.
    (cd "$root" && git ls-files -z --cached --others --exclude-standard \
        | while IFS= read -r -d '' f; do
              if [[ -e "$f" || -L "$f" ]]; then printf '%s\0' "$f"; fi
          done \
        | sort -zu \
        | tar --null --no-recursion -T - -cf -) | tar -C "$dest" -xf -
    (
        cd "$dest"
        git init --quiet
        # ansible-test lists content with git: keep its own output out.
        printf 'tests/output/\n' >>.git/info/exclude
        git add -A
        git -c user.name=sanity -c user.email=sanity@localhost -c commit.gpgsign=false \
            commit --quiet --no-verify -m "sanity snapshot"
    )
}

work=""
cleanup() { if [[ -n "$work" ]]; then rm -rf "$work"; fi; }

main() {
    local command="${1:?usage: $0 sanity|integration [ansible-test arguments]}" namespace name dest skip_args=()
    shift
    namespace="$(sed -n 's/^namespace: *//p' "$root/galaxy.yml")"
    name="$(sed -n 's/^name: *//p' "$root/galaxy.yml")"
    work="$(mktemp -d "${TMPDIR:-/tmp}/ansible-test.XXXXXX")"
    trap cleanup EXIT
    dest="$work/ansible_collections/$namespace/$name"

    bootstrap_pip
    log "copying the collection to $dest"
    copy_tree "$dest"

    cd "$dest"
    case "$command" in
        sanity)
            for t in "${skip_tests[@]}"; do skip_args+=(--skip-test "$t"); done
            log "ansible-test sanity --python $python_version"
            ansible-test sanity --python "$python_version" --venv --color no "${skip_args[@]}" "$@"
            ;;
        integration)
            log "ansible-test integration --python $python_version"
            ansible-test integration --python "$python_version" --venv --color no "$@"
            ;;
        *)
            log "unknown command '$command': sanity or integration"
            exit 2
            ;;
    esac
}

main "$@"
