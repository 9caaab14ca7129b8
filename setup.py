"""
Only the optional C accelerator of LZPF lives here; the rest of the
metadata is in setup.cfg. C{optional=True}: where the extension cannot be
built (no compiler, no Python headers), the install goes on without it and
L{wtvserv.crypto.lzpf} uses its pure-Python fallback.
"""

from setuptools import Extension, setup

setup(ext_modules=[
    Extension("wtvserv.crypto._lzpf_c", ["wtvserv/crypto/_lzpf_c.c"], optional=True),
])
