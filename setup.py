"""Build hook, and nothing else (the project is configured in pyproject.toml).

The HTML report's templates live at the top of the repository (templates/), where the jinja2
environment of a checkout or an editable install reads them. A wheel has no such directory, so the
build copies it into the package as shareaudit/templates/, which shareaudit.render.html looks for
first (through importlib.resources). A copy at build time, not a symlink: wheels, sdists and Windows
checkouts all handle plain files.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

TEMPLATES = Path(__file__).resolve().parent / "templates"


class BuildWithTemplates(build_py):
    """build_py that also copies templates/ into the built package."""

    def run(self) -> None:
        """Build the package, then add shareaudit/templates/."""
        super().run()
        if not getattr(self, "editable_mode", False):  # an editable install reads templates/ in place
            target = Path(self.build_lib) / "shareaudit" / "templates"
            shutil.copytree(TEMPLATES, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns("README.md"))


setup(cmdclass={"build_py": BuildWithTemplates})
