"""Talking to an OpenAI-compatible endpoint: the request body, the transport, reading the reply, retries, rate limits."""
