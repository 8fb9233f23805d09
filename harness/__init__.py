"""Benchmarking harness for spoken-command classification.

Which spectrogram front-end and which network classify spoken commands best,
and at what speed? Run `python -m harness --help`.
"""

__version__ = "0.1.0"
