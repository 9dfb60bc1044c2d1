"""Tests of the HTTP server, in process through httpx.ASGITransport."""
