"""fraud_assets: a closed-world synthetic fraud platform orchestrated by Dagster."""

__version__ = "0.1.0"
