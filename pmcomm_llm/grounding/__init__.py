"""The core promise: what a draft states, claim by claim, checked against what the scenario gives (the guard)."""
