"""Tests of genet.reports: reading every report, accuracy, output comparison and the device comparison table."""
