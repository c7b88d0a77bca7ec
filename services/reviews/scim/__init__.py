"""SCIM 2.0 (RFC 7643/7644) provisioning: a protocol adapter over the directory service."""
