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
#        examples/demoapp/build.sh --chain RELEASE
#   RELEASE  a release named in releases/ORDER; its tree is src/ plus the
#            patch of every release on its chain (see the top of ORDER)
#   OUTDIR   default: <repo>/build/artifacts
#   --chain  print RELEASE's chain, base first, one release a line, and stop
#
# The wheel's version is RELEASE with its first "-" made a "+" (PEP 440 local
# version: 1.1.1-unhealthy builds demoapp 1.1.1+unhealthy); RELEASE itself
# goes into demoapp/_release.py, which /version and X-Release report.
#
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

usage="usage: examples/demoapp/build.sh RELEASE [OUTDIR] | --chain RELEASE"
chain_only=0
if [[ ${1:-} == --chain ]]; then
    [[ $# -eq 2 ]] || die "$usage"
    chain_only=1
    shift
fi
[[ $# -ge 1 && $# -le 2 ]] || die "$usage"
release="$1"
outdir="${2:-$root/build/artifacts}"
python="${PYTHON:-python3}"
cache="${DEMOAPP_WHEEL_CACHE:-$root/build/cache/demoapp-wheels}"

# releases/ORDER, read into the parent of every release (empty for the base).
# A plain line continues the main line; "RELEASE from BASE" branches off an
# earlier release. Checked whole before anything touches the disk or the
# network, so a typo costs nothing and says what is wrong.
declare -A parent=()
name_re='[0-9][a-z0-9.-]*'
mainline=""
lineno=0
while IFS= read -r line || [[ -n $line ]]; do
    lineno=$((lineno + 1))
    [[ $line =~ ^[[:space:]]*(#.*)?$ ]] && continue
    [[ $line =~ ^[[:space:]]*($name_re)([[:space:]]+from[[:space:]]+($name_re))?[[:space:]]*$ ]] \
        || die "${order#"$root"/}:$lineno: expected 'RELEASE' or 'RELEASE from BASE', got '$line'"
    name="${BASH_REMATCH[1]}"
    base="${BASH_REMATCH[3]}"
    [[ -z ${parent[$name]+set} ]] \
        || die "${order#"$root"/}:$lineno: $name is listed twice"
    if [[ -n $base ]]; then
        [[ -n ${parent[$base]+set} ]] \
            || die "${order#"$root"/}:$lineno: $name is from $base, which no line above names"
    else
        base="$mainline"
        mainline="$name"
    fi
    parent[$name]="$base"
done < "$order"

[[ -n ${parent[$release]+set} ]] \
    || die "release $release is not in ${order#"$root"/}"
# The chain: the base first, RELEASE last. Every BASE is on an earlier line,
# so following parents always ends at the base.
chain=()
step="$release"
while [[ -n $step ]]; do
    chain=("$step" "${chain[@]}")
    step="${parent[$step]}"
done
if ((chain_only)); then
    printf '%s\n' "${chain[@]}"
    exit 0
fi
wheel_version="${release/-/+}"

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
# on its chain, base first. A release without a patch file changes nothing
# (1.0.0 is src/ itself). --fuzz=0: a patch that no longer applies exactly is
# a broken stack, not something to guess around.
tree="$work/tree"
mkdir -p "$tree"
tar -C "$here/src" --exclude=__pycache__ --exclude='*.egg-info' --exclude=./build \
    -cf - . | tar -C "$tree" -xf -
for step in "${chain[@]}"; do
    if [[ -f $here/releases/$step.patch ]]; then
        log "applying releases/$step.patch"
        patch -d "$tree" -p1 --batch --forward --fuzz=0 --no-backup-if-mismatch --quiet \
            < "$here/releases/$step.patch" >&2 \
            || die "releases/$step.patch does not apply on the tree of ${parent[$step]}"
    fi
done

# The release name is what the app reports (/version, X-Release), through a
# module written here rather than read from the wheel's metadata: the
# metadata holds the PEP 440 form, and a deploy asked for 1.1.1-unhealthy
# must see 1.1.1-unhealthy answer.
printf '# Written by build.sh: the release as releases/ORDER names it.\nRELEASE = %s\n' \
    "'$release'" > "$tree/demoapp/_release.py"

# pyproject's version must be this release's wheel version, in the canonical
# PEP 440 form, or setuptools would rename the wheel and requirements.txt
# would pin a version nobody asked for; and an artifact named 1.1.0 holding a
# 1.0.0 wheel would fool every deploy check.
tree_version="$("$python" - "$tree/pyproject.toml" "$wheel_version" <<'EOF'
import sys, tomllib
try:
    from packaging.version import InvalidVersion, Version
except ImportError:  # no packaging of its own: pip's copy
    from pip._vendor.packaging.version import InvalidVersion, Version

pyproject, wanted = sys.argv[1:]
try:
    canonical = str(Version(wanted))
except InvalidVersion:
    canonical = None
if canonical != wanted:
    sys.exit(f"build.sh: error: the release name makes the wheel version {wanted},"
             " which is not a canonical PEP 440 version")
with open(pyproject, "rb") as f:
    print(tomllib.load(f)["project"]["version"])
EOF
)" || exit 1
[[ $tree_version == "$wheel_version" ]] \
    || die "the tree for $release has version $tree_version in pyproject.toml; its patch must set $wheel_version"

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
"$python" - "$wheels" "$release" "$wheel_version" > "$work/stage/requirements.txt" <<'EOF'
import hashlib, pathlib, re, sys

wheels, release, wheel_version = pathlib.Path(sys.argv[1]), sys.argv[2], sys.argv[3]
pins = {}
for wheel in sorted(wheels.glob("*.whl")):
    name, version, *_, platform = wheel.stem.split("-")
    if not (platform == "any" or platform.startswith("manylinux")):
        sys.exit(f"build.sh: error: {wheel.name} is not portable to the hosts (platform tag {platform})")
    name = re.sub(r"[-_.]+", "-", name).lower()
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    pins[name] = (version, digest)
if pins.get("demoapp", (None,))[0] != wheel_version:
    sys.exit(f"build.sh: error: the wheelhouse has no demoapp {wheel_version} wheel")

print(f"# demoapp {release} (wheel version {wheel_version}): the complete set of")
print("# wheels in wheels/, with hashes.")
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

log "$(du -h "$artifact" | cut -f1) $(find "$wheels" -name '*.whl' | wc -l) wheels, sha256 $digest"
printf '%s\n' "$artifact"
