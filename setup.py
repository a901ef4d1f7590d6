"""Metadata is in setup.cfg; this file only adds the start-up hook that makes dffml import on 3.11+.

``dffml_k8s_analysis-compat.pth`` goes into site-packages beside the package, in regular and
editable installs alike, so every Python of the environment runs
:func:`dffml_k8s_analysis.dffml_compat.install` at start-up (see that module).
"""
import os

from setuptools import setup
from setuptools.command.build_py import build_py

PTH = "dffml_k8s_analysis-compat.pth"
SOURCE = os.path.join("dffml_k8s_analysis", "dffml_compat.pth")


class build_py_with_pth(build_py):
    def run(self):
        super().run()
        # An editable wheel is assembled from the install directory, a regular one from build_lib.
        target = self.get_finalized_command("install").install_lib if self.editable_mode else self.build_lib
        self.copy_file(SOURCE, os.path.join(target, PTH), preserve_mode=0)

    def get_outputs(self, include_bytecode=1):
        extra = [] if self.editable_mode else [os.path.join(self.build_lib, PTH)]
        return super().get_outputs(include_bytecode) + extra


setup(cmdclass={"build_py": build_py_with_pth})
