"""The prompts as data (``prompts/``): loaded, validated, rendered into messages and versioned by content hash."""
