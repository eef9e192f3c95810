"""One prepared office (the demo programme on a live server's own database) for this package."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.concurrency.office import Http, Office, prepare_office


@pytest.fixture(scope="package")
def office(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Office]:
    data_dir = tmp_path_factory.mktemp("office")
    prepared = prepare_office(data_dir)
    try:
        yield prepared
    finally:
        prepared.server.close()


def seed_submissions(office: Office, count: int = 6) -> None:
    """A few submissions, so that submission pages have something to open."""
    phone = Http(office.server.port)
    for _ in range(count):
        assert office.submit(phone, office.token_prefix).status == 201
