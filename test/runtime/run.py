#!/usr/bin/python3
"""Runs one runtime test (`module.Class.test`) and maps unittest's outcome to ctest's:
0 passed, 1 failed, 77 skipped (no root, no image), so a skip never reads as a pass."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
suite = unittest.defaultTestLoader.loadTestsFromNames(sys.argv[1:])
result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)
if not result.wasSuccessful():
    sys.exit(1)
if result.testsRun and len(result.skipped) == result.testsRun:
    sys.exit(77)
sys.exit(0)
