"""A query worker: ``python -m laketown.graph.worker FOLDER``.

Reads one JSON request per line on stdin, answers on stdout with one JSON header line followed
by ``length`` bytes of serialized results. Opens the store read-only and reopens it when its
generation changes. Run by :class:`~laketown.graph.runner.QueryRunner`, which ends the process
when a query passes its deadline (pyoxigraph cannot cancel a query from outside).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from laketown.graph.store import DATA_DIR, generation, oxigraph

RESULT_FORMATS = {"json": "JSON", "csv": "CSV", "tsv": "TSV", "xml": "XML"}
RDF_FORMATS = {"nt": "N_TRIPLES", "ttl": "TURTLE", "xml": "RDF_XML"}


def _term(ox: Any, kind: str, value: Any) -> Any:
    if kind == "iri":
        return ox.NamedNode(value)
    if kind == "int":
        return ox.Literal(str(int(value)), datatype=ox.NamedNode("http://www.w3.org/2001/XMLSchema#integer"))
    if kind == "float":
        return ox.Literal(str(float(value)), datatype=ox.NamedNode("http://www.w3.org/2001/XMLSchema#double"))
    return ox.Literal(str(value))


def answer(store: Any, request: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
    """Run one request against ``store``: (header, payload)."""
    ox = oxigraph()
    subs = {ox.Variable(name): _term(ox, kind, value) for name, (kind, value) in (request.get("bindings") or {}).items()}
    try:
        result = store.query(request["query"], substitutions=subs or None,
                             use_default_graph_as_union=bool(request.get("union", True)))
    except SyntaxError as exc:
        return {"ok": False, "kind": "syntax", "error": str(exc)}, b""
    except (OSError, ValueError, TypeError) as exc:
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
    data = str(Path(folder) / DATA_DIR)
    store, seen = None, -1
    out = sys.stdout.buffer
    for line in sys.stdin.buffer:
        request = json.loads(line)
        gen = generation(folder)
        if store is None or gen != seen:
            store = ox.Store.read_only(data) if Path(data).exists() else ox.Store()
            seen = gen
        header, payload = answer(store, request)
        header["length"] = len(payload)
        out.write(json.dumps(header).encode() + b"\n" + payload)
        out.flush()


if __name__ == "__main__":
    main(sys.argv[1])
