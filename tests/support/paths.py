"""Where the project's parts live, for tests and tools."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
FUNCTIONS = ROOT / "functions"
STATE_MACHINES = ROOT / "statemachines"
BATCH_SCRIPT_DIR = ROOT / "batch-script"
BATCH_SCRIPT = BATCH_SCRIPT_DIR / "batch-notify-step-function.sh"
TEST_INPUTS = ROOT / "test-inputs"
TEST_COMMANDS = ROOT / "tests" / "support" / "commands"
