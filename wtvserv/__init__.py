"""
wtvserv: WTVP services for WebTV / MSN TV boxes, run under twistd.
"""

__version__ = "0.1.0"
