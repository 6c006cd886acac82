"""Customer 360 identity resolution: splink 5 on DuckDB, stable customer ids, incremental and
real-time resolution, golden records with lineage, manual overrides; plus a generic linker
for any user's tables (:mod:`.link`)."""

from laketown.apps.customer360.identity.golden import Survivorship
from laketown.apps.customer360.identity.resolver import IdentityError, Resolver

__all__ = ["IdentityError", "Resolver", "Survivorship"]
