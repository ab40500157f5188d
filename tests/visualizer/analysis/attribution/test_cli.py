import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[4]


def cli(*args):
    proc = subprocess.run([sys.executable, str(ROOT / "main.py"), *args], capture_output=True,
                          text=True, cwd=ROOT, timeout=240)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_cli_round_trip(demo_ws):
    out = cli("attribute", str(demo_ws.root), "--model", "cnn", "--dataset", "digits",
              "--method", "integrated_gradients", "--limit", "16", "--n-steps", "16",
              "--device", "cpu", "--json")
    run_id = out["id"]
    assert out["run"]["kind"] == "attribution" and out["run"]["status"] == "complete"
    info = cli("info", str(demo_ws.root), "--json")
    run = next(r for r in info["runs"] if r["id"] == run_id)
    for key in ("deletion_auc", "insertion_auc", "infidelity", "sensitivity", "mean_delta"):
        assert isinstance(run["metrics"][key], float)
    assert run["params"]["n_steps"] == 16 and run["params"]["limit"] == 16


def test_cli_errors_are_messages(demo_ws):
    proc = subprocess.run([sys.executable, str(ROOT / "main.py"), "attribute", str(demo_ws.root),
                           "--model", "cnn", "--dataset", "digits", "--method", "nope"],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 2 and "no attribution method named 'nope'" in proc.stderr
