# SPDX-License-Identifier: GPL-3.0-or-later
"""The Wagtail scenario's verifier shares the lab's helpers (load probe,
clean environment, tools of the project's virtualenv)."""

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "lab"))
