"""First-party task plug-ins. Each sub-package registers through the `nlp_apps.tasks` entry points."""
