"""Customer 360: sources -> raw -> clean, identity resolution (``identity/``), a knowledge graph
with SPARQL, RFM/CLV, segments, personas, churn propensity, profiles and next-best actions."""
