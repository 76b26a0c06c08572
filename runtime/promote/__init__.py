"""`mlplat-promote`: quality gates, the fleet-wide progressive rollout, approvals and the promotion history."""
