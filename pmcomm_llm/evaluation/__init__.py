"""Scoring drafts: the deterministic checks, the rubric, the LLM judge, calibration and the reports."""
