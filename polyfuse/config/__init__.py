"""Validated configuration (pydantic), YAML in and out."""

from polyfuse.config.schema import (
    Config,
    ConfigError,
    DataConfig,
    InferenceConfig,
    ModelConfig,
    TrainingConfig,
    dump_config,
    load_config,
    parse_config,
)

__all__ = [
    "Config",
    "ConfigError",
    "DataConfig",
    "InferenceConfig",
    "ModelConfig",
    "TrainingConfig",
    "dump_config",
    "load_config",
    "parse_config",
]
