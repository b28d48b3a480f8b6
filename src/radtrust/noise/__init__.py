"""Label-noise audit: find likely-wrong labels, plan expert review under a budget, merge corrections."""
