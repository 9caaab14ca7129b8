"""
Shared fixtures.

The known-answer vectors live in C{tests/data} (C{tests/data/README.md}
says what each file holds and where the numbers come from), so the suite
needs nothing outside the repository.
"""

import json
from pathlib import Path

import pytest
from twisted.logger import globalLogPublisher

REPOSITORY = Path(__file__).resolve().parent.parent
TEST_DATA = REPOSITORY / "tests" / "data"


def load_vectors(name: str) -> dict:
    """@return: the parsed JSON of C{tests/data/<name>}."""
    return json.loads((TEST_DATA / name).read_text())


@pytest.fixture
def vectors():
    """The L{load_vectors} function, for tests that take a fixture."""
    return load_vectors


@pytest.fixture
def events():
    """Every log event emitted during the test, in order."""
    seen = []
    globalLogPublisher.addObserver(seen.append)
    yield seen
    globalLogPublisher.removeObserver(seen.append)


@pytest.fixture(scope="session")
def postgresServer():
    """A throwaway PostgreSQL server for the session (L{tests.postgres})."""
    from tests.postgres import PostgresServer, requireBinaries
    server = PostgresServer(requireBinaries())
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgresURL(postgresServer):
    """The URL of an empty database of its own on L{postgresServer}."""
    return postgresServer.newDatabase()
