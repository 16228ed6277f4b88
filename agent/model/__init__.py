"""The model wing: the ModelClient seam, the Anthropic client, scripted models, usage, limits."""
