"""The collections console: server-rendered pages over the services' own APIs."""
