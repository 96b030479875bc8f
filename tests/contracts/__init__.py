"""Contract suites generated from the registries (a package: its module names repeat others')."""
