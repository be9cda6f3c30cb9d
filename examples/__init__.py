"""Sample agents and tools that run on the mesh."""
