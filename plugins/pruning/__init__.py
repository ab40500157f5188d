"""Built-in pruning methods: magnitude, layer-wise magnitude, LAMP, random, SNIP, Taylor."""
