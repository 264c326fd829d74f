"""Check the server's GPU paths against its CPU answers, through the HTTP API (in process).

    DRSAE_NO_DASHBOARD=1 python bench/server_cuda_check.py --model default --out bench/results/server_cuda_check.json

Builds the app twice on the same models folder, once with DRSAE_DEVICE=cuda and once with cpu, and
compares what a client sees: encode (every iteration's code, the probabilities, the reconstructions) for
test digits, and the evaluation's test-set pass (confusion matrix). Black-box on purpose, so it keeps
checking whatever the inference code inside the server becomes.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def answers(device: str, model: str, n_digits: int) -> dict:
    from fastapi.testclient import TestClient

    from model import data
    from server.config import Settings
    from server.main import create_app

    with tempfile.TemporaryDirectory() as var:
        settings = Settings(models_dir=REPO / "models", var_dir=Path(var), device=device, max_jobs=0)
        with TestClient(create_app(settings, dashboard=False)) as client:
            health = client.get("/api/health").json()
            x = data.load_arrays("mnist")["test_x"][:n_digits].reshape(-1, 28, 28) / 255.0
            codes, probs, recons, ms = [], [], [], []
            for img in x:
                t0 = time.perf_counter()
                r = client.post(
                    f"/api/models/{model}/encode",
                    json={"image": img.tolist(), "preprocess": "none", "reconstructions": True},
                )
                ms.append(1000 * (time.perf_counter() - t0))
                r.raise_for_status()
                body = r.json()
                codes.append(body["z"])
                probs.append(body["probabilities"])
                recons.append(body["reconstructions"])
            t0 = time.perf_counter()
            ev = client.get(f"/api/models/{model}/evaluation")
            ev.raise_for_status()
            eval_s = time.perf_counter() - t0
    return {
        "device": health.get("device"),
        "z": np.asarray(codes),
        "p": np.asarray(probs),
        "recon": np.asarray(recons),
        "evaluation": ev.json(),
        "encode_ms_median": float(np.median(ms)),
        "evaluation_seconds": eval_s,
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="default")
    p.add_argument("--digits", type=int, default=50)
    p.add_argument("--out", type=Path)
    args = p.parse_args()
    os.environ["DRSAE_NO_DASHBOARD"] = "1"
    gpu, cpu = answers("cuda", args.model, args.digits), answers("cpu", args.model, args.digits)
    conf_gpu = np.asarray(gpu["evaluation"]["confusion"])
    conf_cpu = np.asarray(cpu["evaluation"]["confusion"])
    scale = max(float(np.abs(cpu["z"]).max()), 1e-12)
    result = {
        "model": args.model,
        "devices": [gpu["device"], cpu["device"]],
        "digits": args.digits,
        "max_abs_diff_z_relative": float(np.abs(gpu["z"] - cpu["z"]).max()) / scale,
        "max_abs_diff_probabilities": float(np.abs(gpu["p"] - cpu["p"]).max()),
        "max_abs_diff_reconstructions": float(np.abs(gpu["recon"] - cpu["recon"]).max()),
        "same_predictions": bool((gpu["p"][:, -1].argmax(-1) == cpu["p"][:, -1].argmax(-1)).all()),
        "confusion_cells_differing": int((conf_gpu != conf_cpu).sum()),
        "test_digits_classified_differently": int(np.abs(conf_gpu - conf_cpu).sum() // 2),
        "encode_ms_median": {"gpu": gpu["encode_ms_median"], "cpu": cpu["encode_ms_median"]},
        "evaluation_seconds": {"gpu": gpu["evaluation_seconds"], "cpu": cpu["evaluation_seconds"]},
    }
    # fp32 on two devices: codes agree to float rounding; a few borderline test digits may flip class
    result["ok"] = (
        str(gpu["device"]).startswith("cuda")
        and result["max_abs_diff_z_relative"] < 1e-4 and result["test_digits_classified_differently"] <= 2
    )
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
