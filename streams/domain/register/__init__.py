"""The register of children under 12 months and unborn children: records, index, codec."""
