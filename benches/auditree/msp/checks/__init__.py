"""Checks: the six duties of msp_cycle's generated MSP config."""
