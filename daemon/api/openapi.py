"""The OpenAPI 3.1 document of the HTTP API, served at ``GET /api/v1/openapi.json``."""

from __future__ import annotations

from typing import Any

__all__ = ["openapi_document"]

_ERR = {"description": "bad input: the field at fault is named",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
_401 = {"description": "a token is required (Authorization: Bearer TOKEN)"}
_403 = {"description": "this token may not do this (writes need a write token)"}
_404 = {"description": "no such incident"}


def _json(ref: str, description: str = "OK") -> dict[str, Any]:
    schema = {"$ref": f"#/components/schemas/{ref}"}
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _q(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description, "schema": schema}


_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}, "description": "incident id"}
_TS = {"oneOf": [{"type": "number"}, {"type": "string", "format": "date-time"}]}
_CAUSE = {
    "type": "object", "required": ["type"],
    "properties": {"type": {"enum": ["change", "dependency", "traffic", "none"]},
                   "id": {"type": "string", "description": "change id (type change)"},
                   "target": {"type": "string", "description": "dependency (type dependency)"},
                   "service": {"type": "string", "description": "service (type traffic)"}},
}


def openapi_document(base_url: str = "") -> dict[str, Any]:
    """The document; ``servers`` points at ``base_url`` when one is configured."""
    read: list[dict[str, list[str]]] = [{"token": []}]
    write: list[dict[str, list[str]]] = [{"token": []}]
    paths: dict[str, Any] = {
        "/healthz": {"get": {"summary": "liveness", "security": [], "responses": {"200": {"description": "alive"}}}},
        "/readyz": {"get": {"summary": "readiness (503 names a stale source or an unreachable store)",
                            "security": [], "responses": {"200": {"description": "ready"},
                                                          "503": {"description": "not ready"}}}},
        "/metrics": {"get": {"summary": "Prometheus metrics of whatchanged itself", "security": [],
                             "responses": {"200": {"description": "text exposition format"}}}},
        "/api/v1/incidents": {"get": {
            "summary": "incidents, open first, newest first", "security": read,
            "parameters": [_q("state", "open or resolved", {"enum": ["open", "resolved"]}),
                           _q("service", "only incidents affecting this service", {"type": "string"}),
                           _q("since", "onset at or after (Unix seconds or RFC 3339)", _TS),
                           _q("limit", "page size (1..500, default 50)", {"type": "integer"}),
                           _q("offset", "skip this many (default 0)", {"type": "integer"})],
            "responses": {"200": _json("IncidentList"), "400": _ERR, "401": _401}}},
        "/api/v1/incidents/{id}": {"get": {
            "summary": "one incident: anomalies, candidates with hypothesis states, dead ends, recommendation, "
                       "timeline, series around the onset, changes, health, notifications, feedback",
            "security": read, "parameters": [_ID],
            "responses": {"200": _json("IncidentView"), "401": _401, "404": _404}}},
        "/api/v1/incidents/{id}/feedback": {"post": {
            "summary": "record what the cause was (feeds the ranking's learning)", "security": write,
            "parameters": [_ID],
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "type": "object", "required": ["cause"],
                "properties": {"cause": _CAUSE, "note": {"type": "string"}, "actor": {"type": "string"}}}}}},
            "responses": {"201": {"description": "recorded"}, "400": _ERR, "401": _401, "403": _403, "404": _404}}},
        "/api/v1/incidents/{id}/hypotheses": {
            "get": {"summary": "the hypothesis log and the investigation in progress", "security": read,
                    "parameters": [_ID], "responses": {"200": {"description": "OK"}, "404": _404}},
            "post": {"summary": "mark a candidate investigating, confirmed or refuted (refuted needs a note); "
                                "the receivers get an update; confirmed feeds the learning",
                     "security": write, "parameters": [_ID],
                     "requestBody": {"required": True, "content": {"application/json": {"schema": {
                         "type": "object", "required": ["cause", "state"],
                         "properties": {"cause": _CAUSE,
                                        "state": {"enum": ["investigating", "confirmed", "refuted"]},
                                        "note": {"type": "string"}, "actor": {"type": "string"}}}}}},
                     "responses": {"201": {"description": "recorded and sent"}, "400": _ERR, "401": _401,
                                   "403": _403, "404": _404}}},
        "/api/v1/incidents/{id}/postmortem.md": {"get": {
            "summary": "postmortem draft in Markdown", "security": read, "parameters": [_ID],
            "responses": {"200": {"description": "Markdown", "content": {"text/markdown": {}}}, "404": _404}}},
        "/api/v1/changes": {
            "get": {"summary": "recorded changes, newest first", "security": read,
                    "parameters": [_q("since", "ts at or after", _TS), _q("until", "ts at or before", _TS),
                                   _q("service", "one service", {"type": "string"}),
                                   _q("limit", "1..5000, default 200", {"type": "integer"})],
                    "responses": {"200": {"description": "{\"changes\": [...]}"}, "400": _ERR}},
            "post": {"summary": "one change, a list, or {\"changes\": [...]}; idempotent on id; all or nothing",
                     "security": write,
                     "requestBody": {"required": True, "content": {"application/json": {"schema": {
                         "$ref": "#/components/schemas/Change"}}}},
                     "responses": {"202": {"description": "accepted"}, "400": _ERR, "401": _401, "403": _403}}},
        "/api/v1/cluster": {"get": {
            "summary": "this replica's view of the cluster: leadership, live members, the series it watches",
            "security": read, "responses": {"200": {"description": "cluster status"}}}},
        "/api/v1/webhooks/alertmanager": {"post": {
            "summary": "Alertmanager webhook (payload version 4): firing alerts become anomalies, resolved ones "
                       "recover them; authenticated by the webhooks section's bearer tokens or HMAC secrets",
            "security": [], "requestBody": {"required": True, "content": {"application/json": {}}},
            "responses": {"202": {"description": "accepted"}, "400": _ERR, "401": _401, "403": _403,
                          "413": {"description": "body too large"}}}},
        "/api/v1/webhooks/{adapter}": {"post": {
            "summary": "change webhooks: github (deployment_status), argocd, flags (generic), launchdarkly, "
                       "unleash; mapped to change events, idempotent on the sender's event id",
            "security": [],
            "parameters": [{"name": "adapter", "in": "path", "required": True,
                            "schema": {"enum": ["github", "argocd", "flags", "launchdarkly", "unleash"]}}],
            "requestBody": {"required": True, "content": {"application/json": {}}},
            "responses": {"202": {"description": "accepted"}, "400": _ERR, "401": _401, "403": _403,
                          "404": {"description": "unknown adapter"}, "413": {"description": "body too large"}}}},
        "/api/v1/health": {"get": {
            "summary": "dependency health transitions, newest first", "security": read,
            "parameters": [_q("since", "ts at or after", _TS), _q("until", "ts at or before", _TS),
                           _q("limit", "1..5000, default 500", {"type": "integer"})],
            "responses": {"200": {"description": "{\"health\": [...]}"}, "400": _ERR}}},
        "/api/v1/silences": {
            "get": {"summary": "silences (active=true: in force now)", "security": read,
                    "parameters": [_q("active", "true or false", {"enum": ["true", "false"]})],
                    "responses": {"200": {"description": "{\"silences\": [...]}"}}},
            "post": {"summary": "silence pages for a service (or * for all) until ends_at", "security": write,
                     "requestBody": {"required": True, "content": {"application/json": {"schema": {
                         "type": "object", "required": ["service", "ends_at", "reason"],
                         "properties": {"service": {"type": "string"}, "starts_at": _TS, "ends_at": _TS,
                                        "reason": {"type": "string"}, "actor": {"type": "string"}}}}}},
                     "responses": {"201": {"description": "created"}, "400": _ERR, "401": _401, "403": _403}}},
        "/api/v1/silences/{sid}": {"delete": {
            "summary": "end a silence now", "security": write,
            "parameters": [{"name": "sid", "in": "path", "required": True, "schema": {"type": "integer"}}],
            "responses": {"200": {"description": "expired"}, "404": {"description": "no such silence"}}}},
        "/api/v1/openapi.json": {"get": {"summary": "this document", "security": read,
                                         "responses": {"200": {"description": "OpenAPI 3.1"}}}},
    }
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": "whatchanged", "version": "1",
                 "description": "Incidents, ranked causes, hypotheses, changes, health and silences. With no "
                                "tokens configured the API is open; otherwise reads need a read or write token "
                                "and writes a write token."},
        "paths": paths,
        "components": {
            "securitySchemes": {"token": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {"type": "object", "properties": {"error": {"type": "string"}, "field": {"type": "string"},
                                                          "fields": {"type": "array", "items": {"type": "string"}},
                                                          "message": {"type": "string"}}},
                "Cause": _CAUSE,
                "Change": {"type": "object", "required": ["id", "ts", "kind", "service"], "properties": {
                    "id": {"type": "string"}, "ts": _TS,
                    "kind": {"enum": ["deploy", "rollback", "config", "feature_flag", "scale", "infra"]},
                    "service": {"type": "string"}, "namespace": {"type": "string"}, "summary": {"type": "string"},
                    "actor": {"type": "string"}, "attributes": {"type": "object"},
                    "status": {"enum": ["progressing", "complete", "failed"],
                               "description": "optional: the rollout's outcome, known after the change"},
                    "completed_at": {**_TS, "description": "optional: when it completed (or failed)"}}},
                "Candidate": {"type": "object", "properties": {
                    "rank": {"type": "integer"}, "cause": _CAUSE, "score": {"type": "number"},
                    "title": {"type": "string"}, "hypothesis": {"type": "string"}, "test": {"type": "string"},
                    "evidence": {"type": "array", "items": {"type": "string"}},
                    "hypothesis_state": {"enum": ["investigating", "confirmed", "refuted", None]}}},
                "Incident": {"type": "object", "properties": {
                    "id": {"type": "string"}, "state": {"enum": ["open", "resolved"]}, "onset": {"type": "number"},
                    "opened_at": {"type": "number"}, "paged_at": {"type": ["number", "null"]},
                    "resolved_at": {"type": ["number", "null"]},
                    "services": {"type": "array", "items": {"type": "string"}},
                    "anomalies": {"type": "array", "items": {"type": "object"}},
                    "candidates": {"type": "array", "items": {"$ref": "#/components/schemas/Candidate"}},
                    "dead_ends": {"type": "array", "items": {"type": "object"}},
                    "recommendation": {"type": ["object", "null"]}}},
                "IncidentList": {"type": "object", "properties": {
                    "incidents": {"type": "array", "items": {"$ref": "#/components/schemas/Incident"}}}},
                "IncidentView": {"allOf": [{"$ref": "#/components/schemas/Incident"}, {"type": "object", "properties": {
                    "timeline": {"type": "array", "items": {"type": "object", "properties": {
                        "ts": {"type": "number"}, "kind": {"type": "string"}, "text": {"type": "string"}}}},
                    "series": {"type": "array", "items": {"type": "object", "properties": {
                        "series": {"type": "string"}, "service": {"type": "string"}, "signal": {"type": "string"},
                        "points": {"type": "array", "items": {"type": "array", "items": {"type": "number"}}}}}},
                    "changes": {"type": "array", "items": {"$ref": "#/components/schemas/Change"}},
                    "health": {"type": "array", "items": {"type": "object"}},
                    "hypotheses": {"type": "array", "items": {"type": "object"}},
                    "investigation": {"type": ["object", "null"]},
                    "feedback": {"type": "array", "items": {"type": "object"}},
                    "silences": {"type": "array", "items": {"type": "object"}},
                    "notifications": {"type": "array", "items": {"type": "object"}}}}]},
            },
        },
    }
    if base_url:
        doc["servers"] = [{"url": base_url}]
    return doc
