"""The web app: server-rendered pages over the four services' HTTP APIs (docs/web.md)."""
