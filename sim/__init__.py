"""Provider simulators that speak each vendor's real wire protocol (see sim/README.md)."""
