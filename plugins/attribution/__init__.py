"""Built-in attribution methods: one generic adapter over captum.attr, plus controls."""
