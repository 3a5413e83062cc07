"""Platform-level endpoints: health, readiness and who-am-I."""
