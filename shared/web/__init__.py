"""What the server-rendered pages share: sessions, sign-in, security headers (dashboard, portal)."""
