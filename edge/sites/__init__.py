"""Site kinds: each a composition of the stages (toll_entrance today; static weighbridge and non-site enforcement next)."""
