"""The blur: identified from an image (`estimate`: spot, focus map; `noise`) and simulated on
sharp images (`simulate`)."""
