"""A shim for tools that still run ``setup.py``: the metadata is in pyproject.toml's [project]."""

from setuptools import setup

setup()
