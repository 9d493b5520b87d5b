"""Client construction (auth, TLS) and failure translation over real sockets."""

from __future__ import annotations

import contextlib
import http.server
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from opensearchpy import Urllib3AWSV4SignerAuth
from pydantic import SecretStr

from gateway.authz.filter import AclFilter
from gateway.errors import SearchUnavailable
from gateway.retrieval.base import SearchRequest
from gateway.retrieval.opensearch import OpenSearchRetriever
from gateway.retrieval.opensearch.client import client_options, with_backoff
from gateway.settings import OpenSearchSettings, SearchSettings


class FakeCredentials:
    """The botocore credentials interface the SigV4 signer reads."""

    access_key = "AKIDEXAMPLE"
    secret_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
    token = None


def test_tls_verification_is_on_by_default() -> None:
    options = client_options(OpenSearchSettings(url="https://search:9200"))
    assert options["verify_certs"] is True
    assert "http_auth" not in options


def test_basic_auth_and_ca_bundle() -> None:
    settings = OpenSearchSettings(
        url="https://search:9200", username="gateway", password=SecretStr("s3cr3t!"), ca_certs=Path("/ca.pem")
    )
    options = client_options(settings)
    assert options["http_auth"] == ("gateway", "s3cr3t!")
    assert options["ca_certs"] == "/ca.pem"


def test_client_certificate() -> None:
    settings = OpenSearchSettings(url="https://s:9200", client_cert=Path("/c.pem"), client_key=Path("/k.pem"))
    options = client_options(settings)
    assert (options["client_cert"], options["client_key"]) == ("/c.pem", "/k.pem")


def test_sigv4_uses_the_builtin_signer() -> None:
    settings = OpenSearchSettings(url="https://x.eu-west-1.es.amazonaws.com", aws_region="eu-west-1", username="u")
    options = client_options(settings, aws_credentials=FakeCredentials())
    assert isinstance(options["http_auth"], Urllib3AWSV4SignerAuth)
    assert options["http_auth"].service == "es"


def test_no_url_is_unavailable() -> None:
    with pytest.raises(SearchUnavailable):
        client_options(OpenSearchSettings(url=None))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Handler(http.server.BaseHTTPRequestHandler):
    status = 503
    delay = 0.0

    def _reply(self) -> None:
        time.sleep(self.delay)
        body = b'{"error":{"type":"x","reason":"x"},"status":%d}' % self.status
        self.send_response(self.status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        with contextlib.suppress(BrokenPipeError):  # the client timed out first, as intended
            self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_HEAD = _reply

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def failing_server(request: pytest.FixtureRequest) -> Iterator[str]:
    status, delay = request.param
    handler = type("H", (_Handler,), {"status": status, "delay": delay})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _retriever(url: str) -> OpenSearchRetriever:
    settings = OpenSearchSettings(url=url, timeout_seconds=0.3, max_retries=1)
    return OpenSearchRetriever(settings, SearchSettings(), sleep=lambda _: None)


REQUEST = SearchRequest("q", np.ones(4, np.float32), AclFilter("acme", frozenset({"u"}), None))


@pytest.mark.parametrize("failing_server", [(500, 0.0), (502, 0.0), (503, 0.0), (401, 0.0), (200, 1.0)], indirect=True)
@pytest.mark.parametrize("call", ["search", "lexical_search", "vector_search", "ping", "ensure_index", "delete"])
def test_server_errors_and_timeouts_are_search_unavailable(failing_server: str, call: str) -> None:
    retriever = _retriever(failing_server)
    with pytest.raises(SearchUnavailable):
        if call == "ensure_index":
            retriever.ensure_index("m", 4)
        elif call == "delete":
            retriever.delete_document("acme", "d1")
        elif call == "ping":
            retriever.ping()
        else:
            getattr(retriever, call)(REQUEST)


@pytest.mark.parametrize("call", ["search", "ping", "replace"])
def test_unreachable_cluster_is_search_unavailable(call: str) -> None:
    retriever = _retriever(f"http://127.0.0.1:{_free_port()}")
    with pytest.raises(SearchUnavailable):
        if call == "replace":
            retriever.replace_document("acme", "d1", [])
        elif call == "ping":
            retriever.ping()
        else:
            retriever.search(REQUEST)


def test_backoff_doubles_and_gives_up_after_the_attempts() -> None:
    from opensearchpy import TransportError

    delays: list[float] = []

    def flaky() -> int:
        raise TransportError(429, "too_many_requests")

    with pytest.raises(SearchUnavailable):
        with_backoff("x", flaky, attempts=4, base_delay=1.0, sleep=delays.append)
    assert len(delays) == 3
    assert delays == sorted(delays)
    assert 1.0 <= delays[0] <= 1.5 and 4.0 <= delays[2] <= 6.0


def test_non_transient_errors_are_not_retried() -> None:
    from opensearchpy import TransportError

    calls: list[int] = []

    def bad() -> int:
        calls.append(1)
        raise TransportError(400, "parsing_exception")

    with pytest.raises(SearchUnavailable):
        with_backoff("x", bad, attempts=5, sleep=lambda _: None)
    assert calls == [1]
