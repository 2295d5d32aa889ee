"""Users domain: customer auth pages, profile, staff user management, auth API."""
