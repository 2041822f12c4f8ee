"""Fetch each client's vendor answers.

The generated files stand for what Graph, NinjaOne and ARM answer, so fetching is copying a
file's text into the locker; Auditree then stores it as normalised JSON (keys sorted, indented)
in its git locker. A fetcher does nothing while the evidence is younger than its TTL.
"""

from compliance.evidence import raw_evidence
from compliance.fetch import ComplianceFetcher

from msp.evidences import clients, generated_dir


class VendorExportsFetcher(ComplianceFetcher):
    """One fetch per vendor export, over every client."""

    def _copy(self, name):
        for client in clients():
            with raw_evidence(self.locker, f"{client}/{name}") as evidence:
                if evidence:
                    path = generated_dir() / "clients" / client / name
                    evidence.set_content(path.read_text())

    def fetch_users(self):
        """Graph userRegistrationDetails."""
        self._copy("users.json")

    def fetch_intune_devices(self):
        """Graph managedDevices (Intune)."""
        self._copy("managedDevices.json")

    def fetch_ninja_devices(self):
        """NinjaOne /v2/devices."""
        self._copy("ninja-devices.json")

    def fetch_patches(self):
        """NinjaOne /v2/queries/os-patches."""
        self._copy("os-patches.json")

    def fetch_log_tables(self):
        """The Log Analytics workspace and its tables."""
        self._copy("la-tables.json")
