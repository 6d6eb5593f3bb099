"""The right to be forgotten: :mod:`~churnml.privacy.suppression` (the list every part honours)
and :mod:`~churnml.privacy.forget` (``churnml forget``)."""
