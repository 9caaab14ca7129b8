"""Example wtv- services for wtvserv: wtv-star and wtv-guestbook."""
