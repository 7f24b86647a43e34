"""Drafting: the offline drafter (``offline``), its sentences as data (``templates``) and the word fitting that
puts a scenario's facts into them (``wording``). The model-backed chain joins this package with the redesign."""
