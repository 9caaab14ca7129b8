"""Why the simulated box stopped."""

from __future__ import annotations


class BoxError(Exception):
    """The box could not go on: a bad status, header, body, or a timeout."""


class ConnectionClosed(BoxError):
    """
    The server closed the connection.

    @ivar before_response: C{True} when not a byte of the response arrived,
        so the request may be retried on a new connection.
    """

    def __init__(self, message: str, before_response: bool = False):
        super().__init__(message)
        self.before_response = before_response
