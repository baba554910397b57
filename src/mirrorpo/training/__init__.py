"""Population-batched preference-optimisation training of control policies."""
