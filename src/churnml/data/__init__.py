"""The data contract: what churnml accepts, how it is checked and read."""

from churnml.data.contract import (
    EVENT_TYPES,
    InputTables,
    validate_campaigns,
    validate_customers,
    validate_events,
    validate_tables,
    validate_transactions,
)
from churnml.data.io import atomic_path, read_table, write_table
from churnml.data.load import folder_tables, load_tables
from churnml.data.summary import describe_tables

__all__ = [
    "folder_tables",
    "EVENT_TYPES",
    "InputTables",
    "atomic_path",
    "describe_tables",
    "load_tables",
    "read_table",
    "write_table",
    "validate_campaigns",
    "validate_customers",
    "validate_events",
    "validate_tables",
    "validate_transactions",
]
