"""Helpers the services share, not the runtime: a SQLite file used from a worker thread, the private data
folder, a service's background tasks, and reading a model's structured reply."""
