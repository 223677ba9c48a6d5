"""Overdue detector: decides which card accounts are overdue, by how much and for how long."""
