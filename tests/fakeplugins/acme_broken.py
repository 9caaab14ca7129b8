import wtvserv_no_such_module  # noqa: F401  (this plugin module cannot load)
