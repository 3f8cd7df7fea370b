"""Make the work tree importable as ``ansible_collections.zerodowntime.deploy``.

scripts/link-collection.sh links the checkout into build/collections; the
tests import the plugins through that path, exactly as Ansible loads them.
"""

import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent
COLLECTIONS = ROOT / "build" / "collections"

if not (COLLECTIONS / "ansible_collections" / "zerodowntime" / "deploy").exists():
    subprocess.run([str(ROOT / "scripts" / "link-collection.sh")], check=True)
if str(COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS))
