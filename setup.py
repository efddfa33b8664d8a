"""Build hook for the optional compiled build; everything else is in pyproject.toml.

``NODEAPP_COMPILE=1 pip install -e .`` compiles the modules listed in nodeapp/build.py with
mypyc (a C compiler and Python's headers are needed). Without the variable nothing is compiled.
"""

import os
import sys

from setuptools import setup

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from nodeapp.build import COMPILED_SOURCES  # noqa: E402


def compiled_extensions() -> list:
    """mypyc extensions for the hot path, when NODEAPP_COMPILE=1 asks for them."""
    if os.environ.get("NODEAPP_COMPILE", "0") != "1":
        return []
    from mypyc.build import mypycify

    return mypycify(list(COMPILED_SOURCES), opt_level="3")


setup(ext_modules=compiled_extensions())
