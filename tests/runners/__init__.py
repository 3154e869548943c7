"""Tests of genet.runners: each backend under the one Runner interface, and choosing one."""
