"""VGG weights shipped with jax_nst (installed as the ``jax_nst.weights`` package)."""
