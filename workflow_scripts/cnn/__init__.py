"""The CNN stage: explanation methods (one module each, one registry) and the run layer that
turns one (method, image) into an artifact."""
