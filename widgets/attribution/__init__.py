"""The Attribution view: gallery with overlays, comparison grid, sample detail, sanity."""
