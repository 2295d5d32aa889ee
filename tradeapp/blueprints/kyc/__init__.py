"""KYC domain: customer submission and private files, compliance review, provider webhooks."""
