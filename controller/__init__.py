"""P4 Handoff control plane: controller, classifier, migrator agent and lab."""
