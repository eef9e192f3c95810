"""The authorization suite's world (two regions, a case, a submission, a transfer...) for the
page walks of this package."""

from tests.test_authorization import (  # noqa: F401 (fixtures)
    _cheap_password_hashes,
    _helpers_app,
    world,
)
