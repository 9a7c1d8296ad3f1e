import os
import sys

# Test-support modules (NEST harness, scenarios) live beside the tests.
sys.path.insert(0, os.path.dirname(__file__))
os.environ.setdefault("PYNEST_QUIET", "1")
