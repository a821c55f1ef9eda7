"""Stand-ins for the world outside the cog, real enough to talk to over loopback."""
