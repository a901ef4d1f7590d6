"""GitHub to the store: the REST client, the export and update of issues and PRs, who closed what."""
