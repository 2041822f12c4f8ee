"""The six duties of msp_cycle's generated MSP config, as Auditree checks.

Each check judges the newest evidence of every client and adds, per client (the failure's
section), the subjects that fail as failures and those it cannot judge as warnings, the way
dutywatch gives those subjects the states due_soon/lapsed and no_evidence. A subject that is
in an export twice takes its worst outcome, as in dutywatch. Evidence older than its TTL makes
the locker refuse it, so the check errors (dutywatch: stale).

Conditions read `now` as the time of the check; dutywatch reads the instant the snapshot
speaks for (the file's modification time), which is the same up to the minutes between
generating and checking.
"""

from datetime import datetime, timedelta, timezone

from compliance.check import ComplianceCheck
from compliance.evidence import evidences

from msp.evidences import clients

REQUIRED_TABLES = ["SigninLogs", "AuditLogs", "SecurityEvent", "OfficeActivity", "AzureActivity"]


def timestamp(text):
    """An RFC 3339 instant as Graph writes it (nanoseconds are cut to microseconds)."""
    if "." in text:
        head, frac = text.rstrip("Z").split(".", 1)
        text = f"{head}.{frac[:6]}+00:00"
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def epoch(seconds):
    """NinjaOne's epoch seconds."""
    return datetime.fromtimestamp(seconds, timezone.utc)


class _DutyCheck(ComplianceCheck):
    """Judges one export of every client; subclasses say how (`judge`)."""

    export = None
    report = None

    def judge(self, content, now):
        """(failing subjects, subjects that cannot be judged) of one client's export."""
        raise NotImplementedError

    def _run(self):
        now = datetime.now(timezone.utc)
        for client in clients():
            with evidences(self, f"raw/{client}/{self.export}") as evidence:
                failing, unknown = self.judge(evidence.content_as_json, now)
            if failing:
                self.add_failures(client, sorted(failing))
            if unknown:
                self.add_warnings(client, sorted(unknown))

    def get_reports(self):
        """One report per duty, listing the failing subjects by client."""
        return [f"msp/{self.report}.md"]


def per_subject(records, subject, outcome):
    """Failing and unknown subjects; a subject's worst outcome wins (fail > unknown > pass)."""
    failing, unknown = set(), set()
    for record in records:
        key = subject(record)
        result = outcome(record)
        if result == "fail":
            failing.add(key)
        elif result == "unknown":
            unknown.add(key)
    return failing, unknown - failing


class MfaRegisteredCheck(_DutyCheck):
    """mfa-registered: every member has MFA registered (guests are not judged)."""

    export = "users.json"
    report = "mfa-registered"

    @property
    def title(self):
        return "Every member has MFA registered"

    def judge(self, content, now):
        members = [u for u in content["value"] if u.get("userType") == "member"]

        def outcome(user):
            registered = user.get("isMfaRegistered")
            if registered is None:
                return "unknown"
            return "pass" if registered is True else "fail"

        return per_subject(members, lambda u: u["userPrincipalName"], outcome)

    def test_mfa_registered(self):
        """Check every member's isMfaRegistered."""
        self._run()


class DevicesCompliantCheck(_DutyCheck):
    """devices-compliant: compliant, and a device not synced for 7 days is not judged."""

    export = "managedDevices.json"
    report = "devices-compliant"

    @property
    def title(self):
        return "Every Intune device is compliant and has synced this week"

    def judge(self, content, now):
        week_ago = now - timedelta(days=7)

        def outcome(device):
            if timestamp(device["lastSyncDateTime"]) < week_ago:
                return "unknown"
            return "pass" if device["complianceState"] == "compliant" else "fail"

        return per_subject(content["value"], lambda d: d["deviceName"], outcome)

    def test_devices_compliant(self):
        """Check every Intune device's complianceState."""
        self._run()


class RmmReportingCheck(_DutyCheck):
    """rmm-reporting: every NinjaOne device reported in the last 7 days."""

    export = "ninja-devices.json"
    report = "rmm-reporting"

    @property
    def title(self):
        return "Every NinjaOne device reported this week"

    def judge(self, content, now):
        week_ago = now - timedelta(days=7)
        return per_subject(
            content,
            lambda d: d["systemName"],
            lambda d: "pass" if epoch(d["lastContact"]) >= week_ago else "fail",
        )

    def test_rmm_reporting(self):
        """Check every NinjaOne device's lastContact."""
        self._run()


class _PendingPatchCheck(_DutyCheck):
    """No patch of `severity` pending longer than `days` (a patch is device and name)."""

    export = "os-patches.json"
    severity = None
    days = None

    def judge(self, content, now):
        limit = now - timedelta(days=self.days)

        def outcome(patch):
            overdue = (
                patch["severity"] == self.severity
                and patch["status"] == "PENDING"
                and epoch(patch["timestamp"]) < limit
            )
            return "fail" if overdue else "pass"

        return per_subject(
            content["results"], lambda p: f'{p["deviceId"]} / {p["name"]}', outcome
        )


class CriticalPatches14dCheck(_PendingPatchCheck):
    """critical-patches-14d."""

    report = "critical-patches-14d"
    severity = "CRITICAL"
    days = 14

    @property
    def title(self):
        return "No critical patch pending more than 14 days"

    def test_critical_patches(self):
        """Check the pending critical patches' age."""
        self._run()


class ImportantPatches30dCheck(_PendingPatchCheck):
    """important-patches-30d."""

    report = "important-patches-30d"
    severity = "IMPORTANT"
    days = 30

    @property
    def title(self):
        return "No important patch pending more than 30 days"

    def test_important_patches(self):
        """Check the pending important patches' age."""
        self._run()


class LogRetentionCheck(_DutyCheck):
    """log-retention: a year in every table, and the required tables present."""

    export = "la-tables.json"
    report = "log-retention"

    @property
    def title(self):
        return "Audit tables keep a year of logs"

    def judge(self, content, now):
        tables = content["value"]
        failing, unknown = per_subject(
            tables,
            lambda t: t["name"],
            lambda t: "pass"
            if t["properties"]["totalRetentionInDays"] >= 365
            else "fail",
        )
        present = {t["name"].lower() for t in tables}
        failing |= {t for t in REQUIRED_TABLES if t.lower() not in present}
        return failing, unknown

    def test_log_retention(self):
        """Check every table's total retention and the required tables."""
        self._run()
