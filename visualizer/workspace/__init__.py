"""The workspace: SQLite catalog + one HDF5 file per run, published atomically."""
