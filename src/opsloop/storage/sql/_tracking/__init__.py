"""The parts of ``SqlTrackingStore``, one module per idea; ``storage.sql.tracking`` composes them."""
