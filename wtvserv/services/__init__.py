"""The built-in wtv- services."""
