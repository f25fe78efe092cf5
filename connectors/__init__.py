"""Connector registry: platform name -> class, imported the first time it is used.

Heavy SDKs (tweepy, facebook-sdk) load only for the platforms a school has configured.
"""

from __future__ import annotations

import importlib

from connectors.base import (
    ActionResult,
    AuthError,
    Author,
    CheckResult,
    ConfigError,
    Connector,
    ConnectorError,
    Item,
    Page,
    PayloadError,
    RetryableError,
    SourceSpec,
)

REGISTRY: dict[str, str] = {
    "replay": "connectors.replay:ReplayConnector",
    "x": "connectors.x:XConnector",
    "facebook": "connectors.facebook:FacebookConnector",
    "instagram": "connectors.instagram:InstagramConnector",
}


def connector_class(platform: str) -> type[Connector]:
    try:
        dotted = REGISTRY[platform]
    except KeyError:
        known = ", ".join(sorted(REGISTRY))
        raise ConfigError(f"unknown platform '{platform}' (known: {known})") from None
    module_name, _, class_name = dotted.partition(":")
    return getattr(importlib.import_module(module_name), class_name)


__all__ = [
    "REGISTRY",
    "ActionResult",
    "AuthError",
    "Author",
    "CheckResult",
    "ConfigError",
    "Connector",
    "ConnectorError",
    "Item",
    "Page",
    "PayloadError",
    "RetryableError",
    "SourceSpec",
    "connector_class",
]
