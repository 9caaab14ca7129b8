"""
Shared fixtures.

The known-answer vectors live outside the repository, in C{../shared/vectors}
beside the checkout (override with C{WTVSERV_VECTORS}). Tests that need them
skip, saying why, when the folder is absent.
"""

import json
import os
from pathlib import Path

import pytest
from twisted.logger import globalLogPublisher

REPOSITORY = Path(__file__).resolve().parent.parent
VECTORS = Path(
    os.environ.get("WTVSERV_VECTORS", REPOSITORY.parent / "shared" / "vectors"))


def load_vectors(name: str) -> dict:
    """
    @return: the parsed JSON of C{vectors/<name>}, or skip the calling test
        when the vectors folder is not beside the checkout.
    """
    path = VECTORS / name
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
