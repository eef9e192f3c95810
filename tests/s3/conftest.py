"""The S3 server every test of this directory shares (one per test process)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.s3.s3support import MotoS3, aws_environment


@pytest.fixture(scope="session")
def s3() -> Iterator[MotoS3]:
    with aws_environment():
        server = MotoS3()
        try:
            yield server
        finally:
            server.stop()
