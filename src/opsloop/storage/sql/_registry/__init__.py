"""The parts of ``SqlRegistryStore``, one module per idea; ``storage.sql.registry`` composes them."""
