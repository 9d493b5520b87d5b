"""Settings refuse dangerous combinations and read the documented flat variable names."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from gateway.settings import Settings

PG = "postgresql+psycopg://gw@db/gw"


def test_defaults_run_on_one_machine_with_sqlite_in_the_data_dir(tmp_path: Path) -> None:
    s = Settings(data_dir=tmp_path)
    assert s.resolved_database_url == f"sqlite:///{(tmp_path / 'gateway.sqlite3').resolve()}"
    assert s.search.backend == "embedded" and s.index_dir == tmp_path / "index"


def test_flat_environment_names_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_OIDC_ISSUER", "https://idp.example")
    monkeypatch.setenv("GATEWAY_OIDC_GROUPS_CLAIM", "roles")
    monkeypatch.setenv("GATEWAY_SEARCH_BACKEND", "opensearch")
    monkeypatch.setenv("GATEWAY_OPENSEARCH_URL", "https://os:9200")
    monkeypatch.setenv("GATEWAY_DATABASE_URL", PG)
    s = Settings()
    assert (s.oidc.issuer, s.oidc.groups_claim, s.search.backend, s.opensearch.url, s.is_postgres) == (
        "https://idp.example",
        "roles",
        "opensearch",
        "https://os:9200",
        True,
    )


def test_dev_issuer_on_postgresql_is_refused_unless_forced() -> None:
    with pytest.raises(ValidationError, match="GATEWAY_FORCE_DEV_ISSUER"):
        Settings(environment="development", dev_issuer=True, database_url=PG)
    assert Settings(environment="development", dev_issuer=True, database_url=PG, force_dev_issuer=True).dev_issuer


@pytest.mark.parametrize("database_url", [None, PG])
@pytest.mark.parametrize("force", [False, True])
def test_dev_issuer_is_refused_in_production_on_any_database(
    tmp_path: Path, database_url: str | None, force: bool
) -> None:
    with pytest.raises(ValidationError, match="refused outside"):
        Settings(data_dir=tmp_path, dev_issuer=True, database_url=database_url, force_dev_issuer=force)


def test_the_platform_tenant_is_one_concrete_tenant() -> None:
    assert Settings().platform_tenant is None  # default: nobody administers another tenant
    with pytest.raises(ValidationError, match="PLATFORM_TENANT"):
        Settings(platform_tenant="*")


def test_opensearch_backend_needs_a_url() -> None:
    with pytest.raises(ValidationError, match="GATEWAY_OPENSEARCH_URL"):
        Settings(search={"backend": "opensearch"})  # type: ignore[arg-type]


@pytest.mark.parametrize("password", ["changeme", "admin", ""])
def test_placeholder_opensearch_password_is_refused_in_production(password: str) -> None:
    with pytest.raises(ValidationError, match="placeholder"):
        Settings(opensearch={"url": "https://os:9200", "password": password})  # type: ignore[arg-type]


@pytest.mark.parametrize("algs", [("HS256",), ("RS256", "none"), ("hs512",)])
def test_symmetric_and_none_algorithms_cannot_be_configured(algs: tuple[str, ...]) -> None:
    with pytest.raises(ValidationError, match="never accepted"):
        Settings(oidc={"algorithms": algs})  # type: ignore[arg-type]
