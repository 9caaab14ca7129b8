"""Pure cryptographic helpers for WTVP: no Twisted, no I/O."""
