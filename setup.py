"""
Only the optional C accelerators live here, of LZPF and of the wire; the
rest of the metadata is in setup.cfg. C{optional=True}: where an extension
cannot be built (no compiler, no Python headers), the install goes on
without it and L{wtvserv.crypto.lzpf} or L{wtvserv.wire} uses its
pure-Python fallback.
"""

from setuptools import Extension, setup

setup(ext_modules=[
    Extension("wtvserv.crypto._lzpf_c", ["wtvserv/crypto/_lzpf_c.c"], optional=True),
    Extension("wtvserv._wire_c", ["wtvserv/_wire_c.c"], optional=True),
])
