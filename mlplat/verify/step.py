"""One resource's replay: its resolved inputs, the validated API calls made for it, and the read-back comparison."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore import xform_name
from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError
from botocore.parsers import ResponseParserError

from mlplat.verify.emulator import Clients
from mlplat.verify.shapes import to_params


class Refused(Exception):
    """AWS (the emulator) or botocore's parameter validation refused a call made for a resource."""

    def __init__(self, operation: str, error: str) -> None:
        super().__init__(f"{operation}: {error}")
        self.operation = operation
        self.error = error


@dataclass
class Step:
    resource: Mapping[str, Any]
    inputs: dict[str, Any]  # references resolved, secrets unwrapped
    region: str
    clients: Clients
    consumed: set[str] = field(default_factory=set)
    unmatched: list[str] = field(default_factory=list)
    differences: list[str] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # accepted by the API, yet unlikely to work as meant

    @property
    def name(self) -> str:
        return str(self.resource["name"])

    def get(self, key: str, default: Any = None) -> Any:
        self.consumed.add(key)
        return self.inputs.get(key, default)

    def take(self, *keys: str) -> dict[str, Any]:
        """The given inputs that are set (marked as replayed)."""
        self.consumed.update(keys)
        return {k: self.inputs[k] for k in keys if self.inputs.get(k) is not None}

    def params(
        self,
        service: str,
        operation: str,
        keys: Sequence[str] | None = None,
        renames: Mapping[str, str] | None = None,
        exclude: Sequence[str] = (),
    ) -> dict[str, Any]:
        """Parameters of `operation` from the inputs (`keys`, or every input not in `exclude`), shaped by botocore's
        model; input names that match no member are recorded as unmatched."""
        chosen = list(keys) if keys is not None else [k for k in self.inputs if k not in exclude]
        subset = {k: self.inputs[k] for k in chosen if self.inputs.get(k) is not None}
        model = self.clients.client(service, self.region).meta.service_model.operation_model(operation)
        converted = to_params(model, subset, renames)
        self.consumed.update(subset)
        self.unmatched.extend(converted.unmatched)
        return converted.params

    def tags(self, service: str, operation: str, member: str = "Tags") -> Any:
        """The `tags` input shaped as `operation`'s tag member."""
        tags = self.get("tags") or {}
        converted = self.params_from(service, operation, {member: tags})
        return converted.get(member, [])

    def params_from(self, service: str, operation: str, values: Mapping[str, Any]) -> dict[str, Any]:
        model = self.clients.client(service, self.region).meta.service_model.operation_model(operation)
        converted = to_params(model, values)
        self.unmatched.extend(converted.unmatched)
        return converted.params

    def call(self, service: str, operation: str, **params: Any) -> dict[str, Any]:
        """One validated call; any refusal names the operation and AWS's (or botocore's) error."""
        label = f"{service}:{operation}"
        self.calls.append(label)
        client = self.clients.client(service, self.region)
        try:
            response: dict[str, Any] = getattr(client, xform_name(operation))(**params)
        except ParamValidationError as error:
            raise Refused(label, f"botocore parameter validation: {error}") from None
        except ClientError as error:
            info = error.response.get("Error", {})
            raise Refused(label, f"{info.get('Code', 'Error')}: {info.get('Message', '')}".strip()) from None
        except ResponseParserError:
            raise Refused(label, "the emulator failed on this call (an internal error, not an AWS answer)") from None
        except BotoCoreError as error:
            raise Refused(label, str(error)) from None
        response.pop("ResponseMetadata", None)
        return response

    # -- read-back ---------------------------------------------------------------------------------------
    def expect(
        self, what: str, declared: Any, observed: Any, modelled: bool = True, unmodelled: Sequence[str] = ()
    ) -> None:
        """Records a difference when `observed` does not hold everything `declared` says. `modelled=False` (or a
        member named in `unmodelled`): the emulator does not answer that field, so its absence proves nothing; a
        value it does answer is still compared."""
        if not modelled and observed in (None, [], {}):
            return
        if unmodelled and isinstance(declared, Mapping) and isinstance(observed, Mapping):
            present = {str(k).lower() for k, v in observed.items() if v not in (None, [], {})}
            declared = {k: v for k, v in declared.items() if k not in unmodelled or str(k).lower() in present}
        self.differences.extend(f"{what}: {d}" for d in differences(declared, observed))

    def expect_tags(self, observed: Any, declared: Mapping[str, str] | None = None) -> None:
        declared = dict(self.inputs.get("tags") or {}) if declared is None else dict(declared)
        self.expect("tags", declared, tag_map(observed))


def tag_map(observed: Any) -> dict[str, str]:
    """Tags as a map from any of AWS's spellings (Key/Value, TagKey/TagValue, key/value lists, or a map)."""
    if isinstance(observed, Mapping):
        return {str(k): str(v) for k, v in observed.items()}
    out: dict[str, str] = {}
    for tag in observed or []:
        lowered = {k.lower(): v for k, v in tag.items()}
        key = lowered.get("key", lowered.get("tagkey"))
        if key is not None:
            out[str(key)] = str(lowered.get("value", lowered.get("tagvalue", "")))
    return out


def _document(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def _empty(value: Any) -> bool:
    return value is None or value is False or value in ("", [], {})


def _same_scalar(declared: Any, observed: Any) -> bool:
    if isinstance(declared, bool) or isinstance(observed, bool):
        return str(declared).lower() == str(observed).lower()
    try:
        return float(declared) == float(observed)
    except (TypeError, ValueError):
        return str(declared) == str(observed)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def differences(declared: Any, observed: Any, path: str = "") -> list[str]:  # noqa: PLR0911, PLR0912 - one case per shape
    """What of `declared` `observed` lacks or contradicts: maps by key (case-insensitive), lists as sets (each
    declared element matched by some observed one), JSON documents parsed, scalars by value."""
    declared, observed = _document(declared), _document(observed)
    where = path or "value"
    if isinstance(declared, Mapping | str | int | float) and isinstance(observed, list) and len(observed) != 1:
        if any(not differences(declared, candidate) for candidate in observed):
            return []
        return [f"{where}: declared {_short(declared)}, read back {_short(observed)}"]
    if isinstance(declared, Mapping):
        if isinstance(observed, list) and len(observed) == 1:
            observed = observed[0]
        if not isinstance(observed, Mapping):
            return [] if _empty(declared) else [f"{where}: declared {_short(declared)}, read back {_short(observed)}"]
        lowered = {str(k).lower(): v for k, v in observed.items()}
        found: list[str] = []
        for key, value in declared.items():
            sub = f"{path}.{key}" if path else str(key)
            if str(key).lower() not in lowered:
                if not _empty(value):
                    found.append(f"{sub}: declared {_short(value)}, not read back")
                continue
            found.extend(differences(value, lowered[str(key).lower()], sub))
        return found
    if isinstance(declared, list):
        observed_items = _as_list(observed) if observed is not None else []
        found = []
        for item in declared:
            if not any(not differences(item, candidate) for candidate in observed_items):
                found.append(f"{where}: declared {_short(item)}, read back {_short(observed_items)}")
        return found
    if declared is None:
        return []
    if isinstance(observed, list) and len(observed) == 1:
        observed = observed[0]
    if observed is None:
        return [] if _empty(declared) else [f"{where}: declared {_short(declared)}, not read back"]
    return (
        []
        if _same_scalar(declared, observed)
        else [f"{where}: declared {_short(declared)}, read back {_short(observed)}"]
    )


def _short(value: Any) -> str:
    text = json.dumps(value, default=str, sort_keys=True)
    return text if len(text) <= 160 else text[:157] + "..."
