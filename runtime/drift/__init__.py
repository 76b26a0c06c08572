"""The drift container: drift statistics, reports, alerts and automatic rollback."""
