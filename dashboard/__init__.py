"""A self-contained, offline dashboard page and offline Swagger UI for the forecast API.

Imports nothing of the project: the page reads only the service's public HTTP API.
"""

from dashboard.docs import install_offline_docs
from dashboard.router import dashboard_router

__all__ = ["dashboard_router", "install_offline_docs"]
