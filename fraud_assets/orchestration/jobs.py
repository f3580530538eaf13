"""Jobs are asset selections (STYLE §2): the whole world, and one per segment."""

from dagster import AssetSelection, define_asset_job

from fraud_assets.engine import catalogue


def engine_jobs():
    jobs = [define_asset_job("world_job", selection=AssetSelection.groups(*[s.group for s in catalogue.segments()]),
                             description="Every engine state of a world, in catalogue order.")]
    for seg in catalogue.segments():
        jobs.append(define_asset_job(f"engine_{seg.segment}_job", selection=AssetSelection.groups(seg.group),
                                     description=f"Segment {seg.segment} of a world."))
    return jobs
