"""The conformance kit: the property suite every backend must pass, shipped in the package."""
