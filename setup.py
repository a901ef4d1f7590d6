"""Shim for editable installs with Python 3.8's setuptools; metadata is in setup.cfg."""
from setuptools import setup

setup()
