#!/usr/bin/env bash
# Build one release of the demoapp fixture into a single artifact that installs
# on a host with no access to PyPI:
#
#   OUTDIR/demoapp-RELEASE.tar.gz         wheels/*.whl + requirements.txt + manage.py
#   OUTDIR/demoapp-RELEASE.tar.gz.sha256  "<sha256>  demoapp-RELEASE.tar.gz"
#
# Install on the host with:
#   python3 -m venv V
#   V/bin/pip install --no-index --find-links wheels -r requirements.txt
#
# Usage: examples/demoapp/build.sh RELEASE [OUTDIR]
#   RELEASE  a line of releases/ORDER; the tree is src/ plus every patch in
#            ORDER up to and including RELEASE's own
#   OUTDIR   default: <repo>/build/artifacts
# Environment:
#   PYTHON               interpreter whose pip builds the wheels (python3);
#                        its version must be the hosts' (x86_64 glibc Linux)
#   DEMOAPP_TARGET_PYTHON  the hosts' Python, X.Y (3.11: Debian 12)
#   FORCE=1              rebuild even when the artifact exists
#   DEMOAPP_WHEEL_CACHE  dependency wheels kept between builds
#                        (default: <repo>/build/cache/demoapp-wheels)
#
# Progress goes to stderr; stdout is the artifact's path alone, so a caller can
# capture it.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
order="$here/releases/ORDER"

log() { printf 'build.sh: %s\n' "$*" >&2; }
die() { printf 'build.sh: error: %s\n' "$*" >&2; exit 1; }

[[ $# -ge 1 && $# -le 2 ]] || die "usage: examples/demoapp/build.sh RELEASE [OUTDIR]"
release="$1"
outdir="${2:-$root/build/artifacts}"
python="${PYTHON:-python3}"
cache="${DEMOAPP_WHEEL_CACHE:-$root/build/cache/demoapp-wheels}"

# Checked before anything touches the disk or the network, so a typo costs
# nothing and says what is wrong.
grep -qxF -- "$release" "$order" \
    || die "release $release is not in ${order#"$root"/}"

artifact="$outdir/demoapp-$release.tar.gz"
if [[ -f $artifact && -f $artifact.sha256 && ${FORCE:-0} != 1 ]]; then
    log "$artifact exists; skipping (FORCE=1 rebuilds)"
    printf '%s\n' "$artifact"
    exit 0
fi

# Compiled wheels (psycopg-binary) are chosen for the interpreter that runs
# pip: a build on another version would ship wheels the hosts cannot load.
target_python="${DEMOAPP_TARGET_PYTHON:-3.11}"
build_python="$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')" \
    || die "cannot run PYTHON=$python"
[[ $build_python == "$target_python" ]] \
    || die "PYTHON=$python is Python $build_python; the hosts run $target_python (DEMOAPP_TARGET_PYTHON)"

# Fixed timestamps in the wheel and the tarball: the same tree gives the same
# bytes, so the .sha256 of a rebuilt release does not change.
epoch="${SOURCE_DATE_EPOCH:-315532800}"

work="$(mktemp -d "${TMPDIR:-/tmp}/demoapp-build.XXXXXX")"
# Written under this name and renamed last: an interrupted build must not
# leave a file that the skip check above would take for a finished one.
tmp_artifact="$outdir/.demoapp-$release.tar.gz.$$"
trap 'rm -rf "$work" "$tmp_artifact" "$tmp_artifact.sha256"' EXIT

# The tree of this release: the base source plus the patch of every release
# up to it, in ORDER's order. A release without a patch file changes nothing
# (1.0.0 is src/ itself). --fuzz=0: a patch that no longer applies exactly is
# a broken stack, not something to guess around.
tree="$work/tree"
mkdir -p "$tree"
tar -C "$here/src" --exclude=__pycache__ --exclude='*.egg-info' --exclude=./build \
    -cf - . | tar -C "$tree" -xf -
while IFS= read -r step; do
    [[ -n $step ]] || continue
    if [[ -f $here/releases/$step.patch ]]; then
        log "applying releases/$step.patch"
        patch -d "$tree" -p1 --batch --forward --fuzz=0 --no-backup-if-mismatch --quiet \
            < "$here/releases/$step.patch" >&2 \
            || die "releases/$step.patch does not apply on top of the releases before it"
    fi
    [[ $step == "$release" ]] && break
done < "$order"

# pyproject's version is what the installed app reports as its release; an
# artifact named 1.1.0 that answers 1.0.0 would fool every deploy check.
tree_version="$("$python" - "$tree/pyproject.toml" <<'EOF'
import sys, tomllib
with open(sys.argv[1], "rb") as f:
    print(tomllib.load(f)["project"]["version"])
EOF
)"
[[ $tree_version == "$release" ]] \
    || die "the tree for $release has version $tree_version in pyproject.toml; its patch must set $release"

# Dependency wheels and the build backend are kept in one cache shared by all
# releases: try it offline first, and only go to the index when a pin or the
# backend is missing from it. The second release then builds in seconds.
mapfile -t build_requires < <("$python" - "$tree/pyproject.toml" <<'EOF'
import sys, tomllib
with open(sys.argv[1], "rb") as f:
    print("\n".join(tomllib.load(f)["build-system"]["requires"]))
EOF
)
mkdir -p "$cache"
pip=("$python" -m pip --disable-pip-version-check)
if ! "${pip[@]}" wheel --quiet --no-index --find-links "$cache" --wheel-dir "$cache" \
        -r "$here/requirements.in" "${build_requires[@]}" >/dev/null 2>&1; then
    log "filling the wheel cache $cache from the index"
    "${pip[@]}" wheel --quiet --wheel-dir "$cache" \
        -r "$here/requirements.in" "${build_requires[@]}" >&2
fi

# The release's wheelhouse: demoapp itself plus exactly the dependency wheels
# the pins resolve to, all from the cache (the build backend too: pip hands
# --no-index and --find-links to the isolated build environment).
wheels="$work/stage/wheels"
mkdir -p "$wheels"
log "building demoapp $release"
SOURCE_DATE_EPOCH="$epoch" \
    "${pip[@]}" wheel --quiet --no-index --find-links "$cache" --wheel-dir "$wheels" \
    -r "$here/requirements.in" "$tree" >&2

# requirements.txt: every wheel pinned with its hash, demoapp first. pip on the
# host then runs in hash-checking mode and installs nothing but these files.
# A wheel built from source here (plain linux_x86_64 tag) would be linked
# against this machine's libraries; only pure or manylinux wheels ship.
"$python" - "$wheels" "$release" > "$work/stage/requirements.txt" <<'EOF'
import hashlib, pathlib, re, sys

wheels, release = pathlib.Path(sys.argv[1]), sys.argv[2]
pins = {}
for wheel in sorted(wheels.glob("*.whl")):
    name, version, *_, platform = wheel.stem.split("-")
    if not (platform == "any" or platform.startswith("manylinux")):
        sys.exit(f"build.sh: error: {wheel.name} is not portable to the hosts (platform tag {platform})")
    name = re.sub(r"[-_.]+", "-", name).lower()
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    pins[name] = (version, digest)
if pins.get("demoapp", (None,))[0] != release:
    sys.exit(f"build.sh: error: the wheelhouse has no demoapp {release} wheel")

print(f"# demoapp {release}: the complete set of wheels in wheels/, with hashes.")
print("# pip install --no-index --find-links wheels -r requirements.txt")
for name in ["demoapp"] + sorted(set(pins) - {"demoapp"}):
    version, digest = pins[name]
    print(f"{name}=={version} \\\n    --hash=sha256:{digest}")
EOF

# manage.py runs the release's management commands (migrations) from its
# virtualenv: `#!/usr/bin/env python` finds the venv's python on PATH.
install -m 0755 "$tree/manage.py" "$work/stage/manage.py"

mkdir -p "$outdir"
tar -C "$work/stage" --sort=name --owner=0 --group=0 --numeric-owner \
    --mtime=@"$epoch" -cf - manage.py requirements.txt wheels \
    | gzip -n > "$tmp_artifact"
digest="$(sha256sum "$tmp_artifact" | cut -d' ' -f1)"
printf '%s  %s\n' "$digest" "${artifact##*/}" > "$tmp_artifact.sha256"
mv -f "$tmp_artifact" "$artifact"
mv -f "$tmp_artifact.sha256" "$artifact.sha256"

log "$(du -h "$artifact" | cut -f1) $(ls "$wheels" | wc -l) wheels, sha256 $digest"
printf '%s\n' "$artifact"
