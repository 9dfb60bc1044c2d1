"""The HTTP and WebSocket server (FastAPI on uvicorn)."""

from hal9.server.app import create_app

__all__ = ["create_app"]
