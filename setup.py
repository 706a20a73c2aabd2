"""Build hook: the wheel carries the site's templates/ and static/ directories.

They live at the repository root, where the pages are edited, not inside the
``offsetsite`` package, so ``package-data`` alone cannot name them. Rather than
moving them (and every path that points at them), building a (non-editable) wheel
copies them to ``offsetsite/_site/templates`` and ``offsetsite/_site/static``, where
``offsetsite.paths.site_dir`` finds them when the package is not in a checkout.
An editable install skips the copy: it serves the checkout's own directories.
Everything else is in pyproject.toml; MANIFEST.in puts both directories in an sdist.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
SITE_DIRS = ("templates", "static")
SITE_PACKAGE_DIR = Path("offsetsite") / "_site"  # offsetsite.paths.SITE_PACKAGE_DIR


class BuildPyWithSite(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        for name in SITE_DIRS:
            shutil.copytree(
                ROOT / name,
                Path(self.build_lib) / SITE_PACKAGE_DIR / name,
                dirs_exist_ok=True,
                ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".*"),
            )


setup(cmdclass={"build_py": BuildPyWithSite})
