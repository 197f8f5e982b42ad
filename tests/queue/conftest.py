"""Every queue test runs on both stores: an SQLite file and a fresh PostgreSQL database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.queue.support import Clock
from webhook.queue import SqlStore, open_store


@pytest.fixture
def store_url(database_url: str) -> str:
    """Each queue test on an SQLite file and on a fresh PostgreSQL database."""
    return database_url


@pytest.fixture
def store(store_url: str) -> Iterator[SqlStore]:
    opened = open_store(store_url)
    assert isinstance(opened, SqlStore)
    yield opened
    opened.close()


@pytest.fixture
def clock(store: SqlStore) -> Clock:
    clock = Clock()
    store.clock = clock  # type: ignore[method-assign]
    return clock
