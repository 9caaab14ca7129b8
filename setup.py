"""
Only the optional C accelerators live here, of LZPF, of the wire, of RC4
and of DES; the rest of the metadata is in setup.cfg. C{optional=True}:
where an extension cannot be built (no compiler, no Python headers), the install
goes on without it and L{wtvserv.crypto.lzpf}, L{wtvserv.wire},
L{wtvserv.crypto.rc4} or L{wtvserv.crypto.challenge} uses its fallback
(pure Python, pycryptodome's ARC4, or OpenSSL's triple DES).
"""

from setuptools import Extension, setup

setup(ext_modules=[
    Extension("wtvserv.crypto._lzpf_c", ["wtvserv/crypto/_lzpf_c.c"], optional=True),
    Extension("wtvserv._wire_c", ["wtvserv/_wire_c.c"], optional=True),
    Extension("wtvserv.crypto._rc4_c", ["wtvserv/crypto/_rc4_c.c"], optional=True),
    Extension("wtvserv.crypto._des_c", ["wtvserv/crypto/_des_c.c"], optional=True),
])
