"""
Shared fixtures.

Known-answer vectors copied into the repository live in C{tests/data}; the
others are read from C{../shared/vectors} beside the checkout (override with
C{WTVSERV_VECTORS}). Tests that need those skip, saying why, when the folder
is absent.
"""

import json
import os
from pathlib import Path

import pytest
from twisted.logger import globalLogPublisher

REPOSITORY = Path(__file__).resolve().parent.parent
VECTORS = Path(
    os.environ.get("WTVSERV_VECTORS", REPOSITORY.parent / "shared" / "vectors"))
TEST_DATA = REPOSITORY / "tests" / "data"


def load_vectors(name: str) -> dict:
    """
    @return: the parsed JSON of C{tests/data/<name>} or else of
        C{vectors/<name>}, or skip the calling test when it is in neither.
    """
    path = TEST_DATA / name if (TEST_DATA / name).is_file() else VECTORS / name
    if not path.is_file():
        pytest.skip(f"known-answer vectors not found at {VECTORS} "
                    "(expected ../shared/vectors beside the checkout)")
    return json.loads(path.read_text())


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
