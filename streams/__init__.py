"""The stream side: the pure domain, the flows that move messages, the root that wires them."""
