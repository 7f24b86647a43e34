"""The vocabulary every other package shares: settings, errors, the scenario, the draft, input and output files.

Imports nothing else of pmcomm_llm (the first floor of the import order: see ARCHITECTURE.md).
"""
