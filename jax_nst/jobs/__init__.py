"""Batch jobs: many images, one style, an output folder with a manifest; folders, TFDS splits, several hosts."""
