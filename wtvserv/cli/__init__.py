"""
The operator's command line, apart from the server's own modules: one
C{wtvserv} command (L{main}) with a module per subcommand group (L{accounts},
L{switches}, L{status}, L{logs}, L{bans}, L{tellyscript}, L{box}), what they
share (L{common}), and the older command names (L{aliases}).
"""
