"""``featurestream serve``: model feature vectors over HTTP, straight from the online store.

::

    GET /healthz                       {"status": "ok"} (503 when Redis does not answer)
    GET /models                        every contract: name, version, keys, ordered inputs
    GET /models/<model>/features?card_id=…&merchant_id=…[&amount_usd_cents=…][&version=N]
                                       common.models.serving.model_vector as JSON
                                       (400: a key missing or a parameter bad; 404: no model)

The standard library's ``ThreadingHTTPServer`` (a thread per connection, HTTP/1.1 keep-alive):
one Redis round trip per request dominates the work, and no dependency beats that (decision 43).
"""

from __future__ import annotations

import json
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from common.models import catalog
from common.models.contract import ContractError, ModelContract
from common.models.serving import READ_TIME, BadRequest, model_vector, parse_time
from common.online_store import OnlineStore

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 18090


def contract_json(contract: ModelContract) -> dict[str, Any]:
    """What ``GET /models`` says about one contract."""
    return {
        "model": contract.name,
        "version": contract.version,
        "description": contract.description,
        "trigger": contract.trigger.topic,
        "entity_keys": contract.entity_keys,
        "views": [v.qualified_name for v in contract.views],
        "inputs": [{"name": i.name, "ref": i.ref, "type": i.type} for i in contract.inputs],
        "request_topic": contract.request_topic,
        "result_topic": contract.result_topic,
    }


class FeatureServer(ThreadingHTTPServer):
    """The HTTP server; holds the store."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], store: OnlineStore) -> None:
        super().__init__(address, _Handler)
        self.store = store


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: a client reuses its connection
    # Headers and body leave in separate writes: with Nagle's algorithm the body waits for the
    # client's delayed ACK of the headers (~40 ms per response).
    disable_nagle_algorithm = True
    server: FeatureServer

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: a line per request would cost more than the request."""

    def _send(self, status: HTTPStatus, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        parts = [p for p in url.path.split("/") if p]
        try:
            if parts == ["healthz"]:
                self._healthz()
            elif parts == ["models"]:
                self._send(HTTPStatus.OK, [contract_json(c) for c in catalog.contracts()])
            elif len(parts) == 3 and parts[0] == "models" and parts[2] == "features":
                self._features(parts[1], parse_qs(url.query, keep_blank_values=True))
            else:
                self._send(HTTPStatus.NOT_FOUND, {"error": f"no such resource {url.path}"})
        except BadRequest as exc:
            self._send(HTTPStatus.BAD_REQUEST, {"error": str(exc)})

    def _healthz(self) -> None:
        try:
            self.server.store.ping()
        except Exception as exc:  # any Redis failure means not ready
            self._send(
                HTTPStatus.SERVICE_UNAVAILABLE, {"status": "redis unavailable", "error": str(exc)}
            )
            return
        self._send(HTTPStatus.OK, {"status": "ok"})

    def _features(self, model: str, query: dict[str, list[str]]) -> None:
        params = {name: values[-1] for name, values in query.items()}
        version_text = params.pop("version", None)
        try:
            version = int(version_text) if version_text is not None else None
        except ValueError as exc:
            raise BadRequest(f"version {version_text!r} is not a number") from exc
        try:
            contract = catalog.contract(model, version)
        except ContractError as exc:
            self._send(HTTPStatus.NOT_FOUND, {"error": str(exc)})
            return
        keys = {k: params.pop(k) for k in contract.entity_keys if k in params}
        at = params.pop("at", READ_TIME)
        as_of = params.pop("as_of", None)
        as_of_ms = None if as_of is None else parse_time(as_of)
        self._send(
            HTTPStatus.OK,
            model_vector(self.server.store, contract, keys, params, as_of_ms=as_of_ms, at=at),
        )


def make_server(
    store: OnlineStore, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT
) -> FeatureServer:
    """A server bound to ``host:port`` (port 0: any free port); call ``serve_forever``."""
    return FeatureServer((host, port), store)
