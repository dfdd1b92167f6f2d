"""sitegen: a static-site archive generator for curated reports."""

from __future__ import annotations

__version__ = "0.1.0"
