"""Map third-party change webhooks to :class:`Change` records (pure: no I/O).

Each adapter takes the decoded JSON body (and, where the sender names it in a
header, the event type) and returns the changes it describes, possibly none (an
event that is not a change, such as a GitHub ``ping``). Bad input raises
:class:`~daemon.core.schema.InputError` naming the field at fault.

Adapters: GitHub ``deployment_status``, Argo CD notifications, a generic
feature-flag shape, LaunchDarkly and Unleash webhooks.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from typing import Any

from correlators.types import Change, ChangeKind

from ..core.schema import InputError, parse_ts
from .dig import dig

__all__ = ["ADAPTERS", "Adapter", "argocd", "flag", "github", "launchdarkly", "unleash"]

Adapter = Callable[[Any, Mapping[str, str]], list[Change]]
"""``(body, context) -> changes``; ``context`` holds the event-type header and query overrides."""


def _obj(data: Any, field: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise InputError(field, "expected a JSON object")
    return data


def _need(data: Mapping[str, Any], path: str) -> Any:
    value = dig(data, path)
    if value is None or value == "":
        raise InputError(path, "required field is missing")
    return value


def _text(value: Any, field: str, limit: int = 253) -> str:
    if value is None:
        return ""
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        raise InputError(field, "expected text")
    return str(value)[:limit]


def _ts(value: Any, field: str) -> float:
    try:
        return parse_ts(value)
    except ValueError as e:
        raise InputError(field, str(e)) from None


def _digest(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


# -- GitHub -----------------------------------------------------------------------------
_GITHUB_RECORDED = {"in_progress", "success", "failure", "error"}


def github(body: Any, ctx: Mapping[str, str]) -> list[Change]:
    """GitHub ``deployment_status``: one ``deploy`` change per deployment (first recorded state wins).

    The service is ``deployment.payload.service`` when the workflow sets it, else the repository
    name; the namespace is the deployment environment. ``ping`` and other events give nothing.

    >>> body = {"deployment_status": {"state": "success", "created_at": "2026-11-29T03:01:00Z"},
    ...         "deployment": {"id": 42, "sha": "abc1234", "ref": "v15", "environment": "production",
    ...                        "creator": {"login": "ci-bot"}, "payload": {}},
    ...         "repository": {"name": "checkout", "full_name": "shop/checkout"}}
    >>> ch = github(body, {"event": "deployment_status"})[0]
    >>> ch.id, ch.kind.value, ch.service, ch.namespace, ch.summary
    ('gh-deploy-42', 'deploy', 'checkout', 'production', 'checkout deploy v15 (abc1234) to production: success')
    """
    event = ctx.get("event", "deployment_status")
    if event != "deployment_status":
        return []
    data = _obj(body, "body")
    status = _obj(_need(data, "deployment_status"), "deployment_status")
    deployment = _obj(_need(data, "deployment"), "deployment")
    state = _text(_need(data, "deployment_status.state"), "deployment_status.state")
    if state not in _GITHUB_RECORDED:
        return []
    dep_id = _text(_need(data, "deployment.id"), "deployment.id")
    raw_payload = deployment.get("payload")
    payload: dict[str, Any] = raw_payload if isinstance(raw_payload, dict) else {}
    service = ctx.get("service") or payload.get("service") or dig(data, "repository.name")
    if not service:
        raise InputError("deployment.payload.service", "required (or repository.name)")
    env = _text(deployment.get("environment"), "deployment.environment")
    ts = _ts(status.get("created_at") or deployment.get("created_at"), "deployment_status.created_at")
    sha = _text(deployment.get("sha"), "deployment.sha")
    ref = _text(deployment.get("ref"), "deployment.ref")
    actor = _text(dig(deployment, "creator.login") or dig(data, "sender.login"), "deployment.creator.login")
    version = ref or sha[:7]
    summary = f"{service} deploy {version}" + (f" ({sha[:7]})" if sha and ref else "") + \
        (f" to {env}" if env else "") + f": {state}"
    attrs: dict[str, Any] = {"source": "github", "deployment_id": dep_id, "state": state, "sha": sha, "ref": ref,
                             "repository": dig(data, "repository.full_name") or ""}
    for key in ("from_revision", "to_revision", "previous_ref", "migration"):
        if key in payload:
            attrs[key] = payload[key]
    if url := status.get("target_url") or status.get("log_url"):
        attrs["url"] = str(url)
    kind = ChangeKind.ROLLBACK if payload.get("rollback") or str(deployment.get("task", "")).endswith("rollback") \
        else ChangeKind.DEPLOY
    return [Change(f"gh-deploy-{dep_id}", ts, kind, str(service), env or ctx.get("namespace", ""), summary,
                   actor, attrs)]


# -- Argo CD ----------------------------------------------------------------------------
def argocd(body: Any, ctx: Mapping[str, str]) -> list[Change]:
    """Argo CD notifications webhook with ``{"app": {{toJson .app}}}`` (the Application resource).

    One ``deploy`` change per synced revision (a sync to a revision already in the history
    before the previous one is a ``rollback``).

    >>> app = {"metadata": {"name": "checkout", "namespace": "argocd"},
    ...        "spec": {"destination": {"namespace": "shop"}},
    ...        "status": {"sync": {"revision": "bbb"}, "summary": {"images": ["shop/checkout:15"]},
    ...                   "history": [{"id": 1, "revision": "aaa"}, {"id": 2, "revision": "bbb"}],
    ...                   "operationState": {"phase": "Succeeded", "startedAt": "2026-11-29T03:00:30Z",
    ...                                      "finishedAt": "2026-11-29T03:01:00Z",
    ...                                      "operation": {"initiatedBy": {"username": "alice"}}}}}
    >>> ch = argocd({"app": app}, {})[0]
    >>> ch.kind.value, ch.service, ch.namespace, ch.actor, ch.attributes["from_revision"], ch.ts
    ('deploy', 'checkout', 'shop', 'alice', 'aaa', 1795921230.0)
    """
    data = _obj(body, "body")
    app = _obj(_need(data, "app"), "app")
    name = _text(_need(app, "metadata.name"), "app.metadata.name")
    service = ctx.get("service") or dig(app, "metadata.labels.whatchanged/service") or name
    namespace = _text(dig(app, "spec.destination.namespace") or "", "app.spec.destination.namespace")
    revision = _text(dig(app, "status.operationState.syncResult.revision") or dig(app, "status.sync.revision"),
                     "app.status.sync.revision")
    if not revision:
        raise InputError("app.status.sync.revision", "required field is missing")
    phase = _text(dig(app, "status.operationState.phase") or "", "app.status.operationState.phase")
    started = dig(app, "status.operationState.startedAt")
    finished = dig(app, "status.operationState.finishedAt")
    if started is None and finished is None:
        raise InputError("app.status.operationState.startedAt", "required field is missing")
    ts = _ts(started or finished, "app.status.operationState.startedAt")
    history = dig(app, "status.history")
    revisions = [str(h.get("revision")) for h in history if isinstance(h, dict)] if isinstance(history, list) else []
    prior = revisions[:-1] if revisions and revisions[-1] == revision else revisions
    previous = prior[-1] if prior else ""
    rollback = revision != previous and revision in prior[:-1]
    actor = _text(dig(app, "status.operationState.operation.initiatedBy.username") or
                  ("automated" if dig(app, "status.operationState.operation.initiatedBy.automated") else ""),
                  "app.status.operationState.operation.initiatedBy.username")
    images = dig(app, "status.summary.images") or []
    if not isinstance(images, list):
        raise InputError("app.status.summary.images", "expected a list of images")
    texts = [_text(im, f"app.status.summary.images.{i}", 500) for i, im in enumerate(images)]
    attrs: dict[str, Any] = {"source": "argocd", "to_revision": revision, "phase": phase, "images": texts}
    if previous:
        attrs["from_revision"] = previous
    if finished:
        attrs["completed_at"] = _ts(finished, "app.status.operationState.finishedAt")
    kind = ChangeKind.ROLLBACK if rollback else ChangeKind.DEPLOY
    verb = "rollback" if rollback else "sync"
    summary = f"{service} argocd {verb} {previous[:7] + ' -> ' if previous else ''}{revision[:7]}" + \
        (f" ({phase})" if phase else "")
    return [Change(f"argocd-{_digest(name, namespace, revision, started)}", ts, kind, str(service), namespace,
                   summary, actor, attrs)]


# -- feature flags -------------------------------------------------------------------------
def _flag_change(*, cid: str, ts: float, flag_key: str, service: str, namespace: str, summary: str, actor: str,
                 attrs: dict[str, Any]) -> Change:
    return Change(cid, ts, ChangeKind.FEATURE_FLAG, service or flag_key, namespace, summary, actor,
                  {"flag": flag_key, **attrs})


def _service_from_tags(tags: Any) -> str:
    """A ``service:NAME`` (or ``service=NAME``) tag names the service a flag belongs to."""
    for tag in tags if isinstance(tags, list) else []:
        text = tag.get("value", "") if isinstance(tag, dict) else str(tag)
        if isinstance(tag, dict) and tag.get("type") == "service":
            return str(text)
        for sep in (":", "="):
            head, found, tail = str(text).partition(sep)
            if found and head == "service" and tail:
                return tail
    return ""


def flag(body: Any, ctx: Mapping[str, str]) -> list[Change]:
    """A generic flag change: ``{"flag", "service", "ts", "from"?, "to"?, "actor"?, "id"?, "environment"?}``.

    >>> ch = flag({"flag": "new-checkout", "service": "checkout", "ts": 1790000000, "to": "on"}, {})[0]
    >>> ch.kind.value, ch.service, ch.summary
    ('feature_flag', 'checkout', 'flag new-checkout -> on')
    """
    data = _obj(body, "body")
    key = _text(_need(data, "flag"), "flag")
    ts = _ts(_need(data, "ts"), "ts")
    service = _text(ctx.get("service") or data.get("service") or "", "service")
    old, new = data.get("from"), data.get("to")
    summary = f"flag {key}" + (f" {old} -> {new}" if old is not None and new is not None else
                               f" -> {new}" if new is not None else " changed")
    cid = _text(data.get("id"), "id") or f"flag-{_digest(key, ts, service, old, new)}"
    attrs: dict[str, Any] = {k: data[k] for k in ("from", "to", "environment") if k in data}
    return [_flag_change(cid=cid, ts=ts, flag_key=key, service=service,
                         namespace=_text(data.get("namespace") or data.get("environment"), "namespace"),
                         summary=summary, actor=_text(data.get("actor"), "actor"), attrs=attrs)]


def launchdarkly(body: Any, ctx: Mapping[str, str]) -> list[Change]:
    """LaunchDarkly webhook (an audit-log entry); only ``kind: flag`` entries are changes.

    >>> entry = {"_id": "5f1", "kind": "flag", "date": 1790000000000, "titleVerb": "turned on the flag",
    ...          "member": {"email": "bob@example.com"}, "name": "New checkout",
    ...          "target": {"resources": ["proj/shop:env/production:flag/new-checkout"]},
    ...          "currentVersion": {"key": "new-checkout", "on": True, "tags": ["service:checkout"]},
    ...          "previousVersion": {"key": "new-checkout", "on": False}}
    >>> ch = launchdarkly(entry, {})[0]
    >>> ch.id, ch.service, ch.namespace, ch.summary, ch.actor
    ('ld-5f1', 'checkout', 'production', 'flag new-checkout: turned on the flag', 'bob@example.com')
    """
    data = _obj(body, "body")
    if data.get("kind") != "flag":
        return []
    entry_id = _text(_need(data, "_id"), "_id")
    date = _need(data, "date")
    if not isinstance(date, (int, float)) or isinstance(date, bool):
        raise InputError("date", "expected Unix milliseconds")
    try:
        ts = _ts(float(date) / 1000.0, "date")  # finite, in range, within the accepted window
    except OverflowError:
        raise InputError("date", "timestamp out of range") from None
    current: dict[str, Any] = data["currentVersion"] if isinstance(data.get("currentVersion"), dict) else {}
    previous: dict[str, Any] = data["previousVersion"] if isinstance(data.get("previousVersion"), dict) else {}
    resources = dig(data, "target.resources") or []
    env = ""
    key = str(current.get("key") or previous.get("key") or "")
    for res in resources if isinstance(resources, list) else []:
        for part in str(res).split(":"):
            kind, _, value = part.partition("/")
            if kind == "env" and value:
                env = value.split(";")[0]
            elif kind == "flag" and value and not key:
                key = value
    if not key:
        raise InputError("currentVersion.key", "required field is missing")
    service = ctx.get("service") or _service_from_tags(current.get("tags"))
    verb = _text(data.get("titleVerb") or "changed the flag", "titleVerb")
    attrs: dict[str, Any] = {"source": "launchdarkly", "environment": env}
    if "on" in current:
        attrs["to"] = "on" if current["on"] else "off"
    if "on" in previous:
        attrs["from"] = "on" if previous["on"] else "off"
    actor = _text(dig(data, "member.email") or dig(data, "member.firstName") or "", "member.email")
    return [_flag_change(cid=f"ld-{entry_id}", ts=ts, flag_key=key, service=service,
                         namespace=env, summary=f"flag {key}: {verb}", actor=actor, attrs=attrs)]


_UNLEASH_TYPES = ("feature-created", "feature-updated", "feature-archived", "feature-revived",
                  "feature-environment-enabled", "feature-environment-disabled", "feature-strategy-add",
                  "feature-strategy-update", "feature-strategy-remove", "feature-variants-updated",
                  "feature-environment-variants-updated")


def unleash(body: Any, ctx: Mapping[str, str]) -> list[Change]:
    """Unleash webhook addon (an event); feature events are changes, others give nothing.

    >>> ev = {"id": 913, "type": "feature-environment-enabled", "createdBy": "carol",
    ...       "createdAt": "2026-11-29T03:00:00.000Z", "featureName": "new-checkout", "project": "shop",
    ...       "environment": "production", "tags": [{"type": "simple", "value": "service:checkout"}]}
    >>> ch = unleash(ev, {})[0]
    >>> ch.id, ch.service, ch.summary, ch.attributes["to"]
    ('unleash-913', 'checkout', 'flag new-checkout: feature-environment-enabled in production', 'on')
    """
    data = _obj(body, "body")
    etype = _text(_need(data, "type"), "type")
    if etype not in _UNLEASH_TYPES:
        return []
    event_id = _text(_need(data, "id"), "id")
    key = _text(data.get("featureName") or dig(data, "data.name") or "", "featureName")
    if not key:
        raise InputError("featureName", "required field is missing")
    ts = _ts(_need(data, "createdAt"), "createdAt")
    env = _text(data.get("environment") or "", "environment")
    service = ctx.get("service") or _service_from_tags(data.get("tags")) or \
        _service_from_tags(dig(data, "data.tags"))
    attrs: dict[str, Any] = {"source": "unleash", "type": etype, "project": _text(data.get("project"), "project"),
                             "environment": env}
    if etype.endswith("-enabled"):
        attrs["to"] = "on"
    elif etype.endswith("-disabled"):
        attrs["to"] = "off"
    summary = f"flag {key}: {etype}" + (f" in {env}" if env else "")
    return [_flag_change(cid=f"unleash-{event_id}", ts=ts, flag_key=key, service=service, namespace=env,
                         summary=summary, actor=_text(data.get("createdBy"), "createdBy"), attrs=attrs)]


ADAPTERS: dict[str, Adapter] = {
    "github": github, "argocd": argocd, "flags": flag, "launchdarkly": launchdarkly, "unleash": unleash,
}
