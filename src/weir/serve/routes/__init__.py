"""The server's routes, a router each: predictions, admin, health and metrics."""

from weir.serve.routes.admin import admin_router
from weir.serve.routes.health import health_router
from weir.serve.routes.predict import predict_router

__all__ = ["admin_router", "health_router", "predict_router"]
