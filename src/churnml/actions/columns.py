"""Column names of the uplift table that the policy reads.

Kept apart from :mod:`churnml.actions.uplift` so that the policy (and the HTTP
service's import of it) does not load scikit-learn, SciPy or LightGBM.
"""

#: Column of :meth:`~churnml.actions.uplift.UpliftModel.predict` output saying where the
#: effect comes from (``learned`` or ``prior``).
SOURCE_COLUMN = "uplift_source"
#: Prefix of the columns of :func:`~churnml.actions.uplift.uplift_table` that hold
#: incremental revenue (``revenue:<action>``).
REVENUE_PREFIX = "revenue:"
