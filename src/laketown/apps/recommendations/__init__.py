"""Recommendations: Personalize-style datasets, recipes, solutions, filters, a campaigns API
with real-time events, batch recommendations, A/B tests and offline metrics.

Importing this package is cheap; models, pandas and scipy load when a module that needs them
is imported.
"""
