"""The evidence of every generated client, registered with its time to live.

Auditree loads this module before fetchers and checks run. The clients are the directories
under `$MSP_EVIDENCE_DIR/clients` that `msp_cycle --keep` wrote; each client is an evidence
category, so the locker holds `raw/c0000/users.json` and so on.
"""

import os
from pathlib import Path

from compliance.config import get_config
from compliance.evidence import DAY, RawEvidence

# The vendor answer each file stands for, as the generated dutywatch config names its sources.
EXPORTS = {
    "users.json": "Graph userRegistrationDetails (source users)",
    "managedDevices.json": "Graph managedDevices, Intune (source intune)",
    "ninja-devices.json": "NinjaOne /v2/devices (source ninja_devices)",
    "os-patches.json": "NinjaOne /v2/queries/os-patches (source patches)",
    "la-tables.json": "Log Analytics workspace tables (source la_tables)",
}

# dutywatch's sources have `max_age = "2d"`: evidence older than that is stale. Auditree's
# TTL is both that staleness and the age after which a fetcher fetches again.
TTL = 2 * DAY


def generated_dir():
    """The directory `msp_cycle --keep` wrote for one size."""
    return Path(os.environ["MSP_EVIDENCE_DIR"])


def clients():
    """The generated clients' ids, in order (c0000, c0001, ...)."""
    return sorted(p.name for p in (generated_dir() / "clients").iterdir() if p.is_dir())


get_config().add_evidences(
    [
        RawEvidence(name, client, TTL, f"{client}: {description}")
        for client in clients()
        for name, description in EXPORTS.items()
    ]
)
