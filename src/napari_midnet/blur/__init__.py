"""The blur: identified from an image (`estimate`: spot, focus map) and simulated on sharp images (`simulate`)."""
