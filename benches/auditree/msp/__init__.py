"""Auditree fetchers and checks for the MSP duties of benches/msp_cycle.rs (see ../run.py)."""
