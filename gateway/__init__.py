"""The REST gateway: the mesh's HTTP surface for n8n and other HTTP callers (`python -m gateway`)."""
