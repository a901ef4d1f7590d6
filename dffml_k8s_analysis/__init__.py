"""Mine a GitHub repository's issues and pull requests with DFFML, one subpackage per stage of the data.

github/ (client, export, closers) fills store/ (a SQLite file or a
PostgreSQL database); records/ turns the store and the shared release notes into
records (and the k8s-issues, k8s-notes sources); analysis/ counts and charts
them; model/ learns kind/bug from release notes (k8s-mlp); bot/ labels issues
and PRs from its predictions. Above the library, operations/ wraps it in DFFML
operations, flows.py puts them in dataflows, serve/ serves predictions and the
webhook, and cli/ is ``k8s-analysis``. emulator/ is an emulated GitHub for the
tests and the demo. tests/test_layout.py keeps the imports flowing down.
"""
import os

# TensorFlow reads this once, when it is first imported, wherever that is (k8s-analysis, dffml, a test):
# its C++ start-up chatter (CUDA factories, TensorRT) is noise here. Set it to see that chatter.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
