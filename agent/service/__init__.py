"""The HTTP service: JSON API, approval inbox pages, webhooks (ASGI, FastAPI)."""
