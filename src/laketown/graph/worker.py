"""A query worker: ``python -m laketown.graph.worker FOLDER``.

Reads one JSON request per line on stdin, answers on stdout with one JSON header line followed
by ``length`` bytes of serialized results. Opens the store read-only and reopens it when its
version changes. Run by :class:`~laketown.graph.runner.QueryRunner`, which ends the process
when a query passes its deadline (pyoxigraph cannot cancel a query from outside).
"""

from __future__ import annotations

import json
import sys
from typing import Any

from laketown.graph.store import data_dir, oxigraph, version

RESULT_FORMATS = {"json": "JSON", "csv": "CSV", "tsv": "TSV", "xml": "XML"}
RDF_FORMATS = {"nt": "N_TRIPLES", "ttl": "TURTLE", "xml": "RDF_XML"}


def answer(store: Any, request: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
    """Run one request against ``store``: (header, payload)."""
    ox = oxigraph()
    try:
        result = store.query(request["query"], use_default_graph_as_union=bool(request.get("union", True)))
    except SyntaxError as exc:
        return {"ok": False, "kind": "syntax", "error": str(exc)}, b""
    except Exception as exc:  # noqa: BLE001 - any evaluation error is the caller's answer, not a crash
        return {"ok": False, "kind": "store", "error": str(exc)}, b""
    if isinstance(result, ox.QueryTriples):
        kind = "graph"
        payload = result.serialize(format=getattr(ox.RdfFormat, RDF_FORMATS[request.get("rdf_format", "nt")]))
    else:
        kind = "boolean" if isinstance(result, ox.QueryBoolean) else "solutions"
        payload = result.serialize(format=getattr(ox.QueryResultsFormat, RESULT_FORMATS[request.get("format", "json")]))
    return {"ok": True, "kind": kind}, payload or b""


def main(folder: str) -> None:
    ox = oxigraph()
    store, seen = None, -1
    out = sys.stdout.buffer
    for line in sys.stdin.buffer:
        request = json.loads(line)
        current = version(folder)
        if store is None or current != seen:
            data = data_dir(folder)
            store = ox.Store.read_only(str(data)) if data.exists() else ox.Store()
            seen = current
        header, payload = answer(store, request)
        header["length"] = len(payload)
        out.write(json.dumps(header).encode() + b"\n" + payload)
        out.flush()


if __name__ == "__main__":
    main(sys.argv[1])
