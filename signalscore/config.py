"""The one configuration object: each package's section, composed; defaults work with no file at all.

Loaded once at the entry point — defaults, then a YAML file, then `--set section.key=value` overrides —
and passed down; nothing reads configuration at import time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict

from features.config import FeaturesConfig
from serving.config import ServingConfig
from training.config import TrainingConfig


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    features: FeaturesConfig = FeaturesConfig()
    training: TrainingConfig = TrainingConfig()
    serving: ServingConfig = ServingConfig()


class ConfigError(ValueError):
    """A configuration file or override that does not fit the settings; the message says which key."""


def _set_dotted(tree: dict[str, Any], dotted: str) -> None:
    if "=" not in dotted:
        raise ConfigError(f"override {dotted!r} must look like section.key=value")
    path, raw = dotted.split("=", 1)
    keys = path.strip().split(".")
    node = tree
    for key in keys[:-1]:
        node = node.setdefault(key, {})
    node[keys[-1]] = yaml.safe_load(raw)


def load_settings(path: Path | None = None, overrides: list[str] | None = None) -> Settings:
    tree: dict[str, Any] = {}
    if path is not None:
        if not path.exists():
            raise ConfigError(f"configuration file {path} does not exist")
        tree = yaml.safe_load(path.read_text()) or {}
        if not isinstance(tree, dict):
            raise ConfigError(f"{path}: expected a mapping of sections (features, training, serving)")
    for item in overrides or []:
        _set_dotted(tree, item)
    try:
        return Settings.model_validate(tree)
    except ValueError as error:
        raise ConfigError(f"configuration is invalid:\n{error}") from None


def flatten(settings: Settings) -> dict[str, str]:
    """Dotted keys for MLflow params."""
    out: dict[str, str] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else str(k), v)
        else:
            out[prefix] = str(value)

    walk("", settings.model_dump(mode="json"))
    return out
