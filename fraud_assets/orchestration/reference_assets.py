"""Reference datasets as unpartitioned assets (group `reference`)."""


from dagster import AssetExecutionContext, AssetsDefinition, MaterializeResult, MetadataValue, asset

from fraud_assets.orchestration.factory import reference_key
from fraud_assets.orchestration.resources import WorldStoreResource
from fraud_assets.reference import catalog


def reference_asset(dataset_id: str) -> AssetsDefinition:
    @asset(
        key=reference_key(dataset_id),
        deps=[reference_key(d) for d in catalog.spec_of(dataset_id).depends],
        group_name="reference",
        description=f"Reference dataset `{dataset_id}` built from installed packages (ARCHITECTURE §9).",
        kinds={"parquet"},
    )
    def _reference(context: AssetExecutionContext, world_store: WorldStoreResource) -> MaterializeResult:
        root = world_store.store().root
        catalog.build(root, dataset_id)
        provenance = catalog.provenance(root, dataset_id)
        return MaterializeResult(metadata={
            "version": provenance.get("version"),
            "rows": provenance.get("row_count"),
            "files": MetadataValue.json(provenance.get("files")),
            "sources": MetadataValue.json(provenance.get("sources")),
        })

    return _reference


def reference_assets() -> list[AssetsDefinition]:
    return [reference_asset(d) for d in catalog.DATASET_IDS]
