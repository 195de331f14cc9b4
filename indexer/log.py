"""structlog setup: human-readable console lines or JSON, with stable event names, and no
secret in any of them (``mask_secrets``)."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any

import structlog

from indexer.db.dsn import MASK, is_secret_name, mask_text, remember

# Environment variables whose values are secrets: masked wherever they appear in a log line.
SECRET_ENVIRONMENT = ("PGPASSWORD", "INDEXER_ROLE_PASSWORD", "BLOCKFROST_PROJECT_ID",
                      "KOIOS_TOKEN", "OGMIOS_API_KEY")
# Environment variables that hold a DSN or URL: their credentials are masked the same way.
URL_ENVIRONMENT = ("INDEXER_DSN", "DATABASE_URL")


def remember_environment_secrets() -> None:
    remember(*(os.environ.get(name) for name in SECRET_ENVIRONMENT))
    for name in URL_ENVIRONMENT:
        if os.environ.get(name):
            mask_text(os.environ[name])  # remembers the credentials it masks


def _masked(value: Any) -> Any:
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, Mapping):
        return {k: MASK if isinstance(k, str) and is_secret_name(k) and v else _masked(v)
                for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return type(value)(_masked(v) for v in value)
    if isinstance(value, BaseException):
        return mask_text(repr(value))
    return value


def mask_secrets(logger: Any, method: str, event: MutableMapping[str, Any]
                 ) -> MutableMapping[str, Any]:
    """structlog processor: a field named like a secret (``password``, ``token``,
    ``project_id``, ``authorization`` …) is replaced by ``***``; every other string (DSNs,
    URLs, error messages, rendered tracebacks), also inside dicts and lists, is masked by
    :func:`indexer.db.dsn.mask_text`."""
    for key, value in list(event.items()):
        event[key] = MASK if is_secret_name(key) and value else _masked(value)
    return event


def configure(fmt: str = "console", level: str = "info") -> None:
    remember_environment_secrets()
    lvl = logging.getLevelName(level.upper())
    if not isinstance(lvl, int):
        lvl = logging.INFO
    renderer: structlog.typing.Processor
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            mask_secrets,  # after format_exc_info: tracebacks are text by then
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(lvl),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
