"""Whole jobs the faces call: deblur (files, layers, streams), the cluster, evaluation, readouts, bench, export."""
