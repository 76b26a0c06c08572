"""The runtime containers (serving, drift) and what they share; no pulumi, no infrastructure imports."""
