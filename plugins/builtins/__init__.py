"""DeepScope built-in plugin: the model zoo, model loaders and dataset sources."""
