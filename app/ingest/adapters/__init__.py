"""The registry of webhook sources: one adapter module per platform."""

from app.ingest.adapters.base import Adapter
from app.ingest.adapters.generic import GenericAdapter

ADAPTERS: dict[str, Adapter] = {adapter.source: adapter for adapter in (GenericAdapter(),)}
