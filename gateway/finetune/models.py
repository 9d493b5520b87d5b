"""The fine-tuning registry's tables: datasets (with lineage), adapters (with gates), activations per tenant.

No example text lives here: datasets are files under the data dir (scrubbed before they are
written), and the lineage records ids, hashes and reports only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from gateway.db import Base


class DatasetRow(Base):
    """A built dataset: its files, where its examples came from, and what scrubbing and screening did."""

    __tablename__ = "finetune_datasets"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    """``ds-`` + the first 16 hex digits of the SHA-256 of the scrubbed examples (content-addressed)."""
    tenant: Mapped[str] = mapped_column(String(128), nullable=False, index=True)
    path: Mapped[str] = mapped_column(Text, nullable=False)
    """The folder holding ``train.jsonl`` and ``eval.jsonl`` (scrubbed text only)."""
    sources: Mapped[list[dict[str, Any]]] = mapped_column(JSON, nullable=False)
    """Lineage: one entry per source (kind, id, SHA-256 of its raw bytes or record, examples taken)."""
    scrub_report: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    screen_report: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    split: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    """Seed, eval fraction and the train/eval counts."""
    pii_digests: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    """Keyed SHA-256 digests of the original values the scrubber replaced (never the values): the
    PII-emission gate hashes what a model writes and looks for these."""
    created_by: Mapped[str] = mapped_column(String(512), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())


class AdapterRow(Base):
    """A trained LoRA adapter: one row per (name, version)."""

    __tablename__ = "finetune_adapters"
    __table_args__ = (UniqueConstraint("name", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(128), nullable=False, index=True)
    name: Mapped[str] = mapped_column(String(128), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    base: Mapped[str] = mapped_column(Text, nullable=False)
    """The base model directory."""
    path: Mapped[str] = mapped_column(Text, nullable=False)
    """The adapter directory (peft ``adapter_config.json`` + weights + ``model_card.md``)."""
    dataset_id: Mapped[str] = mapped_column(ForeignKey("finetune_datasets.id"), nullable=False)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    """Hyper-parameters: steps, epochs, learning rate, rank, target modules, max length, seed ..."""
    canaries: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    """The random canaries planted in training (random digits, no meaning outside this adapter)."""
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    gates: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    """The last gate report (empty until ``gateway finetune gate`` ran)."""
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    """``trained`` (not gated yet), ``passed`` or ``failed``: only ``passed`` can be activated."""
    digest: Mapped[str | None] = mapped_column(String(64), nullable=True)
    """SHA-256 of the weight files at registration (``gateway.finetune.integrity``); checked before
    activation and before every first load. ``None`` only for a row whose files were gone when the
    column was added: such an adapter can be neither activated nor served."""
    created_by: Mapped[str] = mapped_column(String(512), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())


class ActivationRow(Base):
    """One change of a tenant's active adapter; the newest row per tenant says what is active."""

    __tablename__ = "finetune_activations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(128), nullable=False, index=True)
    adapter_id: Mapped[int | None] = mapped_column(ForeignKey("finetune_adapters.id"))
    """The adapter active from now on (``None``: the base model, after rolling back the first one)."""
    previous_id: Mapped[int | None] = mapped_column(ForeignKey("finetune_adapters.id"))
    """What was active before: where a rollback returns."""
    action: Mapped[str] = mapped_column(String(16), nullable=False)
    """``activate`` or ``rollback``."""
    actor: Mapped[str] = mapped_column(String(512), nullable=False)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
