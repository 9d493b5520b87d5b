"""Authorization: the Casbin facade, the ACL filter compiler and policy administration."""
