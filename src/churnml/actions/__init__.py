"""Win-back actions: catalogue, control group, uplift, next-best-action policy, lift."""
