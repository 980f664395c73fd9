"""jax_nst: neural style transfer (Gatys, Ecker & Bethge) as a functional JAX library."""
