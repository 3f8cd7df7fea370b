"""The release this process runs, exactly as releases/ORDER names it.

build.sh writes ``demoapp/_release.py`` (``RELEASE = '1.1.1-unhealthy'``) into
the tree it builds: a release name such as ``1.1.1-unhealthy`` is not a valid
wheel version, so the wheel carries the PEP 440 form (``1.1.1+unhealthy``)
while every response reports the name the deploy was asked for.
"""

__all__ = ['RELEASE']

try:
    from ._release import RELEASE
except ImportError:
    # Not built by build.sh (a source checkout, or `pip install src/`): the
    # installed metadata is the best we know, and failing that say so rather
    # than guess a number a deploy check could mistake for real.
    from importlib.metadata import PackageNotFoundError, version

    try:
        RELEASE = version('demoapp')
    except PackageNotFoundError:
        RELEASE = '0+unknown'
