"""
Where wtvserv keeps what outlives a process: accounts and box logs.

Two backends behind one interface: SQLite files in the data directory (the
default, nothing to install) and a PostgreSQL database that several hosts
share (C{[storage] url}). L{wtvserv.store.stores} opens the right one;
the account and log stores (L{wtvserv.accounts}, L{wtvserv.logstore}) run
on either through L{wtvserv.store.database}; the server calls them through
L{wtvserv.store.threaded}, never on the reactor thread. Schemas are numbered
migrations (L{wtvserv.store.migrations}), applied when a store opens or by
C{wtvserv-db migrate}.
"""
