import sys
from pathlib import Path

# tests/toy_domain.py is a known-answer domain used by several test modules.
sys.path.insert(0, str(Path(__file__).parent))
