"""The Starlette application: pages, JSON API, health."""
