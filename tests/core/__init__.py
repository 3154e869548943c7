"""Tests of genet.core: safe file output, errors."""
