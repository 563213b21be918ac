"""Restoring a plane: device and backends, the tile grid, the tile forward, the network's condition, the plane job."""
