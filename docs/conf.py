"""Sphinx configuration for the pyramid_session_redis documentation.

Build with ``sphinx-build -W -b html docs docs/_build/html`` (``docs/_build``
is ignored by git).  ``settings.rst`` is generated; see its first line.
"""

import os
import re
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, ROOT)


def _version():
    # Read, not imported, so that the version shows even if an import fails.
    with open(os.path.join(ROOT, "pyramid_session_redis", "__init__.py"), encoding="utf-8") as fh:
        match = re.search(r'^__version__ = "([^"]+)"', fh.read(), re.M)
    return match.group(1) if match else "unknown"


project = "pyramid_session_redis"
author = "pyramid_session_redis contributors"
copyright = "pyramid_session_redis contributors"
release = _version()
version = ".".join(release.split(".")[:2])

extensions = ["sphinx.ext.autodoc"]

autodoc_member_order = "bysource"
autodoc_typehints = "none"

master_doc = "index"
exclude_patterns = ["_build"]
html_theme = "alabaster"
nitpicky = False
# A frame around the screenshots (the images' :class: screenshot).
html_static_path = ["_static"]
html_css_files = ["screenshots.css"]
