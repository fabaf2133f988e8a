"""Frame-level micro AUCs (%) that others published (MNAD.md section 8), to print beside
ours. Keyed by dataset; each row names its source, the task (``"pred"`` or ``"recon"``)
and whether the model had the memory."""

from __future__ import annotations

from typing import Any

PUBLISHED: dict[str, list[dict[str, Any]]] = {
    "ped2": [
        {"source": "MNAD paper, Table 1", "method": "pred", "memory": True, "auc": 97.0},
        {"source": "MNAD paper, Table 1", "method": "recon", "memory": True, "auc": 90.2},
        {"source": "[Re] MNAD (arXiv 2101.12382)", "method": "pred", "memory": True, "auc": 96.3},
        {"source": "[Re] MNAD (arXiv 2101.12382)", "method": "recon", "memory": True, "auc": 88.4},
        {"source": "[Re] MNAD (arXiv 2101.12382)", "method": "recon", "memory": False, "auc": 88.8},
    ],
    "avenue": [
        {"source": "MNAD paper, Table 1", "method": "pred", "memory": True, "auc": 88.5},
        {"source": "MNAD paper, Table 1", "method": "recon", "memory": True, "auc": 82.8},
    ],
    "shanghaitech": [
        {"source": "MNAD paper, Table 1", "method": "pred", "memory": True, "auc": 70.5},
        {"source": "MNAD paper, Table 1", "method": "recon", "memory": True, "auc": 69.8},
    ],
}

#: The Ped2 rows (notebook 06 prints them beside the study).
PUBLISHED_PED2: list[dict[str, Any]] = PUBLISHED["ped2"]
