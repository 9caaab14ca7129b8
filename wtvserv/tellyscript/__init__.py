"""
TellyScripts and DialScripts, the dial-in scripts wtv-1800 sends a box
(PROTOCOL.md 14).

A source goes through L{preprocessor}, L{variables}, L{tokenizer} (and
optionally L{minifier}) to a token stream (L{tokens}), which L{packfile}
compresses with L{lzss} behind a 36-byte header. L{packfile} also reads a
file back and L{detokenizer} prints its tokens as text. L{source} chains
the steps for an operator's file, L{catalog} holds the configured scripts
and picks one per box; L{wtvserv.cli.tellyscript} is C{wtvserv tellyscript}.
"""
