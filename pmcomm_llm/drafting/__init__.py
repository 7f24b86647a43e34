"""Drafting a message: the model-backed chain (``chain``), the offline drafter (``offline``, with its sentences as
data in ``templates`` and the word fitting in ``wording``) and revisions (``revising``)."""
