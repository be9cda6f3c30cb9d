"""One wire-protocol translation per vendor: request -> `Exchange`, outcome -> reply or error body."""
