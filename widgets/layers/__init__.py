"""The Layers tab: the model's graph coloured by statistics, and one layer in detail."""
