"""Built-in projection methods: PCA, UMAP, t-SNE."""
