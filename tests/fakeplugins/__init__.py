"""
A plugin package for discovery tests: a good plugin, one whose module
cannot be imported, and two that claim the same name.
"""
