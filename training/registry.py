"""Who serves: the `champion` alias, moved by the training rules or by hand, with a history to roll back to.

MLflow aliases replace stages. An alias has no memory, so every move is also appended to a JSON list in the
registered model's `champion_history` tag (version, when, why); `rollback` returns the alias to the version
that served before the current one and records that too.
"""

from __future__ import annotations

import getpass
import json
from dataclasses import dataclass
from datetime import UTC, datetime

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from training.tracking import CHAMPION, champion_version

HISTORY_TAG = "champion_history"


class RegistryError(ValueError):
    """A registered model or version that does not exist, or nothing to roll back to."""


@dataclass
class AliasMove:
    name: str
    version: str
    previous: str | None
    note: str


def champion_history(client: MlflowClient, name: str) -> list[dict]:
    try:
        tags = client.get_registered_model(name).tags
    except MlflowException:
        raise RegistryError(f"no registered model named {name!r}") from None
    return json.loads(tags.get(HISTORY_TAG, "[]"))


def set_champion(client: MlflowClient, name: str, version: str, note: str, how: str) -> AliasMove:
    """Point `champion` at `version`; note why on the version and in the model's history."""
    history = champion_history(client, name)
    try:
        client.get_model_version(name, version)
    except MlflowException:
        raise RegistryError(f"{name} has no version {version}") from None
    previous = champion_version(client, name)
    client.set_registered_model_alias(name, CHAMPION, version)
    when = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    history.append({"version": str(version), "previous": previous, "at": when, "how": how,
                    "by": _user(), "note": note})
    client.set_registered_model_tag(name, HISTORY_TAG, json.dumps(history))
    client.set_model_version_tag(name, version, "champion_note", f"{when} {how}: {note}")
    return AliasMove(name, str(version), previous, note)


def promote(client: MlflowClient, name: str, version: str, note: str) -> AliasMove:
    return set_champion(client, name, version, note, "promoted by hand")


def rollback(client: MlflowClient, name: str, note: str) -> AliasMove:
    """Back to the champion before the current one (skipping moves that were themselves rolled back)."""
    current = champion_version(client, name)
    if current is None:
        raise RegistryError(f"{name} has no champion to roll back from")
    served = [move["version"] for move in champion_history(client, name)]
    earlier = [v for v in reversed(served) if v != current]
    if not earlier:
        raise RegistryError(f"{name}: version {current} is the only champion it has had; nothing to roll back to")
    return set_champion(client, name, earlier[0], note, f"rolled back from version {current}")


def _user() -> str:
    try:
        return getpass.getuser()
    except OSError:
        return "unknown"
