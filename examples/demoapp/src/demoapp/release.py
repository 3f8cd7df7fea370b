"""The release this process runs, as recorded by the installed distribution.

The version lives in one place, pyproject.toml; the wheel's metadata carries
it to the host, and every response reports it, so a deploy can prove which
release answers on each backend.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    RELEASE = version('demoapp')
except PackageNotFoundError:
    # Running from a source checkout (manage.py) that was never installed:
    # say so rather than guess a number a deploy check could mistake for real.
    RELEASE = '0+unknown'
