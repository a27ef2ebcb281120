"""The OIDC live-server fixtures (issuer = the server's own URL, seeded client) for browser tests."""

from tests.interop.conftest import oidc_server, seeded  # noqa: F401 - re-exported fixtures
