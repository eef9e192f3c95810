"""The coordinator's Monday screens: who needs attention this week (see ``queries``)."""
