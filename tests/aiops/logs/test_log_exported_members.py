"""The public names of opsloop.aiops.logs; changing them is a deliberate diff."""

import opsloop.aiops.logs as logs


def test_exported_members() -> None:
    assert sorted(logs.__all__) == sorted(
        [
            "WILDCARD",
            "HeaderParser",
            "InMemoryTemplateStore",
            "IngestedLine",
            "LogAnomalyConfig",
            "LogAnomalyDetector",
            "LogFormat",
            "LogIngestor",
            "LogMiner",
            "LogRecord",
            "Masker",
            "Match",
            "MinerConfig",
            "MinerStats",
            "SeasonalBaseline",
            "Template",
            "TemplateStore",
            "TemplateVersion",
            "is_error_level",
            "load_snapshot",
            "save_snapshot",
        ]
    )
    for name in logs.__all__:
        assert hasattr(logs, name)
