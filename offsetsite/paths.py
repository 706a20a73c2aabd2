"""Where offsetsite finds its pages and keeps its state, in a checkout or installed.

Read by ``offsetsite.settings`` and by the command line (which must not load Django),
so both agree on the default directories.

- In a checkout (``./dev``, ``pip install -e .``) templates/ and static/ are served
  from the repository root, where people edit them, and state lives in var/.
- Installed from a wheel (``pip install .``) the same files travel as package data
  under ``offsetsite/_site/`` (copied there by setup.py's build hook), and state lives
  in ``$XDG_DATA_HOME/offsetsite`` (``~/.local/share/offsetsite``): site-packages is
  no place for a database.
"""

from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parent.parent
# The files that say "this is the repository", not some site-packages directory.
IN_CHECKOUT = (REPO_DIR / "pyproject.toml").is_file() and (REPO_DIR / "templates").is_dir()
# Where the wheel carries templates/ and static/ (setup.py's SITE_PACKAGE_DIR).
SITE_PACKAGE_DIR = "_site"


def site_dir(name: str) -> Path:
    """The ``templates`` or ``static`` directory of the pages.

    Django reads them as plain files, which they are in an installed wheel too
    (pip unpacks wheels; nothing here is imported from a zip).
    """
    if IN_CHECKOUT:
        return REPO_DIR / name
    return Path(str(files("offsetsite").joinpath(SITE_PACKAGE_DIR, name)))


def var_dir() -> Path:
    """``$OFFSETSITE_VAR``, else var/ in a checkout, else the user's data directory."""
    if env := os.environ.get("OFFSETSITE_VAR"):
        return Path(env)
    if IN_CHECKOUT:
        return REPO_DIR / "var"
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "offsetsite"
