"""Recipes by name, imported lazily: ``create("ease", lam=500)``."""

from __future__ import annotations

import importlib
from typing import Any

from laketown.errors import LaketownError

RECIPES: dict[str, str] = {
    "popularity-count": "laketown.apps.recommendations.recipes.popularity:Popularity",
    "trending-now": "laketown.apps.recommendations.recipes.trending:Trending",
    "similar-items": "laketown.apps.recommendations.recipes.similar_items:SimilarItems",
    "ease": "laketown.apps.recommendations.recipes.ease:Ease",
    "implicit-als": "laketown.apps.recommendations.recipes.factorization:ImplicitALS",
    "implicit-bpr": "laketown.apps.recommendations.recipes.factorization:ImplicitBPR",
    "ease-als-blend": "laketown.apps.recommendations.recipes.blend:EaseAlsBlend",
    "cold-start": "laketown.apps.recommendations.recipes.cold_start:ColdStart",
}
#: candidates of the user-personalization recipe, chosen by offline metrics
USER_PERSONALIZATION = ("ease", "implicit-als", "ease-als-blend")


def recipe_class(name: str) -> type:
    """The class of recipe ``name``; an unknown name lists the known ones."""
    try:
        target = RECIPES[name]
    except KeyError:
        raise LaketownError(
            f"unknown recipe {name!r}; recipes: {', '.join(RECIPES)}, user-personalization"
        ) from None
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def create(name: str, **params: Any):
    """A new, untrained recipe."""
    cls = recipe_class(name)
    try:
        return cls(**params)
    except TypeError as exc:
        raise LaketownError(f"recipe {name!r}: bad parameters {params!r} ({exc})") from None
